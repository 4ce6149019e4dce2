export { raftEngine } from './module.js';
export { RaftNode } from './raft.js';
export type { RaftReady, RaftDurableState } from './raft.js';
export { RaftLog, entryBytes } from './log.js';
export { DEFAULTS } from './types.js';
export type {
  Entry,
  EntryType,
  HardState,
  RaftMessage,
  RaftOptions,
  RaftSnapshot,
  RaftSnapshotExtra,
  AppendMsg,
  AppendRespMsg,
  VoteMsg,
  VoteRespMsg,
  HeartbeatMsg,
  HeartbeatRespMsg,
  SnapshotMsg,
  SnapshotRespMsg,
  TimeoutNowMsg,
} from './types.js';
export { raftSimEngine, raftOptions } from './sim-adapter.js';
export { raftHints } from './hints.js';
export { encodeEntry, decodeEntry, encodeHardState, decodeHardState, raftWalFormat, raftBootstrap, CodecError } from './wal.js';
export { encodePeerMessage, decodePeerMessage, raftCodec } from './wire.js';
