/**
 * The agent registry: agents register, send heartbeats and read their settings; readers list
 * agents; admins change the agent settings (src/services/agent-registry.service.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  agentIdParamsSchema,
  agentListResponseSchema,
  agentSettingsSchema,
  heartbeatRequestSchema,
  heartbeatResponseSchema,
  registerAgentRequestSchema,
  registerAgentResponseSchema,
  updateAgentSettingsRequestSchema,
} from '../../shared/api/agents.js';
import { errorBodySchema } from '../../shared/api/common.js';
import type { RoutePluginOptions } from '../app-services.js';
import { ADMINS, AGENTS, READERS } from '../route-access.js';

export const agentsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (app, { services }) => {
  const registry = services.agents;

  app.post(
    '/api/agents/register',
    {
      config: { access: { scopes: AGENTS } },
      schema: {
        tags: ['agents'],
        summary: 'Register an agent (idempotent: the same camera and name get the same id)',
        body: registerAgentRequestSchema,
        response: { 200: registerAgentResponseSchema, 400: errorBodySchema },
      },
    },
    (request) => registry.register(request.body, request.principal?.tokenId ?? null),
  );

  app.post(
    '/api/agents/:id/heartbeat',
    {
      config: { access: { scopes: AGENTS } },
      schema: {
        tags: ['agents'],
        summary: "Report an agent's rates, outbox depth and model version",
        params: agentIdParamsSchema,
        body: heartbeatRequestSchema,
        response: { 200: heartbeatResponseSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => registry.heartbeat(request.params.id, request.body),
  );

  app.get(
    '/api/agents/:id/settings',
    {
      config: { access: { scopes: AGENTS } },
      schema: {
        tags: ['agents'],
        summary: 'The settings an agent should apply',
        params: agentIdParamsSchema,
        response: { 200: agentSettingsSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    (request) => registry.settingsFor(request.params.id),
  );

  app.get(
    '/api/agents',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['agents'],
        summary: 'Every registered agent with its last heartbeat and online state',
        response: { 200: agentListResponseSchema },
      },
    },
    () => registry.list(),
  );

  app.get(
    '/api/settings/agent',
    {
      config: { access: { scopes: READERS } },
      schema: {
        tags: ['agents'],
        summary: 'The current agent settings',
        response: { 200: agentSettingsSchema },
      },
    },
    () => registry.agentSettings(),
  );

  app.put(
    '/api/settings/agent',
    {
      config: { access: { scopes: ADMINS } },
      schema: {
        tags: ['agents'],
        summary: 'Change the agent settings (bumps the revision agents watch)',
        body: updateAgentSettingsRequestSchema,
        response: { 200: agentSettingsSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    (request) => registry.updateAgentSettings(request.body, request.principal?.tokenId ?? null),
  );
  return Promise.resolve();
};
