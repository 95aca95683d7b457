// The gates alone (src/session/gates.ts), on a fake owner: client authentication by the proxy (what
// is accepted before AUTH, AUTH and HELLO AUTH against the configured users, RESET, rotated
// passwords) and the access gate per listener and user (the subcommand decides; a refused command
// inside MULTI makes EXEC fail). The full table of every command is test/unit/access.test.ts.
import t from 'tap';
import { createHash } from 'node:crypto';
import { Gates, type GateOwner } from '../../../src/session/gates.js';
import { Transaction } from '../../../src/session/transaction.js';
import { commandArgs } from '../../../src/resp/request.js';
import { ErrorReplies } from '../../../src/errors.js';
import type { ClientUser } from '../../../src/config/types.js';
import { command, silentLog, type Cmd } from '../../helpers/fake-owners.js';

const sha = (p: string) => createHash('sha256').update(p).digest('hex');
const USERS: ClientUser[] = [
  { name: 'default', passwordSha256: sha('secret'), access: 'write' },
  { name: 'reader', passwordSha256: sha('r-pass'), access: 'read' },
  { name: 'writer', passwordSha256: sha('w-pass'), access: 'write' },
];

function gatesOn(kind: 'master' | 'read' = 'master', users: ClientUser[] | undefined = USERS) {
  let current: ClientUser[] | undefined = users;
  const owner = {
    kind,
    tx: new Transaction(),
    log: silentLog,
    answers: [] as string[],
    discards: 0,
    authentications: 0,
    answer(reply: Buffer) {
      owner.answers.push(reply.toString('latin1').trimEnd());
    },
    discardOnNode() {
      owner.discards++;
    },
    authenticated() {
      owner.authentications++;
    },
  } satisfies GateOwner & Record<string, unknown>;
  const gates = new Gates(owner, users, () => current);
  /** Passes `words` through the auth gate: the command going on (as words), or the answer. */
  const auth = (...words: string[]): string => {
    const before = owner.answers.length;
    const cmd = command(...words);
    const out = gates.clientAuth(cmd, cmd.spec?.kind ?? 'other');
    if (out === undefined) return owner.answers.slice(before).join(' | ');
    return 'pass: ' + commandArgs(out).map((b) => b.toString()).join(' ');
  };
  /** Passes `words` through the access gate: 'pass' or the answer. */
  const access = (...words: string[]): string => {
    const before = owner.answers.length;
    const cmd: Cmd = command(...words);
    return gates.access(cmd, cmd.spec?.kind ?? 'other', cmd.spec) ? owner.answers.slice(before).join(' | ') : 'pass';
  };
  return { owner, gates, auth, access, rotate: (u: ClientUser[] | undefined) => (current = u) };
}

t.test('client authentication: before AUTH only AUTH, HELLO, PING and QUIT; then everything', async (t) => {
  const s = gatesOn();
  // [command, what happens]
  const rows: [string[], string][] = [
    [['GET', 'k'], ErrorReplies.NOAUTH.toString().trimEnd()],
    [['PING'], '+PONG'],
    [['HELLO', '3'], ErrorReplies.NOAUTH_HELLO.toString().trimEnd()],
    [['AUTH', 'nope'], ErrorReplies.WRONGPASS.toString().trimEnd()],
    [['AUTH', 'reader', 'secret'], ErrorReplies.WRONGPASS.toString().trimEnd()], // another user's password
    [['AUTH', 'a', 'b', 'c'], "-ERR wrong number of arguments for 'auth' command"],
    [['QUIT'], 'pass: QUIT'],
    [['AUTH', 'secret'], '+OK'], // the default user
    [['GET', 'k'], 'pass: GET k'],
    [['PING'], 'pass: PING'], // now the node answers it
  ];
  for (const [words, want] of rows) t.equal(s.auth(...words), want, words.join(' '));
  t.equal(s.owner.authentications, 1, 'the framer is told once (looser request limits)');
});

t.test('client authentication: HELLO AUTH is answered here and reaches the node without its AUTH part', async (t) => {
  const s = gatesOn();
  t.equal(s.auth('HELLO', '3', 'AUTH', 'writer', 'bad'), ErrorReplies.WRONGPASS.toString().trimEnd());
  t.equal(s.auth('HELLO', '3', 'AUTH', 'writer', 'w-pass', 'SETNAME', 'app'), 'pass: HELLO 3 SETNAME app', 'the backend credentials stay the proxy’s');
  t.equal(s.owner.authentications, 1);
  t.equal(s.auth('HELLO', '2'), 'pass: HELLO 2', 'HELLO without AUTH once authenticated');
  const rewritten = (() => {
    const cmd = command('HELLO', '3', 'auth', 'writer', 'w-pass');
    return s.gates.clientAuth(cmd, 'hello')!;
  })();
  t.equal(rewritten.argc, 2, 'argc of the rewritten HELLO');
  t.equal(rewritten.size, rewritten.data.length as number, 'size of the rewritten HELLO');
});

