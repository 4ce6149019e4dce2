// The floor for a Node gateway on NATS, for bench/gateway.ts: `node:http` and nats.js, nothing else
// (no validation, no metrics, no logs, no health, no retries). POST /v1/services/:service/:endpoint
// goes round-robin to the workers named in WORKER_IDS over plain `nc.request`, and the worker's
// `result` comes back as the body. Prints {"msg":"ready","port":N}.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { connect } from '@nats-io/transport-node';

const nc = await connect({ servers: process.env.NATS_URL, noAsyncTraces: true });
const ns = process.env.SYNOD_NAMESPACE ?? 'synod';
const workers = (process.env.WORKER_IDS ?? '').split(',');
let next = 0;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const [, , , service, endpoint] = req.url.split('/');
    const worker = workers[next++ % workers.length];
    nc.request(`${ns}.svc.${service}.${worker}.${endpoint}`, Buffer.concat(chunks), { timeout: 10_000 }).then(
      (msg) => {
        const reply = JSON.parse(msg.string());
        if (reply.error) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.result));
      },
      (err) => res.writeHead(504, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) })),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'ready', port: server.address().port }));
});
process.on('SIGTERM', () => server.close(() => nc.close().then(() => process.exit(0))));
