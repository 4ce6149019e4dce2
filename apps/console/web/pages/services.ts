import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, live } from '../api.js';
import { TimeChart, type Series } from '../chart.js';
import { fmtTime, html } from '../html.js';
import type { SessionInfo } from '../main.js';
import type { ServiceSummary as Service, ServicesView as ServicesSummaryView } from '../../src/gateways.js';

/** What `/api/live/services` sends: the server's view and the strategies a service may switch to. */
type ServicesView = ServicesSummaryView & { strategiesAvailable: string[] };
interface History {
  x: number[];
  /** Per service: one value per x. */
  rate: Map<string, (number | null)[]>;
  p50: Map<string, (number | null)[]>;
  p99: Map<string, (number | null)[]>;
}

/** Samples kept for the charts (at the default refresh, ten minutes). */
const HISTORY = 600;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function append(h: History, v: ServicesView): History {
  const add = (m: Map<string, (number | null)[]>, pick: (s: Service) => number | undefined) => {
    const next = new Map<string, (number | null)[]>();
    const names = new Set([...m.keys(), ...v.services.map((s) => s.service)]);
    for (const name of names) {
      const s = v.services.find((x) => x.service === name);
      const before = m.get(name) ?? h.x.map(() => null);
      next.set(name, [...before, s ? (pick(s) ?? null) : null].slice(-HISTORY));
    }
    return next;
  };
  return { x: [...h.x, v.at / 1000].slice(-HISTORY), rate: add(h.rate, (s) => s.ratePerS), p50: add(h.p50, (s) => s.p50Ms), p99: add(h.p99, (s) => s.p99Ms) };
}

