/**
 * Dataset snapshots (src/services/dataset.service.ts): list and read them (readers), create
 * one from the reviewed labels, and import a YOLO data set uploaded as a .tar or .tar.gz
 * (admins). The upload is streamed into a temporary directory, never buffered whole; unsafe
 * archive entries (`../`, absolute paths, links) are refused before anything is stored.
 * Exports are `GET /api/labeling-queue/export?dataset=…`.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  createSnapshotRequestSchema,
  datasetIdParamsSchema,
  datasetInfoSchema,
  datasetListResponseSchema,
  importQuerySchema,
  snapshotResultSchema,
} from '../../shared/api/datasets.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS, actorOf } from '../route-access.js';

/** Content types an archive upload may declare. */
const ARCHIVE_TYPES = ['application/gzip', 'application/x-gzip', 'application/x-tar'];

function isArchiveContentType(header: string | undefined): boolean {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && ARCHIVE_TYPES.includes(type);
}

const archiveBodySchema = z
  .custom<Readable>((value) => value instanceof Readable, 'the body must be the archive bytes')
  .meta({ type: 'string', format: 'binary', description: 'a .tar or .tar.gz of a YOLO data set' });

const importResultSchema = snapshotResultSchema
  .extend({
    /** Images written as reviewed labels (0 when the same snapshot already existed). */
    images: z.number().int().min(0),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'DatasetImportResult' });

export const datasetsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const datasets = services.datasets;

  // The upload is handed over as the request stream; the service unpacks it as it arrives.
  app.addContentTypeParser(ARCHIVE_TYPES, (_request, payload, done) => done(null, payload));

  app.get(
    '/api/datasets',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['datasets'],
        summary: 'Dataset snapshots, newest first, with their counts',
        response: { 200: datasetListResponseSchema },
      },
    },
    () => datasets.list(),
  );

  app.get(
    '/api/datasets/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['datasets'],
        summary: 'One snapshot: parent, counts, provenance',
        params: datasetIdParamsSchema,
        response: { 200: datasetInfoSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => datasets.get(request.params.id),
  );

  app.post(
    '/api/datasets',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['datasets'],
        summary: 'Snapshot the reviewed labels (and a replay sample of earlier snapshots)',
        description:
          '201 with the new snapshot; 200 when a snapshot with the same manifest already ' +
          'existed (nothing is written).',
        body: createSnapshotRequestSchema,
        response: {
          200: snapshotResultSchema,
          201: snapshotResultSchema,
          400: errorBodySchema,
          404: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const result = await datasets.createSnapshot(request.body, actorOf(request));
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );

  app.post(
    '/api/datasets/import',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['datasets'],
        summary: 'Import a YOLO data set (.tar or .tar.gz upload) as reviewed labels + snapshot',
        description:
          'Everything is validated before anything is stored: a malformed label row is ' +
          'reported with its file and line, and nothing is half-imported.',
        consumes: ARCHIVE_TYPES,
        querystring: importQuerySchema,
        body: archiveBodySchema,
        response: {
          200: importResultSchema,
          201: importResultSchema,
          400: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
        },
      },
      preValidation: (request, _reply, done) => {
        if (!isArchiveContentType(request.headers['content-type'])) {
          done(
            new VisionLoopError(
              'UNSUPPORTED_MEDIA_TYPE',
              `send the archive as ${ARCHIVE_TYPES.join(' or ')}`,
            ),
          );
          return;
        }
        done();
      },
    },
    async (request, reply) => {
      const result = await datasets.importArchive(request.body, request.query, actorOf(request));
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );
  return Promise.resolve();
};
