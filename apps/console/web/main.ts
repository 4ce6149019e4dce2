import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, setCsrf } from './api.js';
import { html } from './html.js';
import { ClusterPage } from './pages/cluster.js';
import { KeysPage } from './pages/keys.js';
import { LeasesPage } from './pages/leases.js';
import { LocksPage } from './pages/locks.js';

export interface SessionInfo {
  user: string;
  role: 'viewer' | 'admin';
  csrf: string;
  refreshMs: number;
}

const PAGES = {
  cluster: { title: 'Cluster', view: ClusterPage },
  keys: { title: 'Keys', view: KeysPage },
  leases: { title: 'Leases', view: LeasesPage },
  locks: { title: 'Locks', view: LocksPage },
} as const;
type PageName = keyof typeof PAGES;

const pageOf = (hash: string): PageName => {
  const name = hash.replace(/^#\/?/, '').split('?')[0] as PageName;
  return name in PAGES ? name : 'cluster';
};

function Login(props: { onLogin: (s: SessionInfo) => void }) {
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    try {
      const s = await api<{ user: string; role: 'viewer' | 'admin'; csrf: string }>('POST', '/api/login', { user: form.get('user'), password: form.get('password') });
      setCsrf(s.csrf);
      props.onLogin({ ...s, refreshMs: (await api<SessionInfo>('GET', '/api/session')).refreshMs });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return html`<main class="login">
    <h1>Synod console</h1>
    <form onSubmit=${submit} data-testid="login-form">
      <label>User <input name="user" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit">Log in</button>
      ${error && html`<p class="error" role="alert" data-testid="login-error">${error}</p>`}
    </form>
  </main>`;
}

function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [page, setPage] = useState<PageName>(pageOf(location.hash));
  useEffect(() => {
    api<SessionInfo>('GET', '/api/session').then(
      (s) => {
        setCsrf(s.csrf);
        setSession(s);
      },
      () => setSession(null),
    );
    const onHash = () => setPage(pageOf(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (session === undefined) return html`<p class="loading">Loading…</p>`;
  if (session === null) return html`<${Login} onLogin=${setSession} />`;
  const logout = async () => {
    await api('POST', '/api/logout').catch(() => undefined);
    setSession(null);
  };
  const View = PAGES[page].view;
  return html`<div class="shell">
    <header>
      <span class="brand">Synod</span>
      <nav>
        ${Object.entries(PAGES).map(([name, p]) => html`<a href=${`#/${name}`} class=${name === page ? 'active' : ''} data-testid=${`nav-${name}`}>${p.title}</a>`)}
      </nav>
      <span class="who" data-testid="who">${session.user} (${session.role})</span>
      <button class="link" onClick=${logout} data-testid="logout">Log out</button>
    </header>
    <main><${View} session=${session} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
