/**
 * `/api/jobs`: the background jobs (src/jobs/job-queue.ts): readers list and inspect them;
 * admins cancel a queued or running job and retry a failed or cancelled one.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  jobIdParamsSchema,
  jobListQuerySchema,
  jobListResponseSchema,
  jobViewSchema,
  jobWorkersResponseSchema,
} from '../../shared/api/jobs.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS } from '../route-access.js';

export const jobsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const jobs = services.jobs;

  app.get(
    '/api/jobs',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['jobs'],
        summary: 'Jobs, newest first, filtered by name, status or dedupe key, cursor-paged',
        querystring: jobListQuerySchema,
        response: { 200: jobListResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => jobs.list(request.query),
  );

  app.get(
    '/api/jobs/workers',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['jobs'],
        summary: 'The job workers alive now (the dashboard shows whether one runs)',
        response: { 200: jobWorkersResponseSchema },
      },
    },
    async () => ({
      serverTime: Date.now(),
      workers: (await jobs.liveWorkers()).map((worker) => ({
        ...worker,
        jobNames: [...worker.jobNames],
      })),
    }),
  );

  app.get(
    '/api/jobs/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['jobs'],
        summary: 'One job: status, attempts, progress, result or error',
        params: jobIdParamsSchema,
        response: { 200: jobViewSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => jobs.get(request.params.id),
  );

  app.post(
    '/api/jobs/:id/cancel',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['jobs'],
        summary:
          'Cancel a job: a queued one at once, a running one at its next lease renewal (409 when finished)',
        params: jobIdParamsSchema,
        response: {
          200: jobViewSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    (request) => jobs.cancel(request.params.id),
  );

  app.post(
    '/api/jobs/:id/retry',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['jobs'],
        summary: 'Queue a failed or cancelled job again with fresh attempts (409 otherwise)',
        params: jobIdParamsSchema,
        response: {
          200: jobViewSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    (request) => jobs.retry(request.params.id),
  );
  return Promise.resolve();
};
