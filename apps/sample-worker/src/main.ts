import { sampleWorker } from './worker.js';

await sampleWorker.run();
