/**
 * Drift monitoring (src/services/drift.service.ts): the latest state per camera (open on
 * loopback, like the other metrics), its history, an on-demand check, a baseline reset, and the
 * `drift` settings.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  driftBaselineRequestSchema,
  driftBaselineStateSchema,
  driftCheckQuerySchema,
  driftCheckResponseSchema,
  driftHistoryQuerySchema,
  driftHistoryResponseSchema,
  driftSettingsSchema,
  driftStatusQuerySchema,
  driftStatusResponseSchema,
  updateDriftSettingsRequestSchema,
} from '../../shared/api/drift.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS } from '../route-access.js';

export const driftRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const drift = services.drift;

  app.get(
    '/api/metrics/drift',
    {
      config: { access: { scopes: READERS, openOnLoopback: true } },
      schema: {
        tags: ['drift'],
        summary:
          'Latest drift state: overall level and share, and per camera the p-values, drifted features, reference, window and reason',
        querystring: driftStatusQuerySchema,
        response: { 200: driftStatusResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => drift.status(request.query),
  );

  app.get(
    '/api/metrics/drift/history',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['drift'],
        summary: 'Drift reports over a time range (default the last 24 h), oldest first',
        querystring: driftHistoryQuerySchema,
        response: { 200: driftHistoryResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => drift.history(request.query),
  );

  app.post(
    '/api/metrics/drift/check',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['drift'],
        summary:
          'Queue a drift check (one camera, or every camera with recent traffic); 202 with the jobs, or with wait=true 200 with the reports once they finish',
        querystring: driftCheckQuerySchema,
        response: {
          200: driftCheckResponseSchema,
          202: driftCheckResponseSchema,
          400: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const result = await drift.requestCheck(request.query);
      return reply.code(result.complete ? 200 : 202).send(result);
    },
  );

  app.post(
    '/api/metrics/drift/baseline',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['drift'],
        summary:
          'Take a new baseline from now on (every camera, or one): checks compare with it once enough frames arrived',
        body: driftBaselineRequestSchema,
        response: { 200: driftBaselineStateSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) =>
      drift.resetBaseline(request.body.reason ?? 'baseline reset by an admin', {
        camera: request.body.camera,
        actor: request.principal?.name ?? null,
      }),
  );

  app.get(
    '/api/settings/drift',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['drift'],
        summary: 'The drift monitor settings (windows, baseline, thresholds, schedule)',
        response: { 200: driftSettingsSchema },
      },
    },
    () => drift.settings(),
  );

  app.put(
    '/api/settings/drift',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['drift'],
        summary: 'Change the drift monitor settings',
        body: updateDriftSettingsRequestSchema,
        response: { 200: driftSettingsSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) => drift.updateSettings(request.body, request.principal?.name ?? null),
  );
  return Promise.resolve();
};
