// What a failed sentinel link is reported as: the peer's own answer, never ioredis's words.
import t from 'tap';
import { describeLinkFailure, firstLine } from '../../src/topology/sentinel-link.js';

t.test('describeLinkFailure', async (t) => {
  const internal = new Error("Stream isn't writeable and enableOfflineQueue options is false");
  const table: [Error | undefined, string | undefined, string][] = [
    [internal, 'HTTP/1.1 400 Bad Request', 'not RESP (answered: "HTTP/1.1 400 Bad Request")'],
    [undefined, 'SSH-2.0-OpenSSH_9.2', 'not RESP (answered: "SSH-2.0-OpenSSH_9.2")'],
    [internal, '-DENIED Redis is running in protected mode', 'answered: -DENIED Redis is running in protected mode'],
    [new Error('WRONGPASS invalid username-password pair'), '-WRONGPASS invalid username-password pair', 'answered: -WRONGPASS invalid username-password pair'],
    [internal, undefined, 'connection closed'],
    [new Error('Connection is closed.'), undefined, 'connection closed'],
    [new Error('connect ECONNREFUSED 127.0.0.1:1'), undefined, 'connect ECONNREFUSED 127.0.0.1:1'],
    [Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), undefined, 'TLS: wrong version number'],
    [new Error('Client network socket disconnected before secure TLS connection was established'), undefined, 'TLS: Client network socket disconnected before secure TLS connection was established'],
    [new Error('Protocol error, got "H" as reply type byte'), undefined, 'not RESP (the answer could not be parsed)'],
    [undefined, undefined, 'connection closed'],
  ];
  for (const [err, answer, want] of table) t.equal(describeLinkFailure(err, answer), want, want);
});

t.test('firstLine: one printable line, bounded', async (t) => {
  t.equal(firstLine(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n')), 'HTTP/1.1 400 Bad Request');
  t.equal(firstLine(Buffer.from([0x16, 0x03, 0x01, 0x41])), '???A');
  t.equal(firstLine('x'.repeat(300), 10), 'xxxxxxxxxx...');
});
