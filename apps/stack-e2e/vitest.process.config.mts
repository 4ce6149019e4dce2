import { mergeConfig } from 'vitest/config';
import { processConfig } from '../../vitest.shared.mjs';

// The container suite: one compose stack for the whole file. testcontainers' reaper (Ryuk) is an
// image that cannot be pulled offline; the suite removes what it starts itself.
export default mergeConfig(processConfig(import.meta.dirname), {
  test: {
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
    testTimeout: 90_000,
    hookTimeout: 150_000,
  },
});
