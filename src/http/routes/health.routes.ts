/** `GET /api/health`: database, blob store, agents and versions; 503 when a dependency is down. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { healthResponseSchema } from '../../shared/api/health.js';
import type { RoutePluginOptions } from '../app-services.js';
import { READERS } from '../route-access.js';

export const healthRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  app.get(
    '/api/health',
    {
      config: { access: { scopes: READERS, openOnLoopback: true } },
      schema: {
        tags: ['health'],
        summary: 'Database, blob store, agents seen and versions',
        response: { 200: healthResponseSchema, 503: healthResponseSchema },
      },
    },
    async (_request, reply) => {
      const health = await services.health.health();
      return reply.code(health.status === 'ok' ? 200 : 503).send(health);
    },
  );
  return Promise.resolve();
};
