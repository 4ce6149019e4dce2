// An HTTP variant of the sample worker's echo job, for the nginx comparison in bench/gateway.ts:
// POST {"message": "..."} -> {"message": "...", "worker": WORKER_ID}. Prints {"msg":"ready","port":N}.
import { createServer } from 'node:http';

const id = process.env.WORKER_ID ?? `h${process.pid}`;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let message = '';
    try {
      message = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: unknown }).message ?? '');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"BAD_REQUEST","message":"not JSON","retryable":false}}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ message, worker: id }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ msg: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
