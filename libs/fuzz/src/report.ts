import type { FuzzReport } from './run.js';

/** The run as text: per engine and target the inputs sent and the commonest answers, then failures and checks. */
export function formatReport(r: FuzzReport, replay: (engine: string, target?: string) => string): string {
  const lines: string[] = [];
  for (const e of r.engines) {
    lines.push('', `== ${e.engine}: ${e.targets.length} targets, ${Math.round(e.fuzzMs / 1000)} s of fuzzing ==`);
    const width = Math.max(20, ...e.targets.map((t) => t.name.length));
    for (const t of e.targets) {
      const top = Object.entries(t.answers)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      lines.push(`${t.name.padEnd(width)}  ${String(t.inputs).padStart(7)} inputs${t.skipped > 0 ? ` (${t.skipped} skipped)` : ''}  ${t.failure ? 'FAILED' : top}`);
    }
    for (const c of e.covered) lines.push(`${c.name}: a permission wildcard, fuzzed through ${c.by.join(', ')}`);
    for (const m of e.missing) lines.push(`MISSING TARGET ${m.name}: ${m.reason}`);
    for (const t of e.targets.filter((x) => x.failure !== undefined)) {
      lines.push('', `-- ${e.engine} ${t.name} failed --`, t.failure!, `replay: ${replay(e.engine, t.name)}`);
    }
    for (const c of e.crashes) lines.push(`CRASH: ${c.name} exited (${c.exit})`);
    for (const c of e.checks) lines.push(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
    const inputs = e.targets.reduce((n, t) => n + t.inputs, 0);
    lines.push(`${e.engine}: ${inputs} inputs over ${e.targets.length} targets, crashes ${e.crashes.length}, failed targets ${e.targets.filter((t) => t.failure).length}, failed checks ${e.checks.filter((c) => !c.ok).length}`);
  }
  lines.push('', `fuzz ${r.ok ? 'passed' : 'FAILED'} (seed ${r.seed}; replay: ${replay('both')})`);
  return lines.join('\n');
}
