import { join } from 'node:path';
import { createProjectGraphAsync } from '@nx/devkit';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';
import { workspaceRoot } from '@synod/testkit';

/**
 * The layers of eslint.config.mjs, proved by linting probe files (never written to disk) at paths
 * inside the projects: the pure core depends only on the core, and no production code (an app's or
 * a lib's src/) on the test kit; tests may use the test kit.
 */
const eslint = new ESLint({ cwd: workspaceRoot });

// The rule reads nx's cached project graph (nx writes it when it runs lint); make sure it is there.
beforeAll(() => createProjectGraphAsync({ exitOnError: false }), 120_000);

async function boundaryErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const probe = 1;\n`, { filePath: join(workspaceRoot, path) });
  return result!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('lint layers (@nx/enforce-module-boundaries)', () => {
  it('refuses a core lib importing a lib outside the core', async () => {
    const errors = await boundaryErrors('libs/raft/src/probe.ts', "import { startOpsServer } from '@synod/service-kit';\nvoid startOpsServer;");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/scope:core/);
  });

  it('refuses production code importing the test kit: a runtime lib, an app, a core lib', async () => {
    for (const path of ['libs/store-client/src/probe.ts', 'apps/consensus/src/probe.ts', 'libs/balancing/src/probe.ts']) {
      const errors = await boundaryErrors(path, "import { simulate } from '@synod/testkit';\nvoid simulate;");
      expect(errors, path).not.toEqual([]);
      expect(errors.join('\n'), path).toMatch(/can only depend on libs tagged with "scope:core"|can only depend on libs tagged with "scope:core", "scope:runtime"/);
    }
  });

  it('lets the core import the core, and tests import the test kit', async () => {
    expect(await boundaryErrors('libs/raft/src/probe.ts', "import { Progress } from '@synod/replog';\nvoid Progress;")).toEqual([]);
    expect(await boundaryErrors('libs/raft/test/probe.test.ts', "import { simulate } from '@synod/testkit';\nvoid simulate;")).toEqual([]);
    expect(await boundaryErrors('apps/consensus/test/probe.test.ts', "import { ReplicaCluster } from '@synod/cluster-kit';\nvoid ReplicaCluster;")).toEqual([]);
  });
});
