// A child process of chaos:locks and the lock-manager's tests (lock-holder-process.ts): lock clients whose fenced resource lives in the parent (reached
// over NATS request-reply), so the parent can SIGSTOP this whole process while it holds the lock.
// Each begin and commit is reported on stdout as one JSON line.
import { connect } from '@nats-io/transport-node';
import { LockClient } from '@synod/locks';
import { remoteResource, runFencedWorkers } from './fenced-workload.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is required`);
  return v;
};

const nc = await connect({ servers: need('NATS_URL'), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
const namespace = need('SYNOD_NAMESPACE');
const say = (line: object) => void process.stdout.write(`${JSON.stringify(line)}\n`);
const workers = runFencedWorkers({
  resource: remoteResource(nc, need('RESOURCE_SUBJECT')),
  newClient: () => new LockClient({ nc, namespace, attemptTimeoutMs: 800, pollMs: 500, timeoutMs: 8000 }),
  clients: Number(process.env.CLIENTS ?? '2'),
  lockName: need('LOCK_NAME'),
  ttlMs: Number(need('TTL_MS')),
  timeoutMs: 6000,
  // Long enough sections that the parent's SIGSTOP lands between a begin and its commit.
  holdMs: () => Number(process.env.HOLD_MS ?? '200'),
  onBegin: (token, ok) => say({ began: token, ok }),
  onCommit: (token, ok) => say({ committed: token, ok }),
});
say({ ready: true });
const stop = () => {
  void workers.stop().then(() => nc.close()).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
