// A session's own backend link against a scriptable fake RESP server: its opening PING gate (nothing
// the session writes leaves before the node answers), faults real Redis cannot produce on demand.
import t, { type Test } from 'tap';
import { BackendLink, type LinkHandlers } from '../../src/session/backend-link.js';
import { fakeServer, type Fake } from '../helpers/fake-resp.js';

const SET = '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n';

class Owner implements LinkHandlers {
  data = '';
  drains = 0;
  closed: { connected: boolean; err: Error | undefined } | undefined;
  private wake: (() => void)[] = [];
  onData(_link: BackendLink, chunk: Buffer): void {
    this.data += chunk.toString('latin1');
    this.poke();
  }
  onDrain(): void {
    this.drains++;
    this.poke();
  }
  onClose(link: BackendLink, err: Error | undefined): void {
    this.closed = { connected: link.connected, err };
    this.poke();
  }
  private poke(): void {
    for (const w of this.wake.splice(0)) w();
  }
  until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (cond() ? resolve() : this.wake.push(check));
      check();
    });
  }
}

async function setup(t: Test): Promise<{ fake: Fake; link: BackendLink; owner: Owner }> {
  const fake = await fakeServer(false);
  const owner = new Owner();
  const link = new BackendLink({ addr: `127.0.0.1:${fake.port}`, masterEpoch: 1, connectTimeoutMs: 2000 }, owner);
  t.teardown(async () => {
    link.destroy();
    await fake.close();
  });
  return { fake, link, owner };
}

/** Resolves once the fake got the PING, polling (the fake has no event for it). */
async function pinged(fake: Fake): Promise<void> {
  while (!fake.pinged()) await new Promise((r) => setImmediate(r));
}

t.test('nothing the session writes leaves before the PONG; then it all does, in order', async (t) => {
  const { fake, link, owner } = await setup(t);
  link.write(Buffer.from(SET));
  link.write([Buffer.from('*1\r\n$4\r\nINCR\r\n'), Buffer.from('*1\r\n$4\r\nDECR\r\n')]);
  await pinged(fake);
  // Give a wrongly sent command every chance to arrive.
  await new Promise((r) => setTimeout(r, 50));
  t.equal(fake.received(), '', 'only the PING reached the node');
  t.equal(link.connected, false, 'not connected before the answer');
  fake.write('+PONG\r\n');
  await fake.waitReceived('DECR');
  t.equal(fake.received(), SET + '*1\r\n$4\r\nINCR\r\n*1\r\n$4\r\nDECR\r\n');
  t.equal(link.connected, true);
  fake.write('+OK\r\n');
  await owner.until(() => owner.data.length > 0);
  t.equal(owner.data, '+OK\r\n', 'the PONG is not handed to the session');
});

t.test('the PING answer split at every byte, with the first reply in the same chunk', async (t) => {
  for (const answer of ['+PONG\r\n', '-NOAUTH Authentication required.\r\n']) {
    const whole = answer + '+OK\r\n';
    for (let cut = 1; cut < whole.length; cut++) {
      await t.test(`${JSON.stringify(answer)} cut at ${cut}`, async (t) => {
        const { fake, link, owner } = await setup(t);
        link.write(Buffer.from(SET));
        await pinged(fake);
        fake.write(whole.slice(0, cut));
        await new Promise((r) => setTimeout(r, 5));
        if (cut < answer.length) t.equal(link.connected, false, 'no answer yet');
        fake.write(whole.slice(cut));
        await fake.waitReceived(SET);
        await owner.until(() => owner.data === '+OK\r\n');
        t.equal(owner.data, '+OK\r\n');
        t.equal(link.connected, true, 'an error to PING still shows a node that reads');
      });
    }
  }
});

t.test('a node that accepts but never answers gets nothing, and the close says so', async (t) => {
  const { fake, link, owner } = await setup(t);
  link.write(Buffer.from(SET));
  await pinged(fake);
  fake.drop();
  await owner.until(() => owner.closed !== undefined);
  t.equal(owner.closed!.connected, false, 'never connected: the session may send its commands elsewhere');
  t.equal(fake.received(), '');
});

t.test('an answer to PING with no line end in 64 KB closes the link, nothing sent', async (t) => {
  const { fake, link, owner } = await setup(t);
  link.write(Buffer.from(SET));
  await pinged(fake);
  fake.write('+' + 'P'.repeat(70 * 1024));
  await owner.until(() => owner.closed !== undefined);
  t.equal(owner.closed!.connected, false, 'never connected: the commands may go elsewhere');
  t.match(owner.closed!.err?.message, /no line end/);
  t.equal(fake.received(), '');
  t.equal(owner.data, '', 'nothing handed to the session');
});

t.test('backpressure while held: write() says full, drain comes once the PONG lets it out', async (t) => {
  const { fake, link, owner } = await setup(t);
  const big = Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n${'x'.repeat(40000)}\r\n`);
  t.equal(link.write(big), false, 'over the high-water mark');
  await pinged(fake);
  fake.write('+PONG\r\n');
  await owner.until(() => owner.drains > 0);
  await fake.waitReceived('x'.repeat(40000) + '\r\n');
  t.equal(fake.received().length, big.length);
});
