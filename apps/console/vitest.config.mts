import { unitConfig } from '../../vitest.shared.mjs';

export default unitConfig(import.meta.dirname);
