export { EngineHost, engineToSynod } from './engine-host.js';
export type { EngineStorage, HostLeases, HostLogger, HostStats, LocalSnapshotWriter, HostOptions, ReplicaHost, StateMachine } from './engine-host.js';
export { LeaseDeadlines } from './leases.js';
export type { LeaseTable } from './leases.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { NoticeHold } from './notice-hold.js';
export { ThriftySender } from './thrifty.js';
export type { ThriftyOptions } from './thrifty.js';
