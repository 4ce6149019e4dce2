import type { EngineModule } from '@synod/replog';
import { raftHints } from './hints.js';
import { RaftNode } from './raft.js';
import { raftOptions, raftSimEngine } from './sim-adapter.js';
import type { Entry, HardState, RaftMessage, RaftSnapshotExtra } from './types.js';
import { raftBootstrap, raftWalFormat } from './wal.js';
import { raftCodec } from './wire.js';

/** Raft as one module: what the replica's engine table, the offline restore and the simulator use. */
export const raftEngine: EngineModule<RaftMessage, Entry, HardState, RaftSnapshotExtra> = {
  name: 'raft',
  create: (config, durable) => new RaftNode(raftOptions(config), durable),
  codec: raftCodec,
  wal: raftWalFormat,
  hints: raftHints,
  sim: raftSimEngine(),
  bootstrap: raftBootstrap,
};
