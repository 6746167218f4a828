/** `POST /api/ingest`: batches of frame results from agents (src/services/ingest.service.ts). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import { ingestBatchRequestSchema, ingestBatchResponseSchema } from '../../shared/api/ingest.js';
import type { RoutePluginOptions } from '../app.js';
import { AGENTS } from '../route-access.js';

export const ingestRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  app.post(
    '/api/ingest',
    {
      config: { access: { scopes: AGENTS } },
      schema: {
        tags: ['ingest'],
        summary: 'Store a batch of frame results (idempotent by result id)',
        description:
          'Answers after the batch is committed. Results whose id is already stored are counted ' +
          'as duplicates and not stored again, so a batch may be retried safely.',
        body: ingestBatchRequestSchema,
        response: {
          200: ingestBatchResponseSchema,
          400: errorBodySchema,
          413: errorBodySchema,
        },
      },
    },
    (request) => services.ingest.ingest(request.body),
  );
  return Promise.resolve();
};
