/**
 * Who may call a route, declared on the route itself (`config: { access }`) so the auth plugin
 * enforces one rule everywhere and the auth-matrix test can read it back. A route without an
 * `access` declaration is refused at start-up: nothing is open by accident.
 */
import type { FastifyRequest } from 'fastify';
import type { Scope } from '../shared/api/common.js';
import { VisionLoopError } from '../shared/errors.js';

export type RouteAccess =
  /** Anyone (the OpenAPI document, the dashboard's static files). */
  | { public: true }
  /** A token with one of `scopes`; with `openOnLoopback`, also any caller from 127.0.0.1/::1. */
  | { scopes: readonly Scope[]; openOnLoopback?: boolean };

/** The caller, once its token checked out. */
export interface Principal {
  tokenId: string;
  name: string;
  scope: Scope;
}

/** Reading anything: viewers, labelers, admins. */
export const READERS: readonly Scope[] = ['viewer', 'labeler', 'admin'];
/** Working the labeling queue. */
export const LABELERS: readonly Scope[] = ['labeler', 'admin'];
/** Changing the system. */
export const ADMINS: readonly Scope[] = ['admin'];
/** Agents sending results (admins may too, for tools and tests). */
export const AGENTS: readonly Scope[] = ['agent', 'admin'];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The authenticated caller; null for public routes and loopback-open reads without a token. */
    principal: Principal | null;
  }
}

/**
 * The authenticated caller of a route that needs a token (the auth plugin has already refused a
 * request without one, so the error is a guard, not a path). Services take it as their `Actor`.
 */
export function actorOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (principal === null) {
    throw new VisionLoopError('UNAUTHENTICATED', 'this route needs an API token');
  }
  return principal;
}
