import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const loggerModule = join(import.meta.dirname, '..', 'src', 'logger.ts');

describe('the root logger on stdout', () => {
  it('writes every line, those of the last turn before process.exit included, in order', () => {
    const script = join(mkdtempSync(join(tmpdir(), 'synod-log-')), 'log.mts');
    writeFileSync(
      script,
      `import { createRootLogger } from ${JSON.stringify(loggerModule)};
const log = createRootLogger({ service: 's', instance: 'i' });
for (let i = 0; i < 500; i++) log.info({ i }, 'line');
setImmediate(() => { log.info({ i: 500 }, 'line'); log.fatal('last'); process.exit(3); });
`,
    );
    const r = spawnSync(process.execPath, ['--conditions=@synod/source', '--import', 'tsx', script], { encoding: 'utf8', cwd: import.meta.dirname });
    expect(r.status).toBe(3);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { i?: number; msg: string });
    expect(lines.filter((l) => l.msg === 'line').map((l) => l.i)).toEqual(Array.from({ length: 501 }, (_, i) => i));
    expect(lines.at(-1)).toMatchObject({ msg: 'last', level: 60 });
  });
});
