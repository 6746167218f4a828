/**
 * `POST /api/ingest`: batches of frame results from agents (src/services/ingest.service.ts).
 *
 * Bodies are parsed and validated against the API contract's zod schema in a worker thread
 * (JsonDecodePool), not on the event loop: this plugin's only content-type parser hands the
 * raw JSON bytes to the pool, and the route's validator accepts exactly what that parser
 * produced. So the shape of the body is decided here, once: a body of any other content type
 * is a 415 UNSUPPORTED_MEDIA_TYPE, a missing body a 400 VALIDATION_FAILED, a bad JSON body the
 * same 400 VALIDATION_FAILED answers as everywhere else — and the handler only ever sees an
 * `IngestBatchRequest`. The schema still documents the route in OpenAPI.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  ingestBatchRequestSchema,
  ingestBatchResponseSchema,
  type IngestBatchRequest,
} from '../../shared/api/ingest.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { RoutePluginOptions } from '../app-services.js';
import { JsonDecodePool } from '../json-decode-pool.js';
import { AGENTS } from '../route-access.js';

export const ingestRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const decoder = new JsonDecodePool();
  app.addHook('onClose', () => decoder.close());
  /** Bodies this plugin's parser decoded (validated in the pool), and nothing else. */
  const decoded = new WeakSet<IngestBatchRequest>();
  // This plugin's scope only: JSON is the one content type its routes take, parsed in the pool.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    async (_request: FastifyRequest, body: Buffer) => {
      const batch = await decoder.decode('ingest-batch', body);
      decoded.add(batch);
      return batch;
    },
  );

  app.post(
    '/api/ingest',
    {
      config: { access: { scopes: AGENTS } },
      // The body was validated against ingestBatchRequestSchema by the parser above; anything
      // else arrived without a body (Fastify parses nothing then) and is refused here.
      validatorCompiler: () => (value: unknown) =>
        typeof value === 'object' && value !== null && decoded.has(value as IngestBatchRequest)
          ? { value }
          : {
              error: new VisionLoopError(
                'VALIDATION_FAILED',
                'the body is required: a JSON ingest batch (content-type application/json)',
              ),
            },
      schema: {
        tags: ['ingest'],
        summary: 'Store a batch of frame results (idempotent by result id)',
        description:
          'Answers after the batch is committed. Results whose id is already stored are counted ' +
          'as duplicates and not stored again, so a batch may be retried safely. The body must ' +
          'be `application/json`.',
        body: ingestBatchRequestSchema,
        response: {
          200: ingestBatchResponseSchema,
          400: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
        },
      },
    },
    (request) => services.ingest.ingest(request.body),
  );
  return Promise.resolve();
};
