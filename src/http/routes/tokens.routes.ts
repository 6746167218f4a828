/** API tokens (admins only): create (the secret is shown once), list, revoke. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  createTokenRequestSchema,
  createdTokenSchema,
  tokenIdParamsSchema,
  tokenInfoSchema,
  tokenListResponseSchema,
} from '../../shared/api/tokens.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS } from '../route-access.js';

export const tokensRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  app.post(
    '/api/tokens',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; the answer is the only time its secret is shown',
        body: createTokenRequestSchema,
        response: { 201: createdTokenSchema, 400: errorBodySchema },
      },
    },
    async (request, reply) => {
      const created = await services.auth.createToken(
        request.body,
        request.principal?.tokenId ?? null,
      );
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get(
    '/api/tokens',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['tokens'],
        summary: 'Every token (never the secrets)',
        response: { 200: tokenListResponseSchema },
      },
    },
    async () => ({ tokens: await services.auth.listTokens() }),
  );

  app.delete(
    '/api/tokens/:id',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token (idempotent)',
        params: tokenIdParamsSchema,
        response: { 200: tokenInfoSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => services.auth.revokeToken(request.params.id),
  );
  return Promise.resolve();
};
