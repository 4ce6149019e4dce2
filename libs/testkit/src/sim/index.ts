export { simulate, applyKv, DEFAULT_FAULTS, NO_FAULTS } from './simulator.js';
export type { SimEngine, SimOptions, SimResult, FaultProfile } from './simulator.js';
