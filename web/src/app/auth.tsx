/**
 * Sign-in state: the token (kept in localStorage so a reload stays signed in), the session the
 * server reports for it (`GET /api/session`: name and scope), and the notice shown on the
 * sign-in page after a sign-out the user did not ask for (revoked or expired token).
 *
 * Any API answer 401 signs out (api.onUnauthenticated), and so does a live stream the server
 * refuses once the session check fails: a revoked token returns the user to sign-in.
 */
import type { ReactNode } from 'react';
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { Scope } from '../../../src/shared/api/common';
import type { SessionResponse } from '../../../src/shared/api/session';
import { sessionResponseSchema } from '../../../src/shared/api/session';
import { ApiClient, ApiError, api, errorMessage } from '../lib/api';
import { events } from '../lib/events';
import { TOKEN_STORAGE_KEY } from './boot';
import { allows } from './scopes';

/** Where the token is kept (index.html's start-up script, boot.ts, reads it too). */
export const STORAGE_KEY = TOKEN_STORAGE_KEY;

export type AuthState =
  | { status: 'checking' }
  | { status: 'signed-out'; notice: string | null }
  | { status: 'signed-in'; session: SessionResponse };

export interface AuthContextValue {
  state: AuthState;
  /** The signed-in scope, null when signed out. */
  scope: Scope | null;
  /** Checks `token` with the server; resolves with an error message for the field, or null. */
  signIn: (token: string) => Promise<string | null>;
  signOut: (notice?: string | null) => void;
  /** True when the signed-in scope is one of `allowed`. */
  can: (allowed: readonly Scope[]) => boolean;
}

const AuthContext = createContext<AuthContextValue | null>(null);

export function readStoredToken(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) window.localStorage.removeItem(STORAGE_KEY);
    else window.localStorage.setItem(STORAGE_KEY, token);
  } catch {
    // private mode: the session lasts until reload
  }
}

/** Asks the server who `token` is, without the app-wide 401 sign-out. */
async function checkToken(token: string): Promise<SessionResponse> {
  const probe = new ApiClient();
  probe.setToken(token);
  return probe.get('/api/session', sessionResponseSchema);
}

/**
 * The start-up check of the stored `token`: the request index.html sent (boot.ts) while the app's code
 * was loading when it was for this token (taken once), else a new one.
 */
function checkStoredToken(token: string): Promise<SessionResponse> {
  const early = window.__visionloopSession;
  delete window.__visionloopSession;
  if (early === undefined || early.token !== token) return checkToken(token);
  return new ApiClient().adopt('/api/session', early.response, sessionResponseSchema);
}

export const SESSION_ENDED_NOTICE =
  'Your session ended: the token was revoked or has expired. Sign in with a valid token.';

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>(() =>
    readStoredToken() === null ? { status: 'signed-out', notice: null } : { status: 'checking' },
  );

  const signOut = useCallback((notice: string | null = null) => {
    storeToken(null);
    api.setToken(null);
    events.stop();
    setState({ status: 'signed-out', notice });
  }, []);

  const accept = useCallback((token: string, session: SessionResponse) => {
    storeToken(token);
    api.setToken(token);
    events.start(token);
    setState({ status: 'signed-in', session });
  }, []);

  const signIn = useCallback(
    async (raw: string): Promise<string | null> => {
      const token = raw.trim();
      if (token === '') return 'Enter a token.';
      if (!/^vl_[A-Za-z0-9_-]{43}$/.test(token)) {
        return 'This is not a VisionLoop token: tokens start with vl_ followed by 43 letters, digits, - or _.';
      }
      try {
        const session = await checkToken(token);
        if (session.scope === 'agent') {
          return 'This is an agent token: it can send results but not open the dashboard. Use a viewer, labeler or admin token.';
        }
        accept(token, session);
        return null;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          return `The server does not accept this token: ${error.message}`;
        }
        return `Cannot sign in: ${errorMessage(error)}`;
      }
    },
    [accept],
  );

  // A stored token: check it once at start. The live channel opens meanwhile (a token the
  // check refuses signs out, which closes it): the overview's live data does not wait.
  useEffect(() => {
    const token = readStoredToken();
    if (token === null) return;
    events.start(token);
    checkStoredToken(token).then(
      (session) => accept(token, session),
      (error: unknown) => {
        const ended = error instanceof ApiError && error.status === 401;
        signOut(ended ? SESSION_ENDED_NOTICE : `Cannot reach the server: ${errorMessage(error)}`);
      },
    );
  }, [accept, signOut]);

  // Any 401 from the API, or a live stream refused for a token that no longer works.
  useEffect(() => {
    api.onUnauthenticated = () => signOut(SESSION_ENDED_NOTICE);
    events.onGiveUp = async () => {
      const token = api.getToken();
      if (token === null) return;
      try {
        await checkToken(token);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) signOut(SESSION_ENDED_NOTICE);
      }
    };
    return () => {
      api.onUnauthenticated = null;
      events.onGiveUp = null;
    };
  }, [signOut]);

  const scope = state.status === 'signed-in' ? state.session.scope : null;
  const value = useMemo<AuthContextValue>(
    () => ({ state, scope, signIn, signOut, can: (allowed) => allows(scope, allowed) }),
    [state, scope, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (value === null) throw new Error('useAuth outside <AuthProvider>');
  return value;
}

/** True when the signed-in token's scope is one of `allowed` (e.g. ADMINS from ./scopes). */
export function useCan(allowed: readonly Scope[]): boolean {
  return useAuth().can(allowed);
}

/** Renders `children` only for the scopes in `allowed` (e.g. action buttons). */
export function IfScope({ allowed, children }: { allowed: readonly Scope[]; children: ReactNode }) {
  return useCan(allowed) ? <>{children}</> : null;
}
