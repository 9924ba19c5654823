import { useCallback, useEffect, useState } from 'react';
import { getJson, HttpError, SIGNED_OUT, write } from './api';
import type { Me } from './model';
import { navigate, parse, useLocation } from './router';
import { ErrorView, Link } from './views/common';
import { Login } from './views/Login';
import { RunPage } from './views/Run';
import { RunsPage } from './views/Runs';
import { Settings } from './views/Settings';
import { TenantSwitcher } from './views/TenantSwitcher';

type Session = { state: 'loading' } | { state: 'out' } | { state: 'in'; me: Me } | { state: 'error'; error: unknown };

export function App() {
  const [session, setSession] = useState<Session>({ state: 'loading' });
  const loc = useLocation();
  const route = parse(loc.pathname);

  const refresh = useCallback(async () => {
    try {
      setSession({ state: 'in', me: await getJson<Me>('/auth/me') });
    } catch (e) {
      setSession(e instanceof HttpError && e.status === 401 ? { state: 'out' } : { state: 'error', error: e });
    }
  }, []);
  useEffect(() => {
    void refresh();
    const out = () => setSession({ state: 'out' });
    window.addEventListener(SIGNED_OUT, out);
    return () => window.removeEventListener(SIGNED_OUT, out);
  }, [refresh]);

  useEffect(() => {
    document.title = route.name === 'run' ? `${route.id} · Augur` : route.name === 'settings' ? 'Settings · Augur' : 'Runs · Augur';
  }, [route]);

  if (session.state === 'loading') return <div className="boot">Loading…</div>;
  if (session.state === 'out') return <Login onIn={refresh} />;
  if (session.state === 'error')
    return (
      <main className="page">
        <ErrorView error={session.error} what="Your session" onRetry={refresh} />
      </main>
    );
  const { me } = session;
  const signOut = async () => {
    await write('POST', '/auth/logout').catch(() => undefined);
    setSession({ state: 'out' });
    navigate('/', { replace: true });
  };
  return (
    <div className={`shell${me.impersonating ? ' impersonating' : ''}`}>
      <header className="topbar">
        <Link to="/" className="brand">
          Augur
        </Link>
        <nav>
          <Link to="/" className={route.name === 'runs' ? 'active' : undefined}>
            Runs
          </Link>
          <Link to="/settings" className={route.name === 'settings' ? 'active' : undefined} testid="nav-settings">
            Settings
          </Link>
        </nav>
        <div className="spacer" />
        {me.user.is_admin ? (
          <TenantSwitcher me={me} onChange={refresh} />
        ) : (
          <span className="workspace" title="Active workspace" data-testid="workspace">
            {me.tenant.name || me.tenant.slug}
          </span>
        )}
        <span className="who" title={me.user.is_admin ? 'Admin' : undefined}>
          {me.user.email}
          {me.user.is_admin && <span className="admin-tag">admin</span>}
        </span>
        <button type="button" onClick={signOut} data-testid="sign-out">
          Sign out
        </button>
      </header>
      {me.impersonating && (
        <div className="imp-banner" role="status" data-testid="impersonation-banner">
          Impersonating workspace <strong>{me.tenant.slug}</strong> — read-only. Your own workspace is {me.home_tenant.slug}.
          <button
            type="button"
            onClick={async () => {
              await write('POST', '/admin/impersonate', { tenant: null });
              await refresh();
            }}
          >
            Stop impersonating
          </button>
        </div>
      )}
      <main className="main" key={me.tenant.id}>
        {route.name === 'runs' && <RunsPage me={me} />}
        {route.name === 'run' && <RunPage me={me} id={route.id} step={route.step} log={route.log} />}
        {route.name === 'settings' && <Settings me={me} />}
        {route.name === 'missing' && (
          <div className="page">
            <ErrorView error={new HttpError(404, 'not_found', '')} what="Page" />
            <Link to="/">Back to runs</Link>
          </div>
        )}
      </main>
    </div>
  );
}
