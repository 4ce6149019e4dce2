export { default as workerGenerator, addNatsUser, addToCompose, addToStart, insertAboveMarker, normalizeOptions, MARKERS, START_WORKERS_FILE } from './generators/worker/generator.js';
export type { NormalizedOptions, WorkerGeneratorSchema } from './generators/worker/generator.js';
