export { paxosEngine } from './module.js';
export { PaxosNode } from './paxos.js';
export type { PaxosReady, PaxosDurableState } from './paxos.js';
export { PaxosLog, slotBytes } from './log.js';
export { DEFAULTS, ZERO_BALLOT, compareBallots, sameBallot } from './types.js';
export type {
  Ballot,
  ConfigEpoch,
  PaxosMessage,
  PaxosMeta,
  PaxosOptions,
  PaxosSnapshot,
  PaxosSnapshotExtra,
  Slot,
  SlotKind,
  PrePrepareMsg,
  PrePrepareRespMsg,
  PrepareMsg,
  PromiseMsg,
  AcceptMsg,
  AcceptRespMsg,
  HeartbeatMsg,
  HeartbeatRespMsg,
  SnapshotMsg,
  SnapshotRespMsg,
  TimeoutNowMsg,
} from './types.js';
export { paxosSimEngine, paxosOptions } from './sim-adapter.js';
export { paxosHints } from './hints.js';
export { encodeSlot, decodeSlot, encodeMeta, decodeMeta, paxosWalFormat, paxosBootstrap, CodecError } from './wal.js';
export { encodePaxosMessage, decodePaxosMessage, paxosCodec } from './wire.js';
