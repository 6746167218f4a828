/**
 * `buildApp(services, options)`: the Fastify application, separate from `listen()` so tests
 * drive it with `app.inject()`.
 *
 * - zod schemas validate every body, query and param and generate the OpenAPI document
 *   (`/docs` for people, `/docs/json` for tools);
 * - one error handler answers every failure as `{"error":{"code","message"}}`: bad input is
 *   always a 4xx with a catalogue code, only the server's own faults are 500s (logged, with a
 *   generic message);
 * - every route must declare `config.access` (route-access.ts); a route without one stops the
 *   app from starting, and the auth plugin enforces the declaration;
 * - route areas are plugins registered from one list, `ROUTE_PLUGINS`.
 *
 * It never listens, opens databases or reads the environment: src/main does.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyInstance, FastifyServerOptions } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ErrorBody } from '../shared/api/common.js';
import type { ErrorCode } from '../shared/errors.js';
import { isVisionLoopError } from '../shared/errors.js';
import type { AppServices, RoutePlugin, RoutePluginOptions } from './app-services.js';
import { registerAuth } from './auth.plugin.js';
import { describeIssues } from './validation-message.js';
import type { RouteAccess } from './route-access.js';
import { agentModelEventsRoutes } from './routes/agent-model-events.routes.js';
import { agentsRoutes } from './routes/agents.routes.js';
import { rolloutsRoutes } from './routes/rollouts.routes.js';
import { datasetsRoutes } from './routes/datasets.routes.js';
import { driftRoutes } from './routes/drift.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { eventsRoutes } from './routes/events.routes.js';
import { framesRoutes } from './routes/frames.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { ingestRoutes } from './routes/ingest.routes.js';
import { inspectionChainRoutes } from './routes/inspection-chain.routes.js';
import { inspectionLogsRoutes } from './routes/inspection-logs.routes.js';
import { labelingRoutes } from './routes/labeling.routes.js';
import { metricsRoutes } from './routes/metrics.routes.js';
import { modelStatusRoutes } from './routes/model-status.routes.js';
import { modelsRoutes } from './routes/models.routes.js';
import { predictRoutes } from './routes/predict.routes.js';
import { retrainingRoutes } from './routes/retraining.routes.js';
import { prometheusRoutes } from './routes/prometheus.routes.js';
import { tokensRoutes } from './routes/tokens.routes.js';
import { sessionRoutes } from './routes/session.routes.js';
import { dashboardRoutes } from './dashboard.plugin.js';

// Kept importable from here for the composition roots and tests; route plugins import it from
// app-services.ts (importing this module back would make an import cycle).
export type { AppServices } from './app-services.js';

/** Every route area, in registration order. Add a plugin here and a row to the auth matrix. */
export const ROUTE_PLUGINS: readonly RoutePlugin[] = [
  healthRoutes,
  modelStatusRoutes,
  ingestRoutes,
  framesRoutes,
  agentsRoutes,
  inspectionLogsRoutes,
  inspectionChainRoutes,
  rolloutsRoutes,
  tokensRoutes,
  sessionRoutes,
  // The labeling queue and dataset snapshots.
  labelingRoutes,
  datasetsRoutes,
  // Model registry, the server's inference and the agents' model events.
  modelsRoutes,
  predictRoutes,
  agentModelEventsRoutes,
  // Background jobs and drift monitoring.
  jobsRoutes,
  driftRoutes,
  retrainingRoutes,
  // Observability (metrics JSON, Prometheus text, server-sent events).
  metricsRoutes,
  prometheusRoutes,
  eventsRoutes,
];

export const DOCS_PREFIX = '/docs';

export interface AppOptions {
  /** The server's version, shown in the OpenAPI document and health. */
  serverVersion: string;
  /** Largest JSON body, bytes. */
  bodyLimitBytes: number;
  /** Largest frame upload, bytes. */
  frameLimitBytes: number;
  /** Let loopback callers read `openOnLoopback` routes without a token. */
  loopbackReads: boolean;
  /** The dashboard build to serve at `/`; default `<package root>/web/dist`. */
  dashboardDir?: string;
  /** Fastify's logger: false (tests), or pino options. Default false. */
  logger?: FastifyServerOptions['logger'];
}

/** A route as registered, with its access declaration (for the auth-matrix test and docs). */
export interface RegisteredRoute {
  method: string;
  url: string;
  access: RouteAccess;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its access declaration, in registration order. */
    readonly routeCatalogue: readonly RegisteredRoute[];
  }
}

interface ClassifiedError {
  status: number;
  code: ErrorCode;
  message: string;
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && 'statusCode' in error;
}

