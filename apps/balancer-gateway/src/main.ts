import cluster from 'node:cluster';
import { runService } from '@synod/service-kit';
import { GATEWAY_ENV, frozenWorkerWarning } from './config.js';
import { startGatewayProcess } from './gateway-process.js';
import { INSTANCE_VAR, PROCESS_VAR, superviseProcesses } from './supervisor.js';

// A process forked by the supervisor (GATEWAY_PROCESSES > 1) is one of its gateway processes.
const supervised = cluster.isWorker;

await runService({
  service: 'balancer-gateway',
  env: GATEWAY_ENV,
  supervised,
  ...(supervised ? { instanceId: () => process.env[INSTANCE_VAR] } : {}),
  async start(ctx) {
    const { config } = ctx;
    if (supervised) return startGatewayProcess(ctx, { process: Number(process.env[PROCESS_VAR]), serveAdmin: false });
    const warning = frozenWorkerWarning(config);
    if (warning) ctx.log.warn({ variables: warning.variables, ...(warning.boundMs === undefined ? {} : { boundMs: warning.boundMs }) }, warning.msg);
    if (config.ADMIN_TOKEN === undefined) ctx.log.info('admin routes closed: ADMIN_TOKEN is not set');
    if (config.HTTP_PORT === undefined && config.ADMIN_TOKEN !== undefined) ctx.log.warn('ADMIN_TOKEN is set but HTTP_PORT is not: the admin routes live on the ops port, which is off');
    const started = config.GATEWAY_PROCESSES > 1 ? await superviseProcesses(ctx) : await startGatewayProcess(ctx, { process: 1, serveAdmin: true });
    return {
      ...started,
      ready: {
        ...started.ready,
        processes: config.GATEWAY_PROCESSES,
        strategy: config.LB_STRATEGY,
        overrides: Object.fromEntries(config.LB_STRATEGY_OVERRIDES),
        admin: config.ADMIN_TOKEN !== undefined && config.HTTP_PORT !== undefined,
      },
    };
  },
});
