/**
 * `POST /api/ingest`: batches of frame results from agents (src/services/ingest.service.ts).
 *
 * Bodies are parsed and validated against the same zod schema in a worker thread
 * (JsonDecodePool), not on the event loop, and prepared there for storage
 * (src/services/ingest-batch.ts): this plugin's own JSON parser hands the raw bytes to the
 * pool, and the route's validator only passes the prepared batch through. The schema still
 * documents the route in OpenAPI, and bad bodies get the same 400 VALIDATION_FAILED answers as
 * everywhere else.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import { ingestBatchRequestSchema, ingestBatchResponseSchema } from '../../shared/api/ingest.js';
import type { PreparedIngestBatch } from '../../services/ingest-batch.js';
import type { RoutePluginOptions } from '../app-services.js';
import { JsonDecodePool } from '../json-decode-pool.js';
import { AGENTS } from '../route-access.js';

export const ingestRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const decoder = new JsonDecodePool();
  app.addHook('onClose', () => decoder.close());
  // This plugin's scope only: its routes parse JSON in the pool.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (_request: FastifyRequest, body: Buffer) =>
      decoder.prepareIngestBatch(body, services.ingest.rowFormat),
  );

  app.post(
    '/api/ingest',
    {
      config: { access: { scopes: AGENTS } },
      // The body was validated against ingestBatchRequestSchema and prepared by the parser above.
      validatorCompiler: () => (value: unknown) => ({ value }),
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
    // The parser's value is a PreparedIngestBatch, not the IngestBatchRequest the schema types.
    (request) => services.ingest.ingestPrepared(request.body as unknown as PreparedIngestBatch),
  );
  return Promise.resolve();
};
