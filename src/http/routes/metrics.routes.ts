/**
 * `GET /api/metrics`: the dashboard's line statistics over a window (FPS, rates, latency
 * percentiles, confidence histogram; src/services/line-stats.service.ts). Read-only, open on
 * loopback like health; any reader token elsewhere.
 *
 * The three "metrics" of the server, apart: this JSON summary for the dashboard; the Prometheus
 * text at `/metrics` (prometheus.routes.ts, services/prometheus-exporter.ts); and the drift
 * state under `/api/metrics/drift*`, served with the rest of drift by drift.routes.ts (the URL
 * is kept for clients; the handlers stay beside the drift settings they share a service with).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import { metricsQuerySchema, metricsResponseSchema } from '../../shared/api/metrics.js';
import type { LineStatsService } from '../../services/line-stats.service.js';
import { READERS } from '../route-access.js';

export interface MetricsRoutesOptions {
  services: { lineStats: Pick<LineStatsService, 'summary'> };
}

export const metricsRoutes: FastifyPluginAsyncZod<MetricsRoutesOptions> = (app, options) => {
  const { lineStats } = options.services;
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
    (request) => lineStats.summary(request.query),
  );
  return Promise.resolve();
};
