/**
 * `GET /api/metrics`: the dashboard's JSON metrics over a window (src/services/metrics.service.ts).
 * Read-only, open on loopback like health; any reader token elsewhere.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import { metricsQuerySchema, metricsResponseSchema } from '../../shared/api/metrics.js';
import type { MetricsService } from '../../services/metrics.service.js';
import { READERS } from '../route-access.js';

export interface MetricsRoutesOptions {
  services: { metrics: Pick<MetricsService, 'summary'> };
}

export const metricsRoutes: FastifyPluginAsyncZod<MetricsRoutesOptions> = (app, options) => {
  const { metrics } = options.services;
  app.get(
    '/api/metrics',
    {
      config: { access: { scopes: READERS, openOnLoopback: true } },
      schema: {
        tags: ['metrics'],
        summary: 'FPS, rates, latency percentiles and confidence histogram over a window',
        querystring: metricsQuerySchema,
        response: { 200: metricsResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => metrics.summary(request.query),
  );
  return Promise.resolve();
};
