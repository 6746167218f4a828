/**
 * Shadow and canary rollouts over HTTP (docs/rollouts.md, src/services/rollout.service.ts):
 * start one, list them with their live metrics, read one, promote or roll back by hand.
 * Readers read; admins start and end rollouts.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  endRolloutRequestSchema,
  rolloutDetailSchema,
  rolloutIdParamsSchema,
  rolloutListResponseSchema,
  rolloutSchema,
  startRolloutRequestSchema,
} from '../../shared/api/rollouts.js';
import type { RolloutService } from '../../services/rollout.service.js';
import { ADMINS, READERS } from '../route-access.js';

/** What the plugin needs (`RoutePluginOptions` fits once AppServices has `rollouts`). */
export interface RolloutRoutesOptions {
  services: {
    rollouts: Pick<RolloutService, 'start' | 'list' | 'detail' | 'promote' | 'rollback'>;
  };
}

export const rolloutsRoutes: FastifyPluginAsyncZod<RolloutRoutesOptions> = (app, { services }) => {
  const rollouts = services.rollouts;

  app.post(
    '/api/rollouts',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['rollouts'],
        summary: 'Start a shadow or canary rollout of a candidate version for one stage',
        description:
          'One running rollout per stage. 422 MODEL_TASK_MISMATCH when the candidate does not do ' +
          "the stage's task; 409 ROLLOUT_CONFLICT when one runs already, the stage's alias is " +
          'empty, or it already points at the candidate. A canary writes a `canary` step to the ' +
          'alias history.',
        body: startRolloutRequestSchema,
        response: {
          201: rolloutSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
          422: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const rollout = await rollouts.start(request.body, request.principal?.name ?? null);
      return reply.code(201).send(rollout);
    },
  );

  app.get(
    '/api/rollouts',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['rollouts'],
        summary: "Rollouts, newest first (the latest 200); metrics are in each one's detail",
        response: { 200: rolloutListResponseSchema },
      },
    },
    async () => ({ rollouts: await rollouts.list() }),
  );

  app.get(
    '/api/rollouts/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['rollouts'],
        summary: 'One rollout with its live metrics: candidate vs baseline, per camera, verdict',
        params: rolloutIdParamsSchema,
        response: { 200: rolloutDetailSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => rollouts.detail(request.params.id),
  );

  const endResponses = {
    200: rolloutSchema,
    400: errorBodySchema,
    404: errorBodySchema,
    409: errorBodySchema,
    422: errorBodySchema,
  };

  app.post(
    '/api/rollouts/:id/promote',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['rollouts'],
        summary: "Promote a running rollout's candidate: the stage's alias moves for every camera",
        description:
          "The move is the registry's promotion (alias history action `promote`, the promotion " +
          'gate applies). 409 when the rollout is not running.',
        params: rolloutIdParamsSchema,
        // Optional: a POST without a body (Fastify passes null) uses a default reason.
        body: endRolloutRequestSchema.nullish(),
        response: endResponses,
      },
    },
    (request) =>
      rollouts.promote(
        request.params.id,
        request.body?.reason ?? null,
        request.principal?.name ?? null,
      ),
  );

  app.post(
    '/api/rollouts/:id/rollback',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['rollouts'],
        summary:
          'Roll a running rollout back: canary cameras return to the baseline, a shadow stops',
        description: 'A canary writes a `canary-rollback` step. 409 when it is not running.',
        params: rolloutIdParamsSchema,
        body: endRolloutRequestSchema.nullish(),
        response: endResponses,
      },
    },
    (request) =>
      rollouts.rollback(
        request.params.id,
        request.body?.reason ?? null,
        request.principal?.name ?? null,
      ),
  );

  return Promise.resolve();
};
