export { NODE_ENGINES, PUBLISHED_DIRS, importedPackages, manifestProblems, outDirOf, packedProblems, readPublished } from './packages.js';
export type { Manifest, Published } from './packages.js';
