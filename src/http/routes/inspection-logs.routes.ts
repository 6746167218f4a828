/** `GET /api/inspection-logs`: stored frame results, filtered, newest first, cursor-paged. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  inspectionLogsQuerySchema,
  inspectionLogsResponseSchema,
} from '../../shared/api/inspection-logs.js';
import type { RoutePluginOptions } from '../app.js';
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
  return Promise.resolve();
};
