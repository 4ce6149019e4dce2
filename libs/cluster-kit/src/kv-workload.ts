import type { KvInput, KvOutput, Operation } from '@synod/testkit';
import type { ReplicaCluster } from './replica-cluster.js';

/**
 * Clients running puts, linearizable gets and compare-and-sets on a few keys, every operation
 * recorded for the linearizability checker; each acknowledged put also writes a unique key, so
 * durability can be checked afterwards key by key.
 */
export function runWorkload(cluster: ReplicaCluster, clients: number, keys: number, opTimeoutMs = 5000) {
  const history: Operation<KvInput, KvOutput>[] = [];
  const acked: { at: number; key: string }[] = [];
  let running = true;
  let id = 0;
  const one = async (client: number): Promise<void> => {
    const key = `k${Math.floor(Math.random() * keys)}`;
    const x = Math.random();
    const opId = ++id;
    const value = `v${opId}`;
    let input: KvInput;
    if (x < 0.45) input = { op: 'put', key, value };
    else if (x < 0.8) input = { op: 'get', key };
    else {
      const recent = history.filter((h) => h.input.key === key && h.input.op === 'put' && h.output !== undefined).slice(-2);
      const expected = recent.length > 0 && Math.random() < 0.7 ? (recent[recent.length - 1]!.input as { value: string }).value : null;
      input = { op: 'cas', key, expected, value };
    }
    const call = performance.now();
    try {
      let output: KvOutput;
      if (input.op === 'put') {
        // The value and a unique marker key in one transaction: one revision, one acknowledgement.
        await cluster.write({ op: 'txn', compare: [], success: [{ op: 'put', key, value }, { op: 'put', key: `acked/${value}`, value }], failure: [] }, opTimeoutMs);
        output = { ok: true };
        acked.push({ at: performance.now(), key: `acked/${value}` });
      } else if (input.op === 'get') {
        output = { value: await cluster.get(key, 'linearizable', undefined, opTimeoutMs) };
      } else {
        const compare = input.expected === null ? { key, target: 'version', op: '=', value: 0 } : { key, target: 'value', op: '=', value: input.expected };
        const r = (await cluster.write({ op: 'txn', compare: [compare], success: [{ op: 'put', key, value }], failure: [] }, opTimeoutMs)) as { succeeded: boolean };
        output = { ok: r.succeeded };
        if (r.succeeded) acked.push({ at: performance.now(), key });
      }
      history.push({ id: opId, clientId: client, input, output, call, return: performance.now() });
    } catch {
      // Timed out: a write may still have taken effect; a read constrains nothing.
      history.push({ id: opId, clientId: client, input, output: undefined, call, return: Infinity });
    }
  };
  const loops = Array.from({ length: clients }, async (_, client) => {
    while (running) await one(client);
  });
  return {
    history,
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
