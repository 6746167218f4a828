/**
 * `GET /api/model-status`: model versions agents run and recent results carry, where the
 * registry's `production` and `staging` aliases point, and what this server's inference serves.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { modelStatusResponseSchema } from '../../shared/api/model-status.js';
import type { RoutePluginOptions } from '../app-services.js';
import { READERS } from '../route-access.js';

export const modelStatusRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  app.get(
    '/api/model-status',
    {
      config: { access: { scopes: READERS, openOnLoopback: true } },
      schema: {
        tags: ['models'],
        summary:
          'Model versions agents run and recent results carry; production, staging and what this server serves',
        response: { 200: modelStatusResponseSchema },
      },
    },
    () => services.health.modelStatus(),
  );
  return Promise.resolve();
};
