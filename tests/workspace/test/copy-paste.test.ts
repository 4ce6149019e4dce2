import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workspaceRoot } from '@synod/testkit';

/**
 * The copy-paste detector `npm run lint` runs (jscpd, with `.jscpd.json`): the tree passes, and a
 * function copied from libs/replog into another file makes it fail, naming the copy.
 */
const config = JSON.parse(readFileSync(join(workspaceRoot, '.jscpd.json'), 'utf8')) as { path: string[] };
const jscpd = join(workspaceRoot, 'node_modules', '.bin', 'jscpd');
const planted = mkdtempSync(join(tmpdir(), 'synod-jscpd-'));
afterAll(() => rmSync(planted, { recursive: true, force: true }));

function detect(extra: string[]): { status: number | null; output: string } {
  const r = spawnSync(jscpd, ['-c', '.jscpd.json', ...config.path, ...extra], { cwd: workspaceRoot, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('copy-paste detector (jscpd)', () => {
  it('finds no copy in the tree it watches', () => {
    const r = detect([]);
    expect(r.output).toMatch(/Found 0 clones/);
    expect(r.status).toBe(0);
  });

  it('fails on a function copied from the shared machinery', () => {
    const source = readFileSync(join(workspaceRoot, 'libs/replog/src/snapshot-stream.ts'), 'utf8');
    const copied = source.slice(source.indexOf('export class SnapshotReceiver'));
    writeFileSync(join(planted, 'planted.ts'), `import { concatBytes } from '@synod/replog';\n\n${copied.replace('SnapshotReceiver', 'PlantedReceiver')}`);
    const r = detect([planted]);
    expect(r.status).toBe(1);
    // The clone's two places, in whichever order jscpd lists them.
    expect(r.output).toMatch(/planted\.ts/);
    expect(r.output).toMatch(/snapshot-stream\.ts/);
    expect(r.output).toMatch(/Found 1 clones?\./);
  });
});