function describeValidation(error: FastifyError): string {
  const issues = (error.validation ?? []).map((issue) => ({
    path: issue.instancePath.replace(/^\//, '').replaceAll('/', '.'),
    message: issue.message ?? 'invalid',
  }));
  return issues.length > 0
    ? describeIssues(error.validationContext ?? 'request', issues)
    : error.message;
}

/** Maps anything a handler, hook or parser threw to the answer the client gets. */
export function classifyError(error: unknown): ClassifiedError {
  if (isVisionLoopError(error)) {
    return { status: error.httpStatus, code: error.code, message: error.message };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    return { status: 400, code: 'VALIDATION_FAILED', message: describeValidation(error) };
  }
  if (isFastifyError(error)) {
    const status = error.statusCode ?? 500;
    if (error.validation !== undefined) {
      return { status: 400, code: 'VALIDATION_FAILED', message: describeValidation(error) };
    }
    if (status >= 400 && status < 500) {
      const code = STATUS_CODES[status] ?? 'VALIDATION_FAILED';
      const message =
        error instanceof SyntaxError
          ? `the body is not valid JSON: ${error.message}`
          : error.message;
      return { status, code, message };
    }
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error; the server log has details' };
}

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * @fastify/swagger expands querystring, params and headers schemas into OpenAPI parameters
 * only when they are inline objects, not `$ref`s; a zod schema with a registered id (`.meta({
 * id })`) becomes a `$ref`. Documents an id-less clone instead (validation is unaffected).
 */
function withInlineParameters(document: TransformInput): TransformInput {
  const schema = document.schema;
  if (schema === undefined) return document;
  const inline = { ...schema };
  for (const part of ['querystring', 'params', 'headers'] as const) {
    const value: unknown = inline[part];
    // Not `.clone()`: clones inherit their parent's registered metadata, id included.
    if (value instanceof z.ZodObject) inline[part] = z.object(value.shape);
  }
  return { ...document, schema: inline };
}

function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/**
 * Refuses to start with a route that has no `config.access`: `ready()` (and so `buildApp`)
 * rejects, naming every such route. The OpenAPI UI's own routes under DOCS_PREFIX are marked
 * public. Documents each route's access in its OpenAPI operation. Returns the catalogue of
 * routes with their access, filled as routes are added.
 */
export function enforceAccessDeclarations(app: FastifyInstance): readonly RegisteredRoute[] {
  const catalogue: RegisteredRoute[] = [];
  const undeclared: string[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    let access = route.config?.access;
    const isDocs = route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`);
    if (access === undefined && isDocs) {
      access = { public: true };
      route.config = { ...route.config, access };
    }
    if (access === undefined) {
      // Thrown here, the error would escape plugin loading and crash the process.
      undeclared.push(`${methods.join(',')} ${route.url}`);
      return;
    }
    if ('scopes' in access && route.schema !== undefined) {
      const who = access.scopes.join(', ');
      const loopback = access.openOnLoopback === true ? '; open without a token on loopback' : '';
      route.schema = {
        ...route.schema,
        security: [{ bearerAuth: [] }],
        description: `${route.schema.description ?? ''}\n\nAccess: ${who}${loopback}.`.trim(),
      };
    }
    for (const method of methods) {
      if (method !== 'HEAD') catalogue.push({ method, url: route.url, access });
    }
  });
  app.addHook('onReady', (done) => {
    done(
      undeclared.length === 0
        ? undefined
        : new Error(
            `routes without config.access (every route must declare one): ${undeclared.join('; ')}`,
          ),
    );
  });
  return catalogue;
}

/** Builds the application (routes, docs, auth, errors). Call `listen` or `inject` on it. */
export async function buildApp(
  services: AppServices,
  options: AppOptions,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes,
    // Ids may be 128 characters; find-my-way's default would 404 longer parameters.
    routerOptions: { maxParamLength: 256 },
    // Per-request logs at 20+ ingest batches a second drown everything else; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Malformed URLs (bad percent-encoding) fail in the router, before any handler.
    frameworkErrors: (error, _request, reply) => {
      reply.raw.writeHead(400, { 'content-type': 'application/json; charset=utf-8' });
      reply.raw.end(JSON.stringify(errorBody('VALIDATION_FAILED', error.message)));
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.decorate('routeCatalogue', enforceAccessDeclarations(app));

  app.setErrorHandler((error, request, reply) => {
    const { status, code, message } = classifyError(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="visionloop"');
    return reply.code(status).send(errorBody(code, message));
  });
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url;
    return reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${url}`));
  });

  registerAuth(app, { auth: services.auth, loopbackReads: options.loopbackReads });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'VisionLoop API',
        description:
          'Frame results from camera agents, inspection logs, health and metrics. ' +
          'Send `Authorization: Bearer vl_…`; errors are `{"error":{"code","message"}}`.',
        version: options.serverVersion,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API token, vl_…' },
        },
      },
    },
    transform: (document) => jsonSchemaTransform(withInlineParameters(document)),
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });

  const pluginOptions: RoutePluginOptions = {
    services,
    limits: { frameBytes: options.frameLimitBytes },
  };
  for (const plugin of ROUTE_PLUGINS) await app.register(plugin, pluginOptions);
  // The dashboard (web/dist at `/`, SPA fallback) last: its `/*` yields to every API route.
  await app.register(dashboardRoutes, { distDir: options.dashboardDir });
  await app.ready();
  return app;
}
