/**
 * The labeling queue (src/services/labeling.service.ts): list, claim, label, skip, flag,
 * approve, reject, history, statistics, the export of approved labels, and the labeling and
 * class settings. Readers see everything; labelers (and admins) work the queue; admins change
 * the settings. docs/labeling.md.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  approveRequestSchema,
  bulkReviewRequestSchema,
  bulkReviewResponseSchema,
  classesSettingsSchema,
  exportQuerySchema,
  flagRequestSchema,
  historyQuerySchema,
  historyResponseSchema,
  labelRequestSchema,
  labelingItemParamsSchema,
  labelingItemSchema,
  labelingSettingsSchema,
  nextItemResponseSchema,
  queueListQuerySchema,
  queueListResponseSchema,
  rejectRequestSchema,
  skipRequestSchema,
  statsQuerySchema,
  statsResponseSchema,
  updateClassesSettingsSchema,
  updateLabelingSettingsSchema,
} from '../../shared/api/labeling.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, LABELERS, READERS, actorOf } from '../route-access.js';

const GZIP = 'application/gzip';

/** The archive answer: a stream, documented as binary. */
const archiveStreamSchema = z
  .custom<NodeJS.ReadableStream>()
  .meta({ type: 'string', format: 'binary', description: 'a .tar.gz archive' });

const itemErrors = {
  400: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
};

export const labelingRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const labeling = services.labeling;

  app.get(
    '/api/labeling-queue',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Queue items by status, highest priority first',
        querystring: queueListQuerySchema,
        response: { 200: queueListResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => labeling.list(request.query),
  );

  app.get(
    '/api/labeling-queue/next',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Claim the highest-priority waiting item (or get back the one you hold)',
        description:
          'The reviewer’s main entry. Claims are leases (`leaseSeconds` of the labeling ' +
          'settings); calling again renews the lease on the item you hold. `item` is null ' +
          'when nothing waits.',
        response: { 200: nextItemResponseSchema },
      },
    },
    (request) => labeling.next(actorOf(request)),
  );

  app.get(
    '/api/labeling-queue/stats',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Items per status, and throughput per reviewer in a time window',
        querystring: statsQuerySchema,
        response: { 200: statsResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => labeling.stats(request.query),
  );

  app.get(
    '/api/labeling-queue/history',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Items labelled, skipped or flagged, newest first, cursor-paged',
        querystring: historyQuerySchema,
        response: { 200: historyResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => labeling.history(request.query),
  );

  app.get(
    '/api/labeling-queue/export',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'A .tar.gz of approved labels (a snapshot, or every approved label now)',
        description:
          '`format=yolo`: data.yaml, images/{train,val}, labels/{train,val}; `format=coco`: ' +
          'annotations/instances_{train,val}.json beside the images. Streamed; the ' +
          '`x-visionloop-dataset` header names the manifest hash.',
        querystring: exportQuerySchema,
        response: {
          200: { description: 'the archive', content: { [GZIP]: { schema: archiveStreamSchema } } },
          400: errorBodySchema,
          404: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const archive = await services.datasets.exportArchive(
        request.query.format,
        request.query.dataset,
      );
      return reply
        .header('content-type', GZIP)
        .header('content-disposition', `attachment; filename="${archive.filename}"`)
        .header('x-visionloop-dataset', archive.id)
        .send(archive.stream);
    },
  );

  app.get(
    '/api/labeling-queue/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'One item with its pre-labels, labels and frame URL',
        params: labelingItemParamsSchema,
        response: { 200: labelingItemSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => labeling.get(request.params.id),
  );

  app.post(
    '/api/labeling-queue/:id/claim',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Claim an item (a lease); claiming it again renews your lease',
        params: labelingItemParamsSchema,
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.claim(request.params.id, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/:id/label',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Submit your boxes (or noDefects) for an item you claimed',
        params: labelingItemParamsSchema,
        body: labelRequestSchema,
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.label(request.params.id, request.body, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/:id/skip',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Skip an item you claimed (it leaves the queue as skipped)',
        params: labelingItemParamsSchema,
        body: skipRequestSchema.nullish(),
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.skip(request.params.id, request.body ?? {}, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/:id/flag',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Flag an item you claimed as a model mistake, with a reason',
        params: labelingItemParamsSchema,
        body: flagRequestSchema,
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.flag(request.params.id, request.body, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/:id/approve',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: "Approve another reviewer's label: it becomes a reviewed label",
        params: labelingItemParamsSchema,
        body: approveRequestSchema.nullish(),
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.approve(request.params.id, request.body ?? {}, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/:id/reject',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: "Reject another reviewer's label (optionally back into the queue)",
        params: labelingItemParamsSchema,
        body: rejectRequestSchema.nullish(),
        response: { 200: labelingItemSchema, ...itemErrors },
      },
    },
    (request) => labeling.reject(request.params.id, request.body ?? {}, actorOf(request)),
  );

  app.post(
    '/api/labeling-queue/review',
    {
      config: { access: { scopes: LABELERS } },
      schema: {
        tags: ['labeling'],
        summary: 'Approve or reject several labelled items at once',
        description:
          'Each item follows the rules of `/{id}/approve` or `/{id}/reject` (a labeler may not ' +
          'review their own label). Items are independent: the answer is 200 with one result ' +
          'per id, in order, each either the item or the error the single-item route would ' +
          'have answered.',
        body: bulkReviewRequestSchema,
        response: { 200: bulkReviewResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => labeling.bulkReview(request.body, actorOf(request)),
  );

  app.get(
    '/api/settings/labeling',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: 'The labeling settings (second review, lease length)',
        response: { 200: labelingSettingsSchema },
      },
    },
    () => labeling.labelingSettings(),
  );

  app.put(
    '/api/settings/labeling',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['labeling'],
        summary: 'Change the labeling settings',
        body: updateLabelingSettingsSchema,
        response: { 200: labelingSettingsSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) => labeling.updateLabelingSettings(request.body, actorOf(request)),
  );

  app.get(
    '/api/settings/classes',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['labeling'],
        summary: "The deployment's class names, in class-id order",
        response: { 200: classesSettingsSchema },
      },
    },
    () => labeling.classSettings(),
  );

  app.put(
    '/api/settings/classes',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['labeling'],
        summary: 'Set the class names (append-only once labels exist)',
        body: updateClassesSettingsSchema,
        response: { 200: classesSettingsSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) => labeling.updateClasses(request.body, actorOf(request)),
  );
  return Promise.resolve();
};
