/**
 * `GET /api/agents/{id}/events`: the agents' own server-sent-event stream, carrying only
 * `model` events (alias moves), so an agent learns of a new `production` within moments.
 * It opens with one `current` event naming what `production` is now (null fields when
 * nothing is), so an agent that reconnects after missing a move still catches up.
 *
 * A separate route, not `/api/events` with the agent scope added: agent tokens must not read
 * other cameras' frame results. The id names the connection for later per-agent rollouts; it
 * is not checked against the registry (an agent whose registration the server lost still
 * hears about models). Events are rare and small; a client whose buffer holds more than
 * 64 KiB is disconnected (it reconnects and gets `current`).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { agentIdParamsSchema } from '../../shared/api/agents.js';
import { errorBodySchema } from '../../shared/api/common.js';
import { EVENTS_HEARTBEAT_SECONDS } from '../../shared/api/events.js';
import { PRODUCTION_ALIAS } from '../../shared/api/models.js';
import type { SystemEvent } from '../../services/event-bus.js';
import type { RoutePluginOptions } from '../app-services.js';
import { AGENTS } from '../route-access.js';

const MAX_BUFFERED_BYTES = 64 * 1024;

export const agentModelEventsRoutes: FastifyPluginAsyncZod<RoutePluginOptions> = (
  app,
  { services },
) => {
  const closers = new Set<() => void>();
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
        summary: 'Model events for an agent (server-sent events): `current`, then alias moves',
        params: agentIdParamsSchema,
        response: {
          200: {
            description: 'text/event-stream: `event: model` and `data: <JSON ModelEvent>`',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          400: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const production = await services.models.production();
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
      const send = (event: SystemEvent): void => {
        if (closed) return;
        if (response.writableLength > MAX_BUFFERED_BYTES) {
          response.destroy();
          return;
        }
        sequence++;
        response.write(`id: ${sequence}\nevent: model\ndata: ${JSON.stringify(event)}\n\n`);
      };
      const unsubscribe = services.events.subscribe(
        (event) => {
          if (event.type === 'model') send(event);
        },
        ['model'],
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
      const socket = response.socket;
      if (socket === null || socket.destroyed) close();
    },
  );
  return Promise.resolve();
};
