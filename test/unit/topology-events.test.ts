import t from 'tap';
import { parseInstanceDetails, parseSentinelEvent } from '../../src/topology/events.js';

const M = 'mymaster';
const MA = '127.0.0.1 6379';
const masterPayload = `master ${M} ${MA}`;
const slavePayload = `slave 127.0.0.1:6380 127.0.0.1 6380 @ ${M} ${MA}`;

t.test('instance details', async (t) => {
  t.same(parseInstanceDetails(`${masterPayload} #quorum 2/2`), {
    instanceType: 'master',
    instanceName: M,
    addr: '127.0.0.1:6379',
    masterName: M,
    masterAddr: '127.0.0.1:6379',
  });
  t.same(parseInstanceDetails(slavePayload), {
    instanceType: 'slave',
    instanceName: '127.0.0.1:6380',
    addr: '127.0.0.1:6380',
    masterName: M,
    masterAddr: '127.0.0.1:6379',
  });
  t.equal(parseInstanceDetails('slave 127.0.0.1:6380 127.0.0.1 6380'), undefined, 'a replica without @ part');
  t.equal(parseInstanceDetails('5'), undefined);
  t.equal(parseInstanceDetails(''), undefined);
});

t.test('fence signs of this group', async (t) => {
  const cases: Array<[string, string]> = [
    ['+try-failover', masterPayload],
    ['+elected-leader', masterPayload],
    ['+failover-state-select-slave', masterPayload],
    ['+failover-state-send-slaveof-noone', slavePayload],
    ['+failover-state-wait-promotion', slavePayload],
    ['+failover-state-reconf-slaves', masterPayload],
    ['+odown', `${masterPayload} #quorum 2/2`],
  ];
  for (const [ch, msg] of cases) {
    const ev = parseSentinelEvent(ch, msg, M);
    t.equal(ev?.action, 'fence', ch);
    t.equal(ev?.masterName, M, `${ch} master name`);
    t.equal(ev?.masterAddr, '127.0.0.1:6379', `${ch} master addr`);
  }
});

t.test('promotion, switch, abort', async (t) => {
  const p = parseSentinelEvent('+promoted-slave', slavePayload, M);
  t.equal(p?.action, 'promoted');
  t.equal(p?.addr, '127.0.0.1:6380');
  t.equal(p?.masterAddr, '127.0.0.1:6379');

  const s = parseSentinelEvent('+switch-master', `${M} 127.0.0.1 6379 127.0.0.1 6380`, M);
  t.match(s, { action: 'switch', masterName: M, oldMaster: '127.0.0.1:6379', newMaster: '127.0.0.1:6380' });
  t.equal(parseSentinelEvent('+switch-master', `${M} 127.0.0.1 6379`, M), undefined, 'truncated');
  t.equal(parseSentinelEvent('+switch-master', `${M} 127.0.0.1 x 127.0.0.1 6380`, M), undefined, 'bad port');

  for (const ch of ['-failover-abort-not-elected', '-failover-abort-no-good-slave', '-failover-abort-slave-timeout']) {
    t.equal(parseSentinelEvent(ch, masterPayload, M)?.action, 'abort', ch);
  }
  t.equal(parseSentinelEvent('-odown', masterPayload, M)?.action, 'abort', '-odown of the master');
});

t.test('tilt is about the publishing sentinel, for every group', async (t) => {
  t.same(parseSentinelEvent('+tilt', '#tilt mode entered', M), { channel: '+tilt', action: 'tilt' });
  t.same(parseSentinelEvent('-tilt', '#tilt mode exited', 'other'), { channel: '-tilt', action: 'untilt' });
});

t.test('sentinel discovery', async (t) => {
  const ev = parseSentinelEvent('+sentinel', `sentinel 0123abcd 127.0.0.1 26381 @ ${M} ${MA}`, M);
  t.match(ev, { action: 'sentinel', instanceType: 'sentinel', instanceName: '0123abcd', addr: '127.0.0.1:26381' });
});

t.test('other events of this group just refresh', async (t) => {
  const cases: Array<[string, string]> = [
    ['+sdown', masterPayload],
    ['-sdown', masterPayload],
    ['+sdown', slavePayload],
    ['+slave', slavePayload],
    ['+reboot', masterPayload],
    ['+convert-to-slave', slavePayload],
    ['+config-update-from', `sentinel 0123abcd 127.0.0.1 26380 @ ${M} ${MA}`],
    ['+failover-end', masterPayload],
    ['+selected-slave', slavePayload],
    ['+slave-reconf-sent', slavePayload],
    ['+slave-reconf-done', slavePayload],
    ['+fix-slave-config', slavePayload],
    ['+odown', slavePayload], // only a master can be objectively down: not a fence sign
    ['-odown', slavePayload],
  ];
  for (const [ch, msg] of cases) t.equal(parseSentinelEvent(ch, msg, M)?.action, 'refresh', `${ch} ${msg.split(' ')[0]}`);
});

t.test('events without a group, unknown and other groups are ignored', async (t) => {
  t.equal(parseSentinelEvent('+new-epoch', '7', M), undefined);
  t.equal(parseSentinelEvent('+vote-for-leader', '0123abcd 7', M), undefined);
  t.equal(parseSentinelEvent('__sentinel__:hello', '127.0.0.1,26379,abc,1,mymaster,127.0.0.1,6379,1', M), undefined);
  const other = 'othermaster';
  const oPayload = `master ${other} 127.0.0.1 7000`;
  const oSlave = `slave 127.0.0.1:7001 127.0.0.1 7001 @ ${other} 127.0.0.1 7000`;
  for (const [ch, msg] of [
    ['+try-failover', oPayload],
    ['+odown', oPayload],
    ['+promoted-slave', oSlave],
    ['+failover-state-reconf-slaves', oPayload],
    ['-failover-abort-not-elected', oPayload],
    ['+sentinel', `sentinel abc 127.0.0.1 26390 @ ${other} 127.0.0.1 7000`],
    ['+switch-master', `${other} 127.0.0.1 7000 127.0.0.1 7001`],
    ['+sdown', oSlave],
  ] as const) {
    t.equal(parseSentinelEvent(ch, msg, M), undefined, `${ch} of ${other}`);
  }
  t.equal(parseSentinelEvent('+try-failover', 'master mymaster2 127.0.0.1 6379', M), undefined, 'prefix of another name');
});
