/**
 * The server's own inference: `POST /api/predict` (a raw JPEG or PNG body, limited like frame
 * uploads → detections from the production model, with the version that produced them) and
 * `POST /api/reload` (load production again in a fresh session and hot-swap to it). See
 * src/services/model-serving.service.ts for the swap.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  predictQuerySchema,
  predictResponseSchema,
  servingOutcomeSchema,
} from '../../shared/api/models.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS } from '../route-access.js';

const IMAGE_TYPES = ['image/jpeg', 'image/png'] as const;

const imageBodySchema = z
  .custom<Buffer>((value) => Buffer.isBuffer(value), 'the body must be the image bytes')
  .meta({ type: 'string', format: 'binary', description: 'a JPEG or PNG image' });

function isImageContentType(header: string | undefined): boolean {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && (IMAGE_TYPES as readonly string[]).includes(type);
}

export const predictRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services, limits },
) => {
  const serving = services.modelServing;

  app.addContentTypeParser(
    [...IMAGE_TYPES],
    { parseAs: 'buffer', bodyLimit: limits.frameBytes },
    (_request, body, done) => done(null, body),
  );

  app.post(
    '/api/predict',
    {
      config: { access: { scopes: READERS } },
      bodyLimit: limits.frameBytes,
      schema: {
        tags: ['models'],
        summary: 'Detect defects in one image with the production model',
        description:
          'Raw body `image/jpeg` or `image/png` (at most the frame upload limit). The answer ' +
          'names the model version that produced it; during a hot swap a request runs wholly ' +
          'on the old or wholly on the new model. 503 MODEL_NOT_SERVING before a model loaded.',
        consumes: [...IMAGE_TYPES],
        querystring: predictQuerySchema,
        body: imageBodySchema,
        response: {
          200: predictResponseSchema,
          400: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
          503: errorBodySchema,
        },
      },
      preValidation: (request, _reply, done) => {
        if (!isImageContentType(request.headers['content-type'])) {
          done(
            new VisionLoopError(
              'UNSUPPORTED_MEDIA_TYPE',
              `send the image as ${IMAGE_TYPES.join(' or ')}`,
            ),
          );
          return;
        }
        done();
      },
    },
    (request) => serving.predict(request.body, request.query),
  );

  app.post(
    '/api/reload',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['models'],
        summary: 'Serve the production model now (hot-swap to it when it is not serving)',
        description:
          'Swaps when production is not what serves (moved by another process, or an earlier ' +
          'load failed): load in a new session, contract check, warm-up, then an atomic ' +
          'switch; requests in flight finish on the old session, which is released after ' +
          'them. `swapped: false` when production already serves. On failure the old model ' +
          'keeps serving and the error says why.',
        response: {
          200: servingOutcomeSchema,
          404: errorBodySchema,
          422: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    (request) => serving.reload(request.principal?.name ?? null),
  );
  return Promise.resolve();
};
