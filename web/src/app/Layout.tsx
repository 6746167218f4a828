/**
 * The frame around every page: a skip link, the navigation (from ROUTES, filtered by scope),
 * the live connection's state (text + shape, not colour alone), who is signed in, and sign-out.
 */
import type { ReactNode } from 'react';
import { browserTimeZone } from '../lib/time';
import { useConnectionState } from '../lib/use-events';
import type { ConnectionState } from '../lib/events';
import { useAuth } from './auth';
import { Link, matchPath, useLocation } from './router';
import { ROUTES } from './routes';
import { READERS, allows } from './scopes';

const CONNECTION_TEXT: Record<ConnectionState, { shape: string; text: string; level: string }> = {
  idle: { shape: '○', text: 'Live: off', level: 'unknown' },
  connecting: { shape: '◌', text: 'Live: connecting…', level: 'yellow' },
  open: { shape: '●', text: 'Live', level: 'green' },
  reconnecting: { shape: '▲', text: 'Live: connection lost, reconnecting…', level: 'yellow' },
  closed: { shape: '■', text: 'Live: disconnected', level: 'red' },
};

function ConnectionIndicator() {
  const state = useConnectionState();
  const view = CONNECTION_TEXT[state];
  return (
    <span
      className={`connection level-${view.level}`}
      role="status"
      aria-live="polite"
      data-state={state}
    >
      <span aria-hidden="true">{view.shape}</span> {view.text}
    </span>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { state, signOut, scope } = useAuth();
  const { pathname } = useLocation();
  const session = state.status === 'signed-in' ? state.session : null;
  const pages = ROUTES.filter((route) => route.nav && allows(scope, route.scopes ?? READERS));
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">VisionLoop</span>
        <nav aria-label="Pages">
          <ul>
            {pages.map((route) => {
              const current =
                matchPath(route.path, pathname) !== null ||
                (route.path !== '/' && pathname.startsWith(`${route.path}/`));
              return (
                <li key={route.path}>
                  <Link to={route.path} aria-current={current ? 'page' : undefined}>
                    {route.title}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="topbar-right">
          <ConnectionIndicator />
          {session !== null && (
            <span className="who" title={`token ${session.tokenId}; times in ${browserTimeZone()}`}>
              {session.name} <span className="scope">({session.scope})</span>
            </span>
          )}
          <button type="button" className="button-quiet" onClick={() => signOut(null)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
