/**
 * `GET /api/session`: the caller's token (id, name, scope). Any valid token may ask — the
 * dashboard uses it to check a token at sign-in and to decide what to show. Never open without
 * a token (not even on loopback): the answer describes the token presented.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { SCOPES, errorBodySchema } from '../../shared/api/common.js';
import { sessionResponseSchema } from '../../shared/api/session.js';
import type { RoutePluginOptions } from '../app-services.js';
import { VisionLoopError } from '../../shared/errors.js';

export const sessionRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app) => {
  app.get(
    '/api/session',
    {
      config: { access: { scopes: SCOPES } },
      schema: {
        tags: ['tokens'],
        summary: "The presented token's id, name and scope",
        response: { 200: sessionResponseSchema, 401: errorBodySchema },
      },
    },
    (request, reply) => {
      const principal = request.principal;
      if (principal === null) throw new VisionLoopError('UNAUTHENTICATED', 'send a token');
      void reply.header('cache-control', 'no-store');
      return Promise.resolve({
        tokenId: principal.tokenId,
        name: principal.name,
        scope: principal.scope,
        serverTime: Date.now(),
      });
    },
  );
  return Promise.resolve();
};
