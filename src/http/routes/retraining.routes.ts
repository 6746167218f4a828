/**
 * The retraining loop (src/services/retraining.service.ts, docs/retraining.md): the policy's
 * conditions, the current training's status, the event history, a manual trigger and cancel
 * (admins), and the `retraining` settings.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  retrainingCancelRequestSchema,
  retrainingCancelResponseSchema,
  retrainingConditionsResponseSchema,
  retrainingHistoryQuerySchema,
  retrainingHistoryResponseSchema,
  retrainingSettingsSchema,
  retrainingStatusSchema,
  retrainingTriggerRequestSchema,
  retrainingTriggerResponseSchema,
  updateRetrainingSettingsRequestSchema,
} from '../../shared/api/retraining.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS } from '../route-access.js';

export const retrainingRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const retraining = services.retraining;

  app.get(
    '/api/retraining/conditions',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['retraining'],
        summary:
          'What holds now (new labels, drift, cooldown, one at a time) and why a training would or would not start',
        response: { 200: retrainingConditionsResponseSchema },
      },
    },
    () => retraining.conditions(),
  );

  app.post(
    '/api/retraining/trigger',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['retraining'],
        summary:
          'Queue a training now (skips thresholds and cooldown), of the detector or (`stage`) the classify / segment stage from reviewed crop classes / polygons; 409 RETRAINING_IN_PROGRESS while one is queued or running, 409 CONFLICT naming the counts when a stage has too few labelled crops',
        body: retrainingTriggerRequestSchema,
        response: {
          202: retrainingTriggerResponseSchema,
          400: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const result = await retraining.trigger(request.body, request.principal?.name ?? null);
      return reply.code(202).send(result);
    },
  );

  app.get(
    '/api/retraining/status',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['retraining'],
        summary:
          'The current or last training: idle, queued, running (epoch, loss, ETA), evaluating, completed, failed or cancelled',
        response: { 200: retrainingStatusSchema },
      },
    },
    () => retraining.status(),
  );

  app.get(
    '/api/retraining/history',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['retraining'],
        summary: 'Retraining events, newest first (queued, started, …, promoted or rejected)',
        querystring: retrainingHistoryQuerySchema,
        response: { 200: retrainingHistoryResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => retraining.history(request.query),
  );

  app.post(
    '/api/retraining/cancel',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['retraining'],
        summary:
          'Cancel the queued or running training (or jobId); 409 RETRAINING_NOT_RUNNING when none is',
        body: retrainingCancelRequestSchema,
        response: {
          200: retrainingCancelResponseSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    (request) => retraining.cancel(request.body, request.principal?.name ?? null),
  );

  app.get(
    '/api/settings/retraining',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['retraining'],
        summary: 'The retraining policy, gate and trainer settings',
        response: { 200: retrainingSettingsSchema },
      },
    },
    () => retraining.settings(),
  );

  app.put(
    '/api/settings/retraining',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['retraining'],
        summary: 'Change the retraining settings',
        body: updateRetrainingSettingsRequestSchema,
        response: { 200: retrainingSettingsSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) => retraining.updateSettings(request.body, request.principal?.name ?? null),
  );
  return Promise.resolve();
};
