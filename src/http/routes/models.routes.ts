/**
 * The model registry over HTTP (src/services/registry/): list, detail with
 * metrics beside production's, upload (raw `application/octet-stream` ONNX body, version and
 * notes in the query), download of model.onnx and weights.pt, promote, rollback and alias
 * history. Readers read; admins change; agents may download artifacts (they follow
 * `production`).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema, type Scope } from '../../shared/api/common.js';
import {
  MAX_MODEL_UPLOAD_BYTES,
  aliasHistoryQuerySchema,
  aliasHistoryResponseSchema,
  aliasMoveResponseSchema,
  aliasParamsSchema,
  modelDetailResponseSchema,
  modelListQuerySchema,
  modelListResponseSchema,
  modelVersionParamsSchema,
  promoteRequestSchema,
  rollbackRequestSchema,
  uploadModelQuerySchema,
  uploadModelResponseSchema,
} from '../../shared/api/models.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { OpenedBlob } from '../../services/registry/index.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, AGENTS, READERS } from '../route-access.js';
import type { FastifyReply } from 'fastify';

const OCTET_STREAM = 'application/octet-stream';

/** Readers, and agents (which download the production artifact). */
export const ARTIFACT_READERS = [...new Set([...READERS, ...AGENTS])];

const onnxBodySchema = z
  .custom<Buffer>((value) => Buffer.isBuffer(value), 'the body must be the ONNX file')
  .meta({ type: 'string', format: 'binary', description: 'the model.onnx bytes' });

const fileStreamSchema = z
  .custom<NodeJS.ReadableStream>()
  .meta({ type: 'string', format: 'binary', description: 'the file' });

function isOctetStream(header: string | undefined): boolean {
  return header !== undefined && header.split(';')[0]?.trim().toLowerCase() === OCTET_STREAM;
}

function sendFile(reply: FastifyReply, file: OpenedBlob): FastifyReply {
  return reply
    .header('content-type', OCTET_STREAM)
    .header('content-length', file.bytes)
    .header('content-disposition', `attachment; filename="${file.fileName}"`)
    .header('etag', `"${file.sha256}"`)
    .header('x-visionloop-sha256', file.sha256)
    .header('cache-control', 'private, max-age=31536000, immutable')
    .send(file.stream);
}

export const modelsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const registry = services.models;

  app.addContentTypeParser(
    OCTET_STREAM,
    { parseAs: 'buffer', bodyLimit: MAX_MODEL_UPLOAD_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.get(
    '/api/models',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['models'],
        summary: 'Registered model versions (newest first) and every alias',
        querystring: modelListQuerySchema,
        response: { 200: modelListResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => registry.list(request.query),
  );

  app.get(
    '/api/models/:version',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['models'],
        summary: "One version's lineage and metrics, side by side with production's",
        params: modelVersionParamsSchema,
        response: { 200: modelDetailResponseSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => registry.detail(request.params.version),
  );

  app.post(
    '/api/models',
    {
      config: { access: { scopes: ADMINS } },
      bodyLimit: MAX_MODEL_UPLOAD_BYTES,
      schema: {
        tags: ['models'],
        summary: 'Upload an ONNX model exported elsewhere (Ultralytics or VisionLoop)',
        description:
          'Raw body `application/octet-stream`: the model.onnx bytes. The model must be ONNX ' +
          "with Ultralytics metadata ('names', optionally 'imgsz'), name exactly the " +
          "deployment's classes in order, and load and run in ONNX Runtime with a supported " +
          'output layout; otherwise 422 with MODEL_NOT_ONNX, MODEL_METADATA_INVALID, ' +
          'MODEL_CLASSES_MISMATCH, MODEL_LAYOUT_UNSUPPORTED or MODEL_LOAD_FAILED. ' +
          'The registry writes the version into the file as `visionloop_version`.',
        consumes: [OCTET_STREAM],
        querystring: uploadModelQuerySchema,
        body: onnxBodySchema,
        response: {
          200: uploadModelResponseSchema,
          201: uploadModelResponseSchema,
          400: errorBodySchema,
          409: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
        },
      },
      preValidation: (request, _reply, done) => {
        if (!isOctetStream(request.headers['content-type'])) {
          done(new VisionLoopError('UNSUPPORTED_MEDIA_TYPE', `send the model as ${OCTET_STREAM}`));
          return;
        }
        done();
      },
    },
    async (request, reply) => {
      const result = await registry.register({
        artifact: request.body,
        version: request.query.version,
        notes: request.query.notes ?? null,
        source: 'uploaded',
        actor: request.principal?.name ?? null,
      });
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );

  /** GET a version's file (`name`) as a stream; `x-visionloop-sha256` carries its sha256. */
  const fileRoute = (
    path: string,
    name: 'model.onnx' | 'weights.pt',
    scopes: readonly Scope[],
    summary: string,
    open: (version: string) => Promise<OpenedBlob>,
  ) =>
    app.get(
      path,
      {
        config: { access: { scopes } },
        schema: {
          tags: ['models'],
          summary,
          params: modelVersionParamsSchema,
          response: {
            200: {
              description: name,
              content: { [OCTET_STREAM]: { schema: fileStreamSchema } },
            },
            400: errorBodySchema,
            404: errorBodySchema,
          },
        },
      },
      async (request, reply) => sendFile(reply, await open(request.params.version)),
    );
  fileRoute(
    '/api/models/:version/artifact',
    'model.onnx',
    ARTIFACT_READERS,
    "A version's model.onnx (the `x-visionloop-sha256` header has its sha256)",
    (version) => registry.openArtifact(version),
  );
  fileRoute(
    '/api/models/:version/weights',
    'weights.pt',
    READERS,
    "A version's weights.pt (404 for ONNX-only uploads)",
    (version) => registry.openWeights(version),
  );

  app.post(
    '/api/models/:version/promote',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['models'],
        summary: 'Point an alias (production, staging, any name) at this version',
        description:
          "Moving `production` also swaps this server's /api/predict model; `serving` says " +
          'what happened (on a load failure the old model keeps serving and the alias move ' +
          'stands). Agents follow `production` by themselves.',
        params: modelVersionParamsSchema,
        body: promoteRequestSchema,
        response: {
          200: aliasMoveResponseSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    (request) =>
      registry.promote(request.params.version, request.body.alias, {
        actor: request.principal?.name ?? null,
        reason: request.body.reason ?? null,
        force: request.body.force ?? false,
      }),
  );

  app.post(
    '/api/models/aliases/:alias/rollback',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['models'],
        summary: 'Move an alias back to the version it pointed at before its latest move',
        description: '409 when the alias has no previous version; 404 when it does not exist.',
        params: aliasParamsSchema,
        // Optional: a POST without a body (Fastify passes null) rolls back with a default reason.
        body: rollbackRequestSchema.nullish(),
        response: {
          200: aliasMoveResponseSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    (request) =>
      registry.rollback(request.params.alias, {
        actor: request.principal?.name ?? null,
        reason: request.body?.reason ?? null,
      }),
  );

  app.get(
    '/api/models/aliases/:alias/history',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['models'],
        summary: 'Every move of an alias: who, from which version to which, when and why',
        params: aliasParamsSchema,
        querystring: aliasHistoryQuerySchema,
        response: { 200: aliasHistoryResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => registry.history(request.params.alias, request.query.limit),
  );
  return Promise.resolve();
};
