/**
 * The dashboard's entry: starts loading the current page's code, then mounts <App/> into
 * #root (replacing index.html's static shell). The page's code is fetched while React renders
 * and the session is checked, not after (docs/dashboard.md#speed).
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { readStoredToken } from './app/auth';
import { routeOf } from './app/routes';
import './app/styles.css';

// Signed out, the sign-in page comes first: nothing to preload.
if (readStoredToken() !== null) {
  void routeOf(window.location.pathname)
    ?.preload()
    .catch(() => undefined);
}

const container = document.getElementById('root');
if (container === null) throw new Error('index.html has no #root');
createRoot(container).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
