import { processConfig } from '../../vitest.shared.mjs';

export default processConfig(import.meta.dirname);
