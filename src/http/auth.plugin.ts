/**
 * Enforces each route's `config.access` (route-access.ts) before its body is read.
 *
 * - Credentials: `Authorization: Bearer vl_…`. Routes that declare `tokenInQuery` (server-sent
 *   events, which browsers' EventSource opens without headers) also accept `?access_token=`.
 * - A presented credential is always checked: malformed, unknown, revoked or expired → 401
 *   UNAUTHENTICATED, even where the route would be open without one.
 * - A valid token whose scope the route does not list → 403 FORBIDDEN, unless the route is
 *   `openOnLoopback` and the caller is on this machine.
 * - No credential → 401, unless the route is `openOnLoopback` and the caller is on this machine.
 *
 * "On this machine" is decided from the TCP peer address of the socket (127.0.0.0/8, ::1, or
 * an IPv4-mapped loopback address), never from X-Forwarded-For or similar headers, which any
 * client can write. A request that carries forwarding headers is treated as not local even
 * from a loopback peer: a reverse proxy on the same machine adds them, and it forwards
 * outside callers. `loopbackReads: false` turns the loopback rule off entirely.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthService } from '../services/auth.service.js';
import { VisionLoopError } from '../shared/errors.js';
import type { RouteAccess } from './route-access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Accept the token as `?access_token=` too (only for clients that cannot send headers). */
    tokenInQuery?: boolean;
  }
}

export interface AuthPluginOptions {
  auth: Pick<AuthService, 'authenticate'>;
  /** Allow `openOnLoopback` routes without a token from loopback callers. */
  loopbackReads: boolean;
}

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** Whether `address` (a socket's remoteAddress) is a loopback address. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return /^127(\.\d{1,3}){3}$/.test(v4) || address === '::1';
}

/** Whether the request comes straight from a process on this machine (not via a proxy). */
export function isLocalRequest(request: FastifyRequest): boolean {
  if (!isLoopbackAddress(request.raw.socket.remoteAddress)) return false;
  return FORWARDING_HEADERS.every((name) => request.headers[name] === undefined);
}

/** The presented credential: null when none was sent, '' when one was sent malformed. */
function presentedToken(request: FastifyRequest, tokenInQuery: boolean): string | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    return match?.[1] ?? '';
  }
  if (tokenInQuery) {
    const query = request.query;
    if (typeof query === 'object' && query !== null && 'access_token' in query) {
      return typeof query.access_token === 'string' ? query.access_token : '';
    }
  }
  return null;
}

function scopesOf(access: RouteAccess): string {
  return 'scopes' in access ? access.scopes.join(', ') : 'anyone';
}

/**
 * Installs the access check on `app` (the root instance, so it covers every route) and the
 * `request.principal` decoration.
 */
export function registerAuth(app: FastifyInstance, options: AuthPluginOptions): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    const access = config.access;
    if (access === undefined) {
      // Only the not-found handler has none: the app refuses to start with such a route.
      if (request.is404) return;
      throw new VisionLoopError('FORBIDDEN', 'this route declares no access');
    }
    if ('public' in access) return;
    const token = presentedToken(request, config.tokenInQuery === true);
    const localOpen =
      access.openOnLoopback === true && options.loopbackReads && isLocalRequest(request);
    if (token === null) {
      if (localOpen) return;
      throw new VisionLoopError(
        'UNAUTHENTICATED',
        'this route needs an API token: send Authorization: Bearer vl_…',
      );
    }
    const principal = token === '' ? null : await options.auth.authenticate(token);
    if (principal === null) {
      throw new VisionLoopError(
        'UNAUTHENTICATED',
        'the API token is malformed, unknown, revoked or expired',
      );
    }
    request.principal = principal;
    if (access.scopes.includes(principal.scope) || localOpen) return;
    throw new VisionLoopError(
      'FORBIDDEN',
      `a ${principal.scope} token may not do this; it needs one of: ${scopesOf(access)}`,
    );
  });
}
