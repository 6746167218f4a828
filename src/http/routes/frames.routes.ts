/**
 * `PUT /api/frames/{id}` (an agent uploads the JPEG of a stored result) and
 * `GET /api/frames/{id}` (the JPEG back). The body is raw `image/jpeg`, limited to the frame
 * body limit; every other content type is refused with 415 before anything is read.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api/common.js';
import { frameIdParamsSchema, frameUploadResponseSchema } from '../../shared/api/ingest.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { RoutePluginOptions } from '../app-services.js';
import { AGENTS, READERS } from '../route-access.js';

const JPEG = 'image/jpeg';

/** The raw JPEG body; documented as binary. */
const jpegBodySchema = z
  .custom<Buffer>((value) => Buffer.isBuffer(value), 'the body must be the JPEG bytes')
  .meta({ type: 'string', format: 'binary', description: 'the JPEG bytes' });

/** The JPEG answer: a stream of the stored bytes, documented as binary. */
const jpegStreamSchema = z
  .custom<NodeJS.ReadableStream>()
  .meta({ type: 'string', format: 'binary', description: 'the JPEG bytes' });

function isJpegContentType(header: string | undefined): boolean {
  return header !== undefined && header.split(';')[0]?.trim().toLowerCase() === JPEG;
}

export const framesRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services, limits },
) => {
  app.addContentTypeParser(
    JPEG,
    { parseAs: 'buffer', bodyLimit: limits.frameBytes },
    (_request, body, done) => done(null, body),
  );

  app.put(
    '/api/frames/:id',
    {
      config: { access: { scopes: AGENTS } },
      bodyLimit: limits.frameBytes,
      schema: {
        tags: ['frames'],
        summary: 'Upload the JPEG of a stored frame result (idempotent)',
        description:
          'The result must be stored first (404 otherwise: retry later). The same JPEG may be ' +
          'sent again; a different one for the same result is a 409.',
        consumes: [JPEG],
        params: frameIdParamsSchema,
        body: jpegBodySchema,
        response: {
          200: frameUploadResponseSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
        },
      },
      preValidation: (request, _reply, done) => {
        if (!isJpegContentType(request.headers['content-type'])) {
          done(new VisionLoopError('UNSUPPORTED_MEDIA_TYPE', `send the frame as ${JPEG}`));
          return;
        }
        done();
      },
    },
    (request) => services.frames.storeFrame(request.params.id, request.body),
  );

  app.get(
    '/api/frames/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['frames'],
        summary: 'The uploaded JPEG of a frame result',
        params: frameIdParamsSchema,
        response: {
          200: {
            description: 'the JPEG',
            content: { [JPEG]: { schema: jpegStreamSchema } },
          },
          404: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const frame = await services.frames.openFrame(request.params.id);
      return reply
        .header('content-type', JPEG)
        .header('content-length', frame.bytes)
        .header('etag', `"${frame.key}"`)
        .header('cache-control', 'private, max-age=86400, immutable')
        .send(frame.stream);
    },
  );
  return Promise.resolve();
};
