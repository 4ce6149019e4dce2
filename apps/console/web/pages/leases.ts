import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { fmtMs, html } from '../html.js';
import type { SessionInfo } from '../main.js';

interface Lease {
  id: number;
  ttlMs: number;
  remainingMs: number | null;
  keys: string[];
}

export function LeasesPage(props: { session: SessionInfo }) {
  const admin = props.session.role === 'admin';
  const [leases, setLeases] = useState<Lease[] | null>(null);
  const [message, setMessage] = useState('');
  const load = () => api<{ leases: Lease[] }>('GET', '/api/leases').then((r) => setLeases(r.leases), (e: Error) => setMessage(e.message));
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), props.session.refreshMs);
    return () => clearInterval(t);
  }, []);
  const revoke = async (id: number) => {
    if (!confirm(`Revoke lease ${id}? Every key on it is deleted.`)) return;
    try {
      const r = await api<{ revoked: boolean; deleted: number }>('DELETE', `/api/leases/${id}`);
      setMessage(r.revoked ? `lease ${id} revoked, ${r.deleted} keys deleted` : `lease ${id} was already gone`);
      void load();
    } catch (err) {
      setMessage(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  return html`<section>
    <h2>Leases</h2>
    ${message && html`<p class="note">${message}</p>`}
    <table data-testid="leases-table">
      <thead><tr><th>lease</th><th>TTL</th><th>remaining</th><th>keys</th>${admin && html`<th></th>`}</tr></thead>
      <tbody>
        ${(leases ?? []).map(
          (l) => html`<tr data-testid="lease-row" data-lease=${l.id}>
            <td>${l.id}</td><td>${fmtMs(l.ttlMs)}</td><td>${fmtMs(l.remainingMs)}</td><td>${l.keys.join(', ')}</td>
            ${admin && html`<td><button class="danger" onClick=${() => revoke(l.id)}>Revoke</button></td>`}
          </tr>`,
        )}
      </tbody>
    </table>
    ${leases?.length === 0 && html`<p class="muted">No leases.</p>`}
  </section>`;
}
