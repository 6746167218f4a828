/**
 * `GET /metrics`: Prometheus text exposition (src/services/prometheus-exporter.ts). Open on
 * loopback so a local Prometheus scrapes without a token; a remote one sends a reader token as
 * a bearer credential.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PrometheusExporter } from '../../services/prometheus-exporter.js';
import { READERS } from '../route-access.js';

export interface PrometheusRoutesOptions {
  services: { prometheus: Pick<PrometheusExporter, 'metricsText' | 'contentType'> };
}

export const prometheusRoutes: FastifyPluginAsyncZod<PrometheusRoutesOptions> = (app, options) => {
  const { prometheus } = options.services;
  app.get(
    '/metrics',
    {
      config: { access: { scopes: READERS, openOnLoopback: true } },
      schema: {
        tags: ['metrics'],
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: z.string() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const text = await prometheus.metricsText();
      return reply.header('content-type', prometheus.contentType).send(text);
    },
  );
  return Promise.resolve();
};