const fmtLatency = (ms: number | undefined): string => (ms === undefined ? '—' : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

export function ServicesPage(props: { session: SessionInfo }) {
  const admin = props.session.role === 'admin';
  const [view, setView] = useState<ServicesView | null>(null);
  const [history, setHistory] = useState<History>({ x: [], rate: new Map(), p50: new Map(), p99: new Map() });
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');
  const [chosen, setChosen] = useState<Record<string, string>>({});
  useEffect(
    () =>
      live('/api/live/services', (event, data) => {
        if (event === 'services') {
          const v = data as ServicesView;
          setView(v);
          setError('');
          setHistory((h) => append(h, v));
        } else if (event === 'error') {
          const e = data as { code: string; message: string };
          setError(`${e.code}: ${e.message}`);
        }
      }),
    [],
  );
  const report = (what: string, r: { applied: { gateway: string; process: number; ok: boolean; error?: { code: string } }[] }) => {
    const refused = r.applied.filter((a) => !a.ok);
    setMessage(`${what}: applied on ${r.applied.length - refused.length} of ${r.applied.length} gateway processes${refused.length ? ` (refused: ${refused.map((a) => `${a.gateway}/${a.process} ${a.error?.code ?? ''}`).join(', ')})` : ''}`);
  };
  const fail = (err: unknown) => setMessage(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
  const switchStrategy = async (service: string, current: string) => {
    const strategy = chosen[service] ?? current;
    if (!confirm(`Switch ${service} to ${strategy} on every gateway? Its balancing state starts fresh.`)) return;
    try {
      report(`${service} → ${strategy}`, await api('POST', '/api/services/strategy', { service, strategy, confirm: service }));
    } catch (err) {
      fail(err);
    }
  };
  const setWeight = async (worker: string, weight: number) => {
    const typed = prompt(`New weight of ${worker} on every gateway (0 to 1000; empty: back to the weight it reports)`, String(weight));
    if (typed === null) return;
    const value = typed.trim() === '' ? null : Number(typed);
    if (value !== null && !(Number.isInteger(value) && value >= 0 && value <= 1000)) {
      setMessage(`${typed}: expected a whole number from 0 to 1000`);
      return;
    }
    try {
      report(`${worker} weight ${value ?? 'as reported'}`, await api('POST', '/api/services/weight', { worker, weight: value, confirm: worker }));
    } catch (err) {
      fail(err);
    }
  };
  const drain = async (worker: string) => {
    const typed = prompt(`Drain ${worker}: its weight becomes 0 on every gateway and it gets no new requests. Type the worker id to confirm.`);
    if (typed === null) return;
    try {
      report(`${worker} drained`, await api('POST', '/api/services/weight', { worker, weight: 0, confirm: typed }));
    } catch (err) {
      fail(err);
    }
  };
  if (!view) return html`<p class="loading" data-testid="services-loading">${error || 'Asking the gateways…'}</p>`;
  const names = [...history.rate.keys()];
  const series = (m: Map<string, (number | null)[]>, suffix: string, dash?: number[]): Series[] =>
    names.map((name, i) => ({ label: `${name}${suffix}`, values: m.get(name) ?? [], stroke: COLORS[i % COLORS.length]!, ...(dash ? { dash } : {}) }));
  return html`<section>
    <h2>Services</h2>
    ${error && html`<p class="error" data-testid="services-error">${error}</p>`}
    ${message && html`<p class="note" data-testid="services-message">${message}</p>`}
    ${view.problems.length > 0 &&
    html`<div class="error" data-testid="services-problems">
      <p>Answers from the gateways that could not be used:</p>
      <ul>${view.problems.map((p) => html`<li>${p.code}: ${p.message}</li>`)}</ul>
    </div>`}
    <p class="muted" data-testid="gateways">
      ${view.gateways.length} gateway process${view.gateways.length === 1 ? '' : 'es'} answered at ${fmtTime(view.at)}${view.gateways.length > 0 ? `: ${view.gateways.map((g) => `${g.gateway}/${g.process} (${g.pending} waiting)`).join(', ')}` : ''}
    </p>
    <div class="charts">
      <${TimeChart} title="Requests a second" unit="req/s" x=${history.x} series=${series(history.rate, '')} testId="chart-rate" />
      <${TimeChart} title="Latency of the workers' answers" unit="ms" x=${history.x} series=${[...series(history.p50, ' p50'), ...series(history.p99, ' p99', [6, 4])]} testId="chart-latency" />
    </div>
    ${view.services.length === 0 && html`<p class="muted" data-testid="no-services">No gateway knows a service yet.</p>`}
    ${view.services.map((s) => {
      const current = s.strategies[0] ?? '';
      return html`<article class="service" data-testid="service" data-service=${s.service}>
        <h3>${s.service}</h3>
        <dl class="facts">
          <dt>strategy</dt><dd data-testid="service-strategy">${s.strategies.join(' / ')}${s.strategies.length > 1 ? ' (the gateways disagree)' : ''}</dd>
          <dt>endpoints</dt><dd>${s.endpoints.join(', ') || '—'}</dd>
          <dt>requests a second</dt><dd data-testid="service-rate">${s.ratePerS ?? '—'}</dd>
          <dt>p50 / p99</dt><dd>${fmtLatency(s.p50Ms)} / ${fmtLatency(s.p99Ms)}</dd>
        </dl>
        ${admin &&
        html`<div class="row" data-testid="strategy-form">
          <label>Strategy
            <select data-testid="strategy-select" value=${chosen[s.service] ?? current} onChange=${(e: Event) => setChosen((c) => ({ ...c, [s.service]: (e.currentTarget as HTMLSelectElement).value }))}>
              ${view.strategiesAvailable.map((n) => html`<option value=${n}>${n}</option>`)}
            </select>
          </label>
          <button onClick=${() => switchStrategy(s.service, current)} data-testid="strategy-apply">Switch</button>
        </div>`}
        <table data-testid="workers-table">
          <thead><tr><th>worker</th><th>weight</th><th>in flight</th><th>EWMA latency</th><th>served</th><th>errors</th><th>ejection</th>${admin && html`<th></th>`}</tr></thead>
          <tbody>
            ${s.workers.map(
              (w) => html`<tr data-testid="worker-row" data-worker=${w.id} data-weight=${w.weight} data-served=${w.served}>
                <td>${w.id}</td>
                <td>${w.weight}${w.weightOverride !== undefined ? html` <span class="badge">${w.weight === 0 ? 'drained' : 'set'} (reports ${w.reportedWeight ?? '?'})</span>` : ''}</td>
                <td>${w.inFlight}</td><td>${fmtLatency(w.ewmaMs)}</td><td>${w.served}</td><td>${w.errors}</td>
                <td>${w.ejected ? html`<span class="badge down">ejected${w.ejectedUntil ? ` until ${fmtTime(Date.parse(w.ejectedUntil))}` : ''}</span>` : w.ejections > 0 ? `back (${w.ejections} ejection${w.ejections === 1 ? '' : 's'})` : 'in service'}</td>
                ${admin &&
                html`<td class="actions">
                  <button onClick=${() => setWeight(w.id, w.weight)} data-testid="set-weight">Weight…</button>
                  <button class="danger" disabled=${w.weight === 0} onClick=${() => drain(w.id)} data-testid="drain">Drain</button>
                </td>`}
              </tr>`,
            )}
          </tbody>
        </table>
      </article>`;
    })}
  </section>`;
}
