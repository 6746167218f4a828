/**
 * A minimal Fastify app carrying only the observability plugins (metrics, Prometheus, events),
 * with the zod compilers, OpenAPI generation and a stub auth hook that enforces each route's
 * `config.access` the way the real auth plugin does: `Authorization: Bearer <scope>` stands
 * for a token of that scope (or `?access_token=<scope>` on `tokenInQuery` routes); `openOnLoopback` routes are open to callers on 127.0.0.1/::1
 * (inject() calls come from 127.0.0.1). Validation errors become `{"error":{"code","message"}}`
 * with 400 as in the real app. Test-only.
 */
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { eventsRoutes, type EventsRoutesOptions } from '../../../src/http/routes/events.routes.js';
import { metricsRoutes } from '../../../src/http/routes/metrics.routes.js';
import { prometheusRoutes } from '../../../src/http/routes/prometheus.routes.js';
import type { RouteAccess } from '../../../src/http/route-access.js';
import type { EventBus } from '../../../src/services/event-bus.js';
import type { LineStatsService } from '../../../src/services/line-stats.service.js';
import type { PrometheusExporter } from '../../../src/services/prometheus-exporter.js';
import { scopeSchema } from '../../../src/shared/api/common.js';

export interface ObservabilityServices {
  lineStats: LineStatsService;
  prometheus: PrometheusExporter;
  events: EventBus;
}

export interface ObservabilityApp {
  app: FastifyInstance;
  /** Every route's method, url and declared access, as registered. */
  routes: { method: string; url: string; access: RouteAccess | undefined }[];
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface ObservabilityAppOptions {
  events?: Omit<EventsRoutesOptions, 'services'>;
  /**
   * Destroy every connection on close (default true): Node's fetch opens a spare connection
   * that sends no request, and a plain close() waits ~4 s for the client to drop it.
   */
  forceCloseConnections?: boolean;
}

export async function buildObservabilityApp(
  services: ObservabilityServices,
  options: ObservabilityAppOptions = {},
): Promise<ObservabilityApp> {
  const app = Fastify({
    logger: false,
    forceCloseConnections: options.forceCloseConnections ?? true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const routes: ObservabilityApp['routes'] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({ method: String(method), url: route.url, access: route.config?.access });
    }
  });
  // The real app's error handler answers `{"error":{"code","message"}}`; this one only needs
  // to do so for validation errors.
  app.setErrorHandler((error, _request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: error.message } });
    }
    return reply.code(500).send({ error: { code: 'INTERNAL', message: String(error) } });
  });
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (access === undefined) return reply.code(500).send({ error: 'route without access' });
    if ('public' in access) return;
    const header = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    const query = request.query as Record<string, unknown>;
    const fromQuery =
      request.routeOptions.config.tokenInQuery === true ? query.access_token : undefined;
    const scope = scopeSchema.safeParse(header ?? fromQuery);
    if (scope.success) {
      if (!access.scopes.includes(scope.data)) return reply.code(403).send({ error: 'forbidden' });
      request.principal = { tokenId: scope.data, name: scope.data, scope: scope.data };
      return;
    }
    if (access.openOnLoopback === true && LOOPBACK.has(request.ip)) return;
    return reply.code(401).send({ error: 'unauthenticated' });
  });
  await app.register(fastifySwagger, {
    openapi: { info: { title: 'observability test', version: '0' } },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(metricsRoutes, { services });
  await app.register(prometheusRoutes, { services });
  await app.register(eventsRoutes, { services, ...options.events });
  await app.ready();
  return { app, routes };
}
