/**
 * The inspection chains (src/services/inspection-chain.service.ts): readers see the default
 * chain and the cameras' overrides; admins set or remove them. A body that fails the chain
 * schema is a 400 VALIDATION_FAILED naming each field (`body.chain.rules.0.when: …`).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  inspectionChainsResponseSchema,
  updateInspectionChainRequestSchema,
} from '../../shared/api/inspection-chain.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, READERS } from '../route-access.js';

export const inspectionChainRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services },
) => {
  app.get(
    '/api/inspection-chain',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['inspection'],
        summary: 'The default inspection chain and the cameras that override it',
        response: { 200: inspectionChainsResponseSchema },
      },
    },
    () => services.inspectionChain.get(),
  );

  app.put(
    '/api/inspection-chain',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['inspection'],
        summary:
          "Set the default chain (camera null) or a camera's; chain null removes a camera's override",
        body: updateInspectionChainRequestSchema,
        response: {
          200: inspectionChainsResponseSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
          422: errorBodySchema,
        },
      },
    },
    (request) => services.inspectionChain.update(request.body, request.principal?.tokenId ?? null),
  );
  return Promise.resolve();
};
