export { simulate } from './simulator.js';
export type { SimOptions, SimResult } from './simulator.js';
export { PROFILES, PROFILE_NAMES, NO_FAULTS } from './profiles.js';
export type { FaultProfile, ProfileName } from './profiles.js';
