/**
 * `GET /api/inspection-logs`: stored frame results, filtered, newest first, cursor-paged;
 * `GET /api/inspection-logs/{id}`: one of them (the dashboard's frame detail).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  inspectionLogItemSchema,
  inspectionLogParamsSchema,
  inspectionLogsQuerySchema,
  inspectionLogsResponseSchema,
} from '../../shared/api/inspection-logs.js';
import type { RoutePluginOptions } from '../app-services.js';
import { READERS } from '../route-access.js';

export const inspectionLogsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services },
) => {
  app.get(
    '/api/inspection-logs',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['inspection'],
        summary: 'Frame results, newest first, with filters and cursor pagination',
        querystring: inspectionLogsQuerySchema,
        response: { 200: inspectionLogsResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => services.inspectionLogs.page(request.query),
  );
  app.get(
    '/api/inspection-logs/:id',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['inspection'],
        summary: 'One stored frame result: detections, features, decision, model version',
        params: inspectionLogParamsSchema,
        response: { 200: inspectionLogItemSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => services.inspectionLogs.get(request.params.id),
  );
  return Promise.resolve();
};
