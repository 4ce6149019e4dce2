// Loaded into each replica by bench/kv-path.ts (NODE_OPTIONS=--import): records the steps the
// replica publishes on the `synod:phases` diagnostics channel and writes them, one per line, to
// $SYNOD_PHASES_DIR/$NODE_ID.phases when the process exits.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const dir = process.env.SYNOD_PHASES_DIR;
if (dir) {
  const lines = [];
  subscribe('synod:phases', (e) => {
    lines.push(`${e.at} ${e.step} ${e.type ?? '-'} ${e.peer ?? '-'}`);
  });
  process.on('exit', () => {
    writeFileSync(join(dir, `${process.env.NODE_ID ?? process.pid}.phases`), lines.join('\n'));
  });
}
