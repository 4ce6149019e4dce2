// One Moleculer 0.14 node for bench/gateway.ts, over the NATS transporter:
//   ROLE=echo  serves the `sample.echo` action (the same echo job as Synod's sample worker)
//   ROLE=api   runs moleculer-web 0.10 on PORT (0: a free port), POST /api/sample/echo -> sample.echo,
//              balanced round-robin over the echo nodes.
// Prints one JSON line {"msg":"ready",...} once started.
import { ServiceBroker } from 'moleculer';
import ApiGateway from 'moleculer-web';

const role = process.env.ROLE ?? 'echo';
const broker = new ServiceBroker({
  nodeID: process.env.NODE_ID ?? `${role}-${process.pid}`,
  transporter: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  namespace: process.env.MOLECULER_NAMESPACE ?? 'bench',
  logger: false,
  registry: { strategy: 'RoundRobin', preferLocal: false },
});

if (role === 'echo') {
  broker.createService({
    name: 'sample',
    actions: {
      echo: {
        params: { message: 'string' },
        handler(ctx) {
          return { message: ctx.params.message, worker: broker.nodeID };
        },
      },
    },
  });
} else {
  broker.createService({
    name: 'api',
    mixins: [ApiGateway],
    settings: {
      port: Number(process.env.PORT ?? 0),
      ip: '127.0.0.1',
      logRequest: null,
      logResponse: null,
      log4XXResponses: false,
      routes: [{ path: '/api', aliases: { 'POST sample/echo': 'sample.echo' }, bodyParsers: { json: true }, mappingPolicy: 'restrict' }],
    },
  });
}

await broker.start();
const api = role === 'api' ? broker.getLocalService('api') : undefined;
const port = api?.server?.address()?.port ?? null;
process.stdout.write(`${JSON.stringify({ msg: 'ready', role, node: broker.nodeID, port })}\n`);
const stop = () => broker.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
