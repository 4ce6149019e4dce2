export { RaftNode } from './raft.js';
export type { RaftReady, RaftDurableState } from './raft.js';
export { RaftLog, entryBytes } from './log.js';
export { Progress } from './progress.js';
export type { ProgressState } from './progress.js';
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
export { raftSimEngine } from './sim-adapter.js';
export { encodeEntry, decodeEntry, encodeHardState, decodeHardState, CodecError } from './codec.js';
