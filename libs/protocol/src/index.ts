export * from './errors.js';
export * from './subjects.js';
export * from './headers.js';
export * from './registry.js';
export * from './envelope.js';
export * from './gateway.js';
export * from './sample.js';
