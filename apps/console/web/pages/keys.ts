import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, live, qs } from '../api.js';
import { fmtMs, html } from '../html.js';
import type { SessionInfo } from '../main.js';

interface Kv {
  key: string;
  value: string;
  version: number;
  createRevision: number;
  modRevision: number;
  lease: number;
}
interface KeyPage {
  kvs: Kv[];
  next: string | null;
  revision: number;
}
interface KeyDetail {
  kv: Kv | null;
  history: { modRevision: number; value: string; version: number }[];
  lease: { id: number; ttlMs: number; remainingMs: number } | null;
}
interface WatchEvent {
  type: 'put' | 'delete';
  kv: Kv;
}

const PAGE = 50;
const short = (v: string) => (v.length > 80 ? `${v.slice(0, 80)}…` : v);

export function KeysPage(props: { session: SessionInfo }) {
  const admin = props.session.role === 'admin';
  const [prefix, setPrefix] = useState('');
  // What is typed in the prefix box: its own state, so a render (a listing arriving) keeps it.
  const [draft, setDraft] = useState('');
  const [pages, setPages] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<(KeyPage & { prefix: string }) | null>(null);
  const [reloads, setReloads] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const [detail, setDetail] = useState<KeyDetail | null>(null);
  const [watching, setWatching] = useState(false);
  const [events, setEvents] = useState<WatchEvent[]>([]);
  const [message, setMessage] = useState('');
  const after = pages.at(-1);
  /** The listing on screen is of the prefix browsed (not one from before the prefix changed). */
  const listed = page !== null && page.prefix === prefix;

  useEffect(() => {
    // An answer to an earlier prefix or page that arrives late is dropped.
    let current = true;
    void api<KeyPage>('GET', `/api/keys?${qs({ prefix, after, limit: PAGE })}`).then(
      (p) => current && setPage({ ...p, prefix }),
      (e: Error) => current && setMessage(e.message),
    );
    return () => {
      current = false;
    };
  }, [prefix, after, reloads]);
  const load = () => setReloads((n) => n + 1);
  useEffect(() => {
    if (selected === null) return setDetail(null);
    void api<KeyDetail>('GET', `/api/key?${qs({ key: selected })}`).then(setDetail, (e: Error) => setMessage(e.message));
  }, [selected, page]);
  useEffect(() => {
    if (!watching || !listed || page === null) return;
    setEvents([]);
    // From the revision after this prefix's listing: a change made between the two is not missed.
    return live(`/api/live/watch?${qs({ prefix, from: page.revision + 1 })}`, (event, data) => {
      if (event === 'event') setEvents((e) => [data as WatchEvent, ...e].slice(0, 200));
      else if (event === 'error') setMessage((data as { message: string }).message);
    });
  }, [watching, prefix, listed]);

  const put = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    try {
      const r = await api<{ revision: number }>('PUT', '/api/keys', { key: form.get('key'), value: form.get('value') });
      setMessage(`put at revision ${r.revision}`);
      load();
    } catch (err) {
      setMessage(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  const del = async (key: string) => {
    if (!confirm(`Delete ${key}?`)) return;
    try {
      const r = await api<{ deleted: number; revision: number }>('DELETE', '/api/keys', { key });
      setMessage(`deleted ${r.deleted} at revision ${r.revision}`);
      setSelected(null);
      load();
    } catch (err) {
      setMessage(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };

  return html`<section>
    <h2>Keys</h2>
    <form class="row" onSubmit=${(e: Event) => {
      e.preventDefault();
      setPrefix(draft);
      setPages([undefined]);
    }}>
      <label>Prefix <input name="prefix" value=${draft} onInput=${(e: Event) => setDraft((e.currentTarget as HTMLInputElement).value)} data-testid="keys-prefix" /></label>
      <button type="submit">Browse</button>
      <label class="check"><input type="checkbox" checked=${watching} onChange=${(e: Event) => setWatching((e.currentTarget as HTMLInputElement).checked)} data-testid="keys-watch" /> Watch live</label>
    </form>
    ${message && html`<p class="note" data-testid="keys-message">${message}</p>`}
    ${admin &&
    html`<form class="row" onSubmit=${put} data-testid="put-form">
      <label>Key <input name="key" required data-testid="put-key" /></label>
      <label>Value <input name="value" data-testid="put-value" /></label>
      <button type="submit" data-testid="put-submit">Put</button>
    </form>`}
    <div class="split">
      <div>
        <table data-testid="keys-table">
          <thead><tr><th>key</th><th>value</th><th>version</th><th>modified at</th><th>lease</th></tr></thead>
          <tbody>
            ${(page?.kvs ?? []).map(
              (kv) => html`<tr class=${kv.key === selected ? 'selected' : ''} onClick=${() => setSelected(kv.key)} data-testid="key-row" data-key=${kv.key}>
                <td>${kv.key}</td><td>${short(kv.value)}</td><td>${kv.version}</td><td>${kv.modRevision}</td><td>${kv.lease || ''}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        <div class="row">
          <button disabled=${pages.length <= 1} onClick=${() => setPages((p) => p.slice(0, -1))}>Previous</button>
          <button disabled=${!page?.next} onClick=${() => page?.next && setPages((p) => [...p, page.next!])} data-testid="keys-next">Next</button>
          <span class="muted">at revision ${page?.revision ?? '—'}</span>
        </div>
      </div>
      ${detail &&
      html`<aside data-testid="key-detail">
        <h3>${selected}</h3>
        ${detail.kv === null
          ? html`<p>deleted</p>`
          : html`<dl class="facts">
              <dt>value</dt><dd><pre>${detail.kv.value}</pre></dd>
              <dt>version</dt><dd>${detail.kv.version}</dd>
              <dt>created at</dt><dd>${detail.kv.createRevision}</dd>
              <dt>modified at</dt><dd>${detail.kv.modRevision}</dd>
              <dt>lease</dt><dd>${detail.lease ? html`${detail.lease.id} (TTL ${fmtMs(detail.lease.ttlMs)}, ${fmtMs(detail.lease.remainingMs)} left)` : 'none'}</dd>
            </dl>
            <h4>Earlier revisions</h4>
            <ul>${detail.history.map((h) => html`<li>rev ${h.modRevision} (v${h.version}): ${short(h.value)}</li>`)}</ul>
            ${admin && html`<button class="danger" onClick=${() => del(selected!)} data-testid="delete-key">Delete</button>`}`}
      </aside>`}
    </div>
    ${watching &&
    html`<div>
      <h3>Live: changes under "${prefix}"</h3>
      <ul data-testid="watch-events">${events.map((e) => html`<li>rev ${e.kv.modRevision} ${e.type} ${e.kv.key}${e.type === 'put' ? ` = ${short(e.kv.value)}` : ''}</li>`)}</ul>
    </div>`}
  </section>`;
}
