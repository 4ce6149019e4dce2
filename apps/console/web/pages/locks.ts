import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, qs } from '../api.js';
import { fmtMs, html } from '../html.js';
import type { SessionInfo } from '../main.js';

interface Entry {
  key: string;
  mode: string;
  lease: number;
  createRevision: number;
  permits?: number;
}
interface Lock {
  name: string;
  holders: (Entry & { token: number; leaseRemainingMs: number | null })[];
  waiters: Entry[];
}

export function LocksPage(props: { session: SessionInfo }) {
  const admin = props.session.role === 'admin';
  const [pages, setPages] = useState<(string | undefined)[]>([undefined]);
  const [locks, setLocks] = useState<{ locks: Lock[]; next: string | null } | null>(null);
  const [message, setMessage] = useState('');
  const after = pages.at(-1);
  const load = () => api<{ locks: Lock[]; next: string | null }>('GET', `/api/locks?${qs({ after, limit: 50 })}`).then(setLocks, (e: Error) => setMessage(e.message));
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), props.session.refreshMs);
    return () => clearInterval(t);
  }, [after]);
  const release = async (name: string, token: number) => {
    const typed = prompt(`Force-release ${name} (token ${token})? Its holder loses the lock. Type the lock name to confirm.`);
    if (typed === null) return;
    try {
      const r = await api<{ released: boolean }>('POST', '/api/locks/force-release', { name, token, confirm: typed });
      setMessage(r.released ? `${name}: token ${token} released` : `${name}: token ${token} no longer held`);
      void load();
    } catch (err) {
      setMessage(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  return html`<section>
    <h2>Locks</h2>
    ${message && html`<p class="note" data-testid="locks-message">${message}</p>`}
    <table data-testid="locks-table">
      <thead><tr><th>lock</th><th>kind</th><th>holder (lease)</th><th>fencing token</th><th>lease remaining</th><th>waiters, in order</th>${admin && html`<th></th>`}</tr></thead>
      <tbody>
        ${(locks?.locks ?? []).flatMap((l) =>
          (l.holders.length > 0 ? l.holders : [undefined]).map(
            (h, i) => html`<tr data-testid="lock-row" data-lock=${l.name} data-token=${h?.token}>
              <td>${i === 0 ? l.name : ''}</td>
              <td>${h ? (h.mode === 'read' || h.mode === 'write' ? `read-write (${h.mode})` : h.mode === 'semaphore' ? `semaphore (${h.permits ?? '?'} permits)` : 'mutex') : ''}</td>
              <td>${h ? h.lease : 'none'}</td><td>${h?.token ?? ''}</td><td>${h ? fmtMs(h.leaseRemainingMs) : ''}</td>
              <td>${i === 0 ? l.waiters.map((w) => `${w.lease} (${w.mode})`).join(', ') : ''}</td>
              ${admin && html`<td>${h && html`<button class="danger" onClick=${() => release(l.name, h.token)} data-testid="force-release">Force-release</button>`}</td>`}
            </tr>`,
          ),
        )}
      </tbody>
    </table>
    ${locks?.locks.length === 0 && html`<p class="muted" data-testid="no-locks">No lock is held or waited for.</p>`}
    <div class="row">
      <button disabled=${pages.length <= 1} onClick=${() => setPages((p) => p.slice(0, -1))}>Previous</button>
      <button disabled=${!locks?.next} onClick=${() => locks?.next && setPages((p) => [...p, locks.next!])}>Next</button>
    </div>
  </section>`;
}
