import type { EngineModule } from '@synod/replog';
import { paxosHints } from './hints.js';
import { PaxosNode } from './paxos.js';
import { paxosOptions, paxosSimEngine } from './sim-adapter.js';
import type { PaxosMessage, PaxosMeta, PaxosSnapshotExtra, Slot } from './types.js';
import { paxosBootstrap, paxosWalFormat } from './wal.js';
import { paxosCodec } from './wire.js';

/** Multi-Paxos as one module: what the replica's engine table, the offline restore and the simulator use. */
export const paxosEngine: EngineModule<PaxosMessage, Slot, PaxosMeta, PaxosSnapshotExtra> = {
  name: 'paxos',
  create: (config, durable) => new PaxosNode(paxosOptions(config), durable),
  codec: paxosCodec,
  wal: paxosWalFormat,
  hints: paxosHints,
  sim: paxosSimEngine(),
  bootstrap: paxosBootstrap,
};
