/**
 * `GET /api/agents/{id}/events`: the agents' own server-sent-event stream, carrying `model`
 * events (alias moves), so an agent learns of a new `production` within moments, and `plan`
 * events: everything the agent's camera must run (docs/inspection-chain.md).
 * It opens with one `current` model event naming what `production` is now (null fields when
 * nothing is), so an agent that reconnects after missing a move still catches up, then — for
 * an agent the registry knows — one `plan` event. Every `model`, `chain` or `rollout` bus event
 * re-resolves the plan, which is sent again only when it changed. `model` events are sent
 * exactly as before plans existed (older agents follow them alone).
 *
 * A separate route, not `/api/events` with the agent scope added: agent tokens must not read
 * other cameras' frame results. The id is not required to be registered (an agent whose
 * registration the server lost still hears about models); it names the camera whose plan is
 * sent, looked up again on each change until the agent registers. Events are rare and small; a client whose buffer holds more than
 * 64 KiB is disconnected (it reconnects and gets `current`).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { agentIdParamsSchema } from '../../shared/api/agents.js';
import { errorBodySchema } from '../../shared/api/common.js';
import { EVENTS_HEARTBEAT_SECONDS } from '../../shared/api/events.js';
import { PRODUCTION_ALIAS } from '../../shared/api/models.js';
import type { AgentModelPlan } from '../../shared/api/inspection-chain.js';
import type { SystemEvent } from '../../services/event-bus.js';
import type { RoutePluginOptions } from '../app-services.js';
import { AGENTS } from '../route-access.js';

const MAX_BUFFERED_BYTES = 64 * 1024;

export const agentModelEventsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services },
) => {
  const closers = new Set<() => void>();
  const planText = async (camera: string): Promise<string> => {
    const plan: AgentModelPlan = await services.agentPlans.planFor(camera);
    return JSON.stringify(plan);
  };
  app.addHook('preClose', (done) => {
    for (const close of [...closers]) close();
    done();
  });

  app.get(
    '/api/agents/:id/events',
    {
      config: { access: { scopes: AGENTS } },
      schema: {
        tags: ['agents'],
        summary:
          "Model events for an agent (server-sent events): `current`, its camera's plan, then alias moves and plan changes",
        params: agentIdParamsSchema,
        response: {
          200: {
            description:
              'text/event-stream: `event: model` with `data: <JSON ModelEvent>`, `event: plan` with `data: <JSON AgentModelPlan>`',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          400: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const production = await services.models.production();
      const agentId = request.params.id;
      let camera = await services.agents.cameraOf(agentId);
      let lastPlan: string | null = null;
      if (camera !== null) {
        // A plan that cannot be resolved must not cost the agent its model events.
        lastPlan = await planText(camera).catch((error: unknown) => {
          request.log.warn({ err: error, agentId }, 'could not resolve the agent plan');
          return null;
        });
      }
      reply.hijack();
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) headers[name] = value;
      }
      headers['content-type'] = 'text/event-stream; charset=utf-8';
      headers['cache-control'] = 'no-cache, no-transform';
      headers['connection'] = 'keep-alive';
      headers['x-accel-buffering'] = 'no';
      const response = reply.raw;
      response.writeHead(200, headers);
      let sequence = 0;
      let closed = false;
      const write = (event: 'model' | 'plan', data: string): void => {
        if (closed) return;
        if (response.writableLength > MAX_BUFFERED_BYTES) {
          response.destroy();
          return;
        }
        sequence++;
        response.write(`id: ${sequence}\nevent: ${event}\ndata: ${data}\n\n`);
      };
      const send = (event: SystemEvent): void => write('model', JSON.stringify(event));
      // Plans are re-resolved one at a time, in bus order, so an older plan never follows a
      // newer one on the wire.
      let resolving: Promise<void> = Promise.resolve();
      const refreshPlan = (): void => {
        resolving = resolving
          .then(async () => {
            if (closed) return;
            camera ??= await services.agents.cameraOf(agentId);
            if (camera === null) return;
            const next = await planText(camera);
            if (next === lastPlan) return;
            lastPlan = next;
            write('plan', next);
          })
          .catch((error: unknown) => {
            request.log.warn({ err: error, agentId }, 'could not resolve the agent plan');
          });
      };
      const unsubscribe = services.events.subscribe(
        (event) => {
          if (event.type === 'model') send(event);
          refreshPlan();
        },
        ['model', 'chain', 'rollout'],
      );
      const heartbeat = setInterval(
        () => response.write(': heartbeat\n\n'),
        EVENTS_HEARTBEAT_SECONDS * 1000,
      );
      const close = (): void => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(heartbeat);
        closers.delete(close);
        if (!response.writableEnded) response.end();
      };
      closers.add(close);
      response.on('close', close);
      response.on('error', close);
      response.write('retry: 3000\n: connected\n\n');
      send({
        type: 'model',
        at: Date.now(),
        action: 'current',
        alias: PRODUCTION_ALIAS,
        fromVersion: null,
        toVersion: production?.version ?? null,
        sha256: production?.sha256 ?? null,
        actor: null,
        reason: null,
      });
      if (lastPlan !== null) write('plan', lastPlan);
      // Catches a change made between the first resolve and the subscription.
      refreshPlan();
      const socket = response.socket;
      if (socket === null || socket.destroyed) close();
    },
  );
  return Promise.resolve();
};
