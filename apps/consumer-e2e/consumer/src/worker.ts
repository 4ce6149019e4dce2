// A worker of a service outside the Synod workspace, on @synod/worker-sdk: `run()` reads NATS_URL,
// SYNOD_NAMESPACE and WORKER_ID, serves `hello`, and logs one `ready` line.
import { defineWorker } from '@synod/worker-sdk';
import { z } from 'zod';

await defineWorker({
  service: 'greeter',
  version: '1.0.0',
  endpoints: {
    hello: {
      input: z.object({ name: z.string().max(100) }),
      output: z.object({ text: z.string() }),
      idempotent: true,
      handler: async ({ name }, ctx) => ({ text: `hello ${name} from ${ctx.workerId}` }),
    },
  },
}).run();
