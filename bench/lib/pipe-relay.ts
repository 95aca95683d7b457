// The least a Node.js TCP relay can do: one upstream connection per client and `pipe()` both
// ways, no parsing. The benchmark's latency phase runs it beside the proxy (`node-relay`) to show
// the latency any Node.js data path adds on this machine — the floor under the proxy's.
//
//   node dist/bench/lib/pipe-relay.js <listen port> <upstream port>   (both on 127.0.0.1)
import net from 'node:net';

const [listen, upstream] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listen) || !Number.isInteger(upstream)) {
  console.error('usage: pipe-relay.js <listen port> <upstream port>');
  process.exit(2);
}
net
  .createServer({ noDelay: true }, (client) => {
    const up = net.connect({ port: upstream!, host: '127.0.0.1', noDelay: true });
    client.pipe(up);
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  })
  .listen(listen, '127.0.0.1');