t.test('client authentication: RESET deauthenticates; a rotated password applies to the next AUTH', async (t) => {
  const s = gatesOn();
  t.equal(s.auth('AUTH', 'writer', 'w-pass'), '+OK');
  t.equal(s.auth('RESET'), 'pass: RESET', 'RESET goes to the node');
  t.equal(s.auth('GET', 'k'), ErrorReplies.NOAUTH.toString().trimEnd(), 'and the client must authenticate again');
  s.rotate([{ name: 'writer', passwordSha256: sha('new-pass'), access: 'write' }]);
  t.equal(s.auth('AUTH', 'writer', 'w-pass'), ErrorReplies.WRONGPASS.toString().trimEnd(), 'the old password');
  t.equal(s.auth('AUTH', 'writer', 'new-pass'), '+OK', 'the new one');
  s.rotate(undefined); // a reload turned client authentication off: this session keeps its users
  t.equal(s.auth('AUTH', 'writer', 'w-pass'), '+OK');
});

t.test('access: restricted sessions are the read listener and `read` users; the subcommand decides', async (t) => {
  const nop = (name: string) => `-NOPERM this user has no permissions to run the '${name}' command`;
  const RO = ErrorReplies.READONLY.toString().trimEnd();
  // [listener, user (undefined: none), command, answer]
  const rows: [('master' | 'read'), string | undefined, string[], string][] = [
    ['master', undefined, ['CONFIG', 'SET', 'maxmemory', '1'], 'pass'],
    ['master', 'writer', ['FLUSHALL'], 'pass'],
    ['master', 'reader', ['GET', 'k'], 'pass'],
    ['master', 'reader', ['SET', 'k', 'v'], nop('set')],
    ['master', 'reader', ['CONFIG', 'SET', 'maxmemory', '1'], nop('config|set')],
    ['master', 'reader', ['CONFIG', 'GET', 'maxmemory'], nop('config|get')],
    ['master', 'reader', ['FUNCTION', 'FLUSH'], nop('function|flush')],
    ['master', 'reader', ['FUNCTION', 'LIST'], 'pass'],
    ['master', 'reader', ['XGROUP', 'DESTROY', 's', 'g'], nop('xgroup|destroy')],
    ['master', 'reader', ['SCRIPT', 'FLUSH'], nop('script|flush')],
    ['master', 'reader', ['ACL', 'SETUSER', 'x', 'on', '>p', '+@all'], nop('acl|setuser')],
    ['master', 'reader', ['CLIENT', 'SETNAME', 'n'], 'pass'],
    ['master', 'reader', ['CLIENT', 'NOSUCH'], nop('client|nosuch')],
    ['master', 'reader', ['NOSUCHCMD', 'x'], nop('nosuchcmd')],
    ['master', 'reader', ['SUBSCRIBE', 'c'], 'pass'],
    ['master', 'reader', ['PUBLISH', 'c', 'm'], nop('publish')],
    ['master', 'reader', ['INFO'], 'pass'],
    ['master', 'reader', ['EVAL', 'return 1', '0'], nop('eval')],
    ['read', undefined, ['GET', 'k'], 'pass'],
    ['read', undefined, ['SET', 'k', 'v'], RO],
    ['read', undefined, ['NOSUCHCMD'], RO],
    ['read', undefined, ['CONFIG', 'SET', 'maxmemory', '1'], nop('config|set')],
    ['read', 'writer', ['SET', 'k', 'v'], RO],
    ['read', 'reader', ['SET', 'k', 'v'], nop('set')],
  ];
  for (const [listener, user, words, want] of rows) {
    const s = gatesOn(listener);
    if (user !== undefined) t.equal(s.auth('AUTH', user, user === 'reader' ? 'r-pass' : 'w-pass'), '+OK');
    t.equal(s.access(...words), want, `${listener} listener, ${user ?? 'no user'}: ${words.join(' ')}`);
  }
});

t.test('access: a command refused inside MULTI makes EXEC fail (EXECABORT), the node’s transaction discarded; DISCARD forgets it', async (t) => {
  const s = gatesOn('read');
  s.owner.tx.sent('multi');
  t.equal(s.access('MULTI'), 'pass');
  t.equal(s.access('SET', 'k', 'v'), ErrorReplies.READONLY.toString().trimEnd());
  t.equal(s.access('GET', 'k'), 'pass');
  t.equal(s.access('EXEC'), ErrorReplies.EXEC_ABORTED.toString().trimEnd());
  t.equal(s.owner.discards, 1, 'DISCARD sent for the node’s side');
  t.equal(s.owner.tx.state, 'none');
  // Again, ended by DISCARD: the next transaction's EXEC is not refused.
  s.owner.tx.sent('multi');
  t.equal(s.access('SET', 'k', 'v'), ErrorReplies.READONLY.toString().trimEnd());
  t.equal(s.access('DISCARD'), 'pass');
  s.owner.tx.sent('discard');
  s.owner.tx.sent('multi');
  t.equal(s.access('EXEC'), 'pass', 'a clean transaction');
});
