/** What a simulated run throws at the replicas, and how often (virtual milliseconds). */
export interface FaultProfile {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Message delay bounds in ms (uniform): wide bounds reorder. */
  delayMs: [number, number];
  /** Mean ms between network changes (partition, one-way cut, heal); 0 disables. */
  partitionEveryMs: number;
  /** Mean ms between crashes; 0 disables. */
  crashEveryMs: number;
  /** Restart after this many ms (uniform). */
  downMs: [number, number];
  /** Probability a crash waits for the node's next persist that writes anything and cuts it short. */
  tornPersist: number;
  /** How long one persist takes on the virtual disk, in ms (uniform): a crash meanwhile tears it. */
  diskMs: [number, number];
  /** Mean ms between process pauses; 0 disables. */
  pauseEveryMs: number;
  pauseMs: [number, number];
  /** Mean ms between leadership transfers asked by an operator; 0 disables. */
  transferEveryMs: number;
  /** The replicas snapshot their state machine every this many applied entries; 0 disables. */
  snapshotEvery: number;
}

/** Every kind of fault, none dominating. */
const mixed: FaultProfile = {
  drop: 0.03,
  duplicate: 0.02,
  delayMs: [1, 25],
  partitionEveryMs: 700,
  crashEveryMs: 1500,
  downMs: [30, 800],
  tornPersist: 0.3,
  diskMs: [0, 2],
  pauseEveryMs: 2000,
  pauseMs: [50, 600],
  transferEveryMs: 3000,
  snapshotEvery: 40,
};

/**
 * Named profiles (`--profile`): each leans on one kind of fault, so the paths it exercises (restart
 * from a torn disk, catching up after a partition, a slow fsync under load, a paused leader) come up
 * many times per run rather than a few.
 */
export const PROFILES = {
  mixed,
  'crash-heavy': { ...mixed, crashEveryMs: 400, downMs: [20, 400], tornPersist: 0.4, partitionEveryMs: 2500, pauseEveryMs: 5000 },
  'partition-heavy': { ...mixed, drop: 0.05, partitionEveryMs: 250, crashEveryMs: 5000, pauseEveryMs: 5000 },
  'slow-disk': { ...mixed, diskMs: [4, 40], crashEveryMs: 1200, tornPersist: 0.1 },
  'pause-heavy': { ...mixed, pauseEveryMs: 500, pauseMs: [50, 1500], crashEveryMs: 5000 },
} satisfies Record<string, FaultProfile>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export const NO_FAULTS: FaultProfile = {
  drop: 0,
  duplicate: 0,
  delayMs: [1, 3],
  partitionEveryMs: 0,
  crashEveryMs: 0,
  downMs: [0, 0],
  tornPersist: 0,
  diskMs: [0, 0],
  pauseEveryMs: 0,
  pauseMs: [0, 0],
  transferEveryMs: 0,
  snapshotEvery: 0,
};
