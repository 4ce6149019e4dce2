import { useEffect, useState } from 'preact/hooks';
import { live } from '../api.js';
import { TimeChart } from '../chart.js';
import { fmtTime, html } from '../html.js';
import type { SessionInfo } from '../main.js';

interface Member {
  id: string;
  reachable: boolean;
  voter: boolean;
  role?: string;
  term?: number;
  commitIndex?: number;
  appliedIndex?: number;
  lag?: number;
}
interface ClusterView {
  at: number;
  leader: string | null;
  term: number;
  engine: string;
  revision: number;
  keys: number;
  members: Member[];
}

/** Samples kept for the charts (at the default refresh, ten minutes). */
const HISTORY = 600;

export function ClusterPage(_props: { session: SessionInfo }) {
  const [view, setView] = useState<ClusterView | null>(null);
  const [changes, setChanges] = useState<{ at: number; from: string | null; to: string | null; term: number }[]>([]);
  const [history, setHistory] = useState<{ x: number[]; commit: number[]; term: number[] }>({ x: [], commit: [], term: [] });
  const [error, setError] = useState('');
  useEffect(
    () =>
      live('/api/live/cluster', (event, data) => {
        if (event === 'cluster') {
          const v = data as ClusterView;
          setView(v);
          setError('');
          const leader = v.members.find((m) => m.id === v.leader);
          setHistory((h) => ({
            x: [...h.x, v.at / 1000].slice(-HISTORY),
            commit: [...h.commit, leader?.commitIndex ?? Number.NaN].slice(-HISTORY),
            term: [...h.term, v.term].slice(-HISTORY),
          }));
        } else if (event === 'leader') {
          setChanges((c) => [data as (typeof c)[number], ...c].slice(0, 50));
        } else if (event === 'error') {
          setError((data as { message: string }).message);
        }
      }),
    [],
  );
  if (!view) return html`<p class="loading">${error || 'Reading the cluster…'}</p>`;
  return html`<section>
    <h2>Cluster</h2>
    ${error && html`<p class="error">${error}</p>`}
    <dl class="facts">
      <dt>leader</dt><dd data-testid="cluster-leader">${view.leader ?? 'none'}</dd>
      <dt>term</dt><dd data-testid="cluster-term">${view.term}</dd>
      <dt>engine</dt><dd>${view.engine}</dd>
      <dt>revision</dt><dd>${view.revision}</dd>
      <dt>keys</dt><dd>${view.keys}</dd>
      <dt>updated</dt><dd>${fmtTime(view.at)}</dd>
    </dl>
    <table data-testid="members">
      <thead><tr><th>member</th><th>role</th><th>term</th><th>commit index</th><th>applied index</th><th>lag (entries)</th></tr></thead>
      <tbody>
        ${view.members.map(
          (m) => html`<tr data-testid=${`member-${m.id}`} data-role=${m.reachable ? m.role : 'unreachable'}>
            <td>${m.id}${m.voter ? '' : ' (learner)'}</td>
            <td><span class=${`badge ${m.reachable ? m.role : 'down'}`}>${m.reachable ? m.role : 'unreachable'}</span></td>
            <td>${m.term ?? '—'}</td><td>${m.commitIndex ?? '—'}</td><td>${m.appliedIndex ?? '—'}</td><td>${m.lag ?? '—'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <div class="charts">
      <${TimeChart} title="Leader's commit index" unit="entries" x=${history.x} series=${[{ label: 'commit index', values: history.commit, stroke: '#1f77b4' }]} testId="chart-commit" />
      <${TimeChart} title="Term" unit="term" x=${history.x} series=${[{ label: 'term', values: history.term, stroke: '#d62728' }]} testId="chart-term" />
    </div>
    <h3>Leader changes seen</h3>
    ${changes.length === 0
      ? html`<p class="muted">None since this page opened.</p>`
      : html`<ul data-testid="leader-changes">${changes.map((c) => html`<li>${fmtTime(c.at)}: ${c.from ?? 'none'} → ${c.to ?? 'none'} (term ${c.term})</li>`)}</ul>`}
  </section>`;
}
