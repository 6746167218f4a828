/**
 * `GET /api/inspection-logs`: stored frame results, filtered, newest first, cursor-paged;
 * `GET /api/inspection-logs/{id}`: one of them (the dashboard's frame detail). Both show the
 * stage outputs, the deciding rule and the shadow's output (docs/api.md, "Stage outputs and
 * shadow results").
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
        description:
          'Each item carries its stage outputs (`stages`), the decision rule that failed it ' +
          '(`decidedBy`) and the output of the shadow model that ran beside it (`shadow`), ' +
          'when it has them. `decidedBy=<rule id>` keeps results a rule failed; ' +
          '`shadowDisagrees=true` keeps frames where the shadow disagreed (false: agreed).',
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
        summary:
          'One stored frame result: detections, features, decision, model version, stage ' +
          'outputs, deciding rule and shadow output',
        params: inspectionLogParamsSchema,
        response: { 200: inspectionLogItemSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => services.inspectionLogs.get(request.params.id),
  );
  return Promise.resolve();
};
