/**
 * Composition root of the server: configuration → database (migrated) → repositories →
 * services → Fastify app → listen. The only place that creates the server's concrete classes.
 *
 * - `createServerServices(database, options)`: repositories and services on an open database
 *   (tests build an app on it with `buildApp`).
 * - `startServer(config)`: everything, listening; returns `{ url, close(), app, services }`.
 *   On the first start (no usable admin token) it creates an admin token, prints it once and
 *   writes it to the admin-token file with mode 0600.
 * - `runServer(config)`: `startServer` until SIGINT/SIGTERM, then a graceful close.
 * - `openLocalTokenAdmin(config)`: token management straight on the database (bootstrap
 *   without a running server, `visionloop token … ` without `--server`).
 *
 * Just over 500 lines: the server's one composition root (DESIGN §8); the wiring is kept in one
 * place on purpose.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { ServerConfig } from '../config/server.config.js';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { buildApp } from '../http/app.js';
import type { AppServices } from '../http/app.js';
import { OnnxModelProbe } from '../inference/model-probe.js';
import { OnnxDetector } from '../inference/onnx-detector.js';
import { AgentRepository } from '../repositories/agent.repository.js';
import type { BlobStore } from '../repositories/blob-store.js';
import { ModelRegistryRepository } from '../repositories/model-registry.repository.js';
import { PredictionMetricsRepository } from '../repositories/prediction-metrics.repository.js';
import { PredictionRepository } from '../repositories/prediction.repository.js';
import { ShadowPredictionRepository } from '../repositories/shadow-prediction.repository.js';
import { SamplingRepository } from '../repositories/sampling.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import { TokenRepository } from '../repositories/token.repository.js';
import { AgentPlanService } from '../services/agent-plan.service.js';
import { AgentRegistryService } from '../services/agent-registry.service.js';
import { AuthService } from '../services/auth.service.js';
import { InProcessEventBus } from '../services/event-bus.js';
import { FanOutEventBus } from '../services/fan-out-event-bus.js';
import { NOTIFY_PAYLOAD_LIMIT_BYTES, PgNotifyChannel } from '../repositories/pg-notify-channel.js';
import type { EventBus } from '../services/event-bus.js';
import { FrameService } from '../services/frame.service.js';
import { HealthService } from '../services/health.service.js';
import { IngestService } from '../services/ingest.service.js';
import { InspectionChainService } from '../services/inspection-chain.service.js';
import { InspectionLogService } from '../services/inspection-log.service.js';
import { LineStatsService } from '../services/line-stats.service.js';
import { ModelRegistryService } from '../services/registry/index.js';
import { ModelServingService } from '../services/model-serving.service.js';
import { PrometheusExporter } from '../services/prometheus-exporter.js';
import { createBlobStore } from './blob-store.main.js';
import {
  createJobServices,
  createRetentionService,
  createRetrainingService,
  createRolloutService,
  startJobUpkeep,
} from './job-services.js';
import { createLabelingServices, startQueueDepthRefresh } from './labeling.main.js';
import { SamplingService } from '../services/sampling.service.js';
import type { CreatedToken } from '../shared/api/tokens.js';
import { BUILTIN_SEED_MODEL } from './detect.main.js';
import { DEFAULT_MODEL_SYNC_MS, startModelRegistry, startModelSync } from './model-bootstrap.js';
import { openLocalState } from './local.main.js';

/** The package version (package.json sits two levels above both src/main and dist/main). */
export const SERVER_VERSION: string = (() => {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed) {
      return typeof parsed.version === 'string' ? parsed.version : '0.0.0';
    }
  } catch {
    // A bundled or relocated build without package.json still runs.
  }
  return '0.0.0';
})();

export interface ServerServicesOptions {
  blobStore: BlobStore;
  heartbeatIntervalMs: number;
  recentWindowMs: number;
  serverVersion?: string;
  events?: EventBus;
  /** The clock, epoch ms (tests pin it). */
  now?: () => number;
  /** Prometheus process metrics (CPU, memory, GC). Default true; tests turn them off. */
  processMetrics?: boolean;
  /** Where background failures (token last-use writes, observers) are reported. */
  onBackgroundError?: (error: unknown) => void;
  /** ONNX Runtime threads of /api/predict's session; 0 (default): one per core but one. */
  servingThreads?: number;
  /** Scratch space of training runs and the nominal holdout (default: the OS temp dir). */
  retrainingWorkDir?: string;
  /** Days of predictions and frames the retention job keeps; null or unset: off. */
  retentionDays?: number | null;
}

/**
 * The better-sqlite3 handle under a SQLite database handle, when the factory exposes it as
 * `sqlite` (the ingest fast path prepares its statements once on it); otherwise undefined.
 */
export function nativeSqliteOf(database: DatabaseHandle): BetterSqlite3.Database | undefined {
  if (database.dialect !== 'sqlite' || !('sqlite' in database)) return undefined;
  const candidate = database.sqlite;
  return candidate instanceof BetterSqlite3 ? candidate : undefined;
}

/** Repositories and services on an open, migrated database. */
export function createServerServices(
  database: DatabaseHandle,
  options: ServerServicesOptions,
): AppServices {
  const now = options.now ?? Date.now;
  const events = options.events ?? new InProcessEventBus();
  const onBackgroundError = options.onBackgroundError ?? (() => undefined);
  const predictions = new PredictionRepository(database.db, database.dialect, {
    nativeSqlite: nativeSqliteOf(database),
  });
  const prometheus = new PrometheusExporter({
    now,
    defaultMetrics: options.processMetrics ?? true,
  });
  const sampling = new SamplingService(new SamplingRepository(database.db), {
    now,
    gauge: prometheus,
    shadows: new ShadowPredictionRepository(database.db),
  });
  const modelRegistry = new ModelRegistryRepository(database.db);
  const modelServing = new ModelServingService(
    modelRegistry,
    options.blobStore,
    () => new OnnxDetector({ threads: options.servingThreads ?? 0 }),
    events,
    { now, onBackgroundError },
  );
  const models = new ModelRegistryService(
    modelRegistry,
    options.blobStore,
    new OnnxModelProbe(),
    events,
    { now, gauge: prometheus, deployer: modelServing },
  );
  const inspectionChain = new InspectionChainService(
    new SettingsRepository(database.db),
    models,
    events,
    { now },
  );
  const rollouts = createRolloutService(database, { models, events, now });
  const agentPlans = new AgentPlanService(models, inspectionChain, rollouts);
  const agents = new AgentRegistryService(
    new AgentRepository(database.db),
    new SettingsRepository(database.db),
    events,
    {
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      now,
      heartbeatObservers: [
        (agent, heartbeat) => prometheus.observeHeartbeat(agent.camera, heartbeat),
      ],
      production: () => models.production(),
      plan: (camera) => agentPlans.planFor(camera),
    },
  );
  const { jobs, drift } = createJobServices(database, {
    blobStore: options.blobStore,
    events,
    prometheus,
    now,
    onBackgroundError,
  });
  const { labeling, datasets } = createLabelingServices(database, {
    blobStore: options.blobStore,
    events,
    gauge: prometheus,
    now,
    onBackgroundError,
  });
  const retraining = createRetrainingService(database, {
    jobs,
    models,
    datasets,
    drift,
    workDir: options.retrainingWorkDir,
    gauge: prometheus,
    now,
  });
  // Drift-boost sampling: agents sample at the drift rate while any camera drifts.
  drift.onLevelChange(async (change) => {
    await agents.setDriftActive(change.anyDrifting, 'drift monitor');
  });
  const probe = {
    dialect: database.dialect,
    async ping(): Promise<void> {
      await sql`select 1`.execute(database.db);
    },
  };
  return {
    auth: new AuthService(new TokenRepository(database.db), {
      now,
      onTouchError: onBackgroundError,
    }),
    ingest: new IngestService(predictions, events, {
      now,
      observers: [(latencies) => prometheus.observeIngested(latencies)],
      onObserverError: onBackgroundError,
    }),
    frames: new FrameService(predictions, options.blobStore, {
      // A sampled frame becomes a labeling-queue item when its JPEG arrives.
      onStored: (frame) => sampling.enqueueUploadedFrame(frame),
    }),
    agents,
    inspectionLogs: new InspectionLogService(predictions),
    health: new HealthService(probe, options.blobStore, predictions, agents, {
      serverVersion: options.serverVersion ?? SERVER_VERSION,
      recentWindowMs: options.recentWindowMs,
      now,
      models: { mainAliases: () => models.mainAliases(), serving: () => modelServing.status() },
    }),
    lineStats: new LineStatsService(new PredictionMetricsRepository(database.db), { now }),
    prometheus,
    events,
    models,
    modelServing,
    jobs,
    drift,
    labeling,
    datasets,
    retraining,
    retention: createRetentionService(database, options.blobStore, {
      days: options.retentionDays ?? null,
      now,
    }),
    inspectionChain,
    agentPlans,
    rollouts,
  };
}

/**
 * Writes the admin token to `path`, readable by the owner only (0600), atomically: a reader
 * sees the old file or the new one, and the secret is never in a file with wider permissions.
 */
export async function writeAdminTokenFile(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: 'w' });
  // `mode` applies only when the file is created; a leftover temp file keeps its own mode.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export interface StartServerOptions {
  /** Fastify logger; default pino at the configured level on stdout. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Shows a newly created admin token to the operator, once. Default: printed to stdout.
   * The token is also written to `config.adminTokenFile` in either case.
   */
  onAdminToken?: (token: CreatedToken, file: string) => void;
  /** Prometheus process metrics. Default true. */
  processMetrics?: boolean;
  now?: () => number;
  /** The seed model registered on an empty registry (default the shipped one); null: none. */
  seedModel?: string | null;
  /** How often alias moves made by other processes are looked for, ms. Default 2000. */
  modelSyncMs?: number;
  /** ONNX Runtime threads of /api/predict's session; 0 (default): one per core but one. */
  servingThreads?: number;
  /** The dashboard build served at `/` (default `<package root>/web/dist`; tests build their own). */
  dashboardDir?: string;
}

export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly services: AppServices;
  readonly database: DatabaseHandle;
  /** The admin token created by this start, or null when one existed. */
  readonly adminToken: CreatedToken | null;
  /** Stops accepting connections, drains in-flight requests, closes the database. Idempotent. */
  close(): Promise<void>;
}

function printAdminToken(token: CreatedToken, file: string): void {
  process.stdout.write(
    [
      '',
      'VisionLoop created an admin API token (shown once; also saved, owner-only, to',
      `  ${file}):`,
      '',
      `  ${token.token}`,
      '',
      'Use it as "Authorization: Bearer <token>", or create more with `visionloop token create`.',
      '',
    ].join('\n'),
  );
}

function urlOf(address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

/**
 * On PostgreSQL, the event bus that fans events out to the other processes on the database
 * (LISTEN/NOTIFY); undefined on SQLite (one process tree: the in-process bus).
 */
export function createFanOutEventBus(
  database: DatabaseHandle,
  config: Pick<ServerConfig, 'databaseUrl' | 'fanOutFrames'>,
  options: {
    onError: (error: unknown) => void;
    remoteHandlers?: ConstructorParameters<typeof FanOutEventBus>[1]['remoteHandlers'];
  },
): FanOutEventBus | undefined {
  if (database.dialect !== 'postgres') return undefined;
  return new FanOutEventBus(
    new PgNotifyChannel(database.db, config.databaseUrl, { onError: options.onError }),
    {
      payloadLimitBytes: NOTIFY_PAYLOAD_LIMIT_BYTES,
      fanOutFrames: config.fanOutFrames,
      remoteHandlers: options.remoteHandlers,
      onError: options.onError,
    },
  );
}

/** Starts the whole server in this process and listens on `config.host:config.port`. */
export async function startServer(
  config: ServerConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const database = await openDatabase(config.databaseUrl);
  let app: FastifyInstance | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  // Bound once the app (its logger) and the services exist.
  let logEventError = (_error: unknown): void => undefined;
  let onRemoteAliasMove = (): void => undefined;
  const events = createFanOutEventBus(database, config, {
    onError: (error) => logEventError(error),
    // Another process moved an alias: read the aliases now (announces the move here once,
    // and puts a new production into service) instead of at the next periodic sync.
    remoteHandlers: { model: () => onRemoteAliasMove() },
  });
  try {
    await migrateToLatest(database);
    const logger = options.logger ?? { level: config.logLevel };
    const services = createServerServices(database, {
      events,
      blobStore: createBlobStore(config.blobStorage),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      recentWindowMs: config.recentWindowMs,
      processMetrics: options.processMetrics,
      now: options.now,
      servingThreads: options.servingThreads,
      retrainingWorkDir: join(config.dataDir, 'retraining'),
      retentionDays: config.retentionDays,
    });
    const adminToken = await services.auth.ensureAdminToken();
    if (adminToken !== null) {
      await writeAdminTokenFile(config.adminTokenFile, adminToken.token);
      (options.onAdminToken ?? printAdminToken)(adminToken, config.adminTokenFile);
    }
    const builtApp = await buildApp(services, {
      serverVersion: SERVER_VERSION,
      bodyLimitBytes: config.bodyLimitBytes,
      frameLimitBytes: config.frameLimitBytes,
      loopbackReads: config.loopbackReads,
      logger,
      dashboardDir: options.dashboardDir,
    });
    app = builtApp;
    logEventError = (error) => builtApp.log.warn({ err: error }, 'event fan-out failed');
    onRemoteAliasMove = () => {
      services.models
        .syncAliases()
        .then(() => services.modelServing.reconcile())
        .catch((error: unknown) => builtApp.log.warn({ err: error }, 'model alias sync failed'));
    };
    await events?.listen();
    const modelLog = {
      info: (message: string) => builtApp.log.info(message),
      warn: (message: string) => builtApp.log.warn(message),
      error: (message: string) => builtApp.log.error(message),
    };
    await startModelRegistry(
      services.models,
      options.seedModel !== undefined
        ? options.seedModel
        : config.seedModel !== undefined
          ? config.seedModel
          : BUILTIN_SEED_MODEL,
      modelLog,
      services.drift,
    );
    await builtApp.listen({ host: config.host, port: config.port });
    const address = builtApp.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const url = urlOf(config.host, port);

    sweeper = setInterval(() => {
      services.agents.sweep().catch((error: unknown) => {
        builtApp.log.warn({ err: error }, 'agent offline sweep failed');
      });
    }, config.heartbeatIntervalMs);
    sweeper.unref();
    const stopModelSync = startModelSync(
      services.models,
      services.modelServing,
      options.modelSyncMs ?? DEFAULT_MODEL_SYNC_MS,
      modelLog,
    );

    const stopJobUpkeep = startJobUpkeep(services, (message, error) =>
      builtApp.log.warn({ err: error }, message),
    );
    const stopQueueDepth = startQueueDepthRefresh(services.labeling);
    // visionloop_retraining_state follows trainings run by workers in other processes too.
    const retrainingGauge = setInterval(() => {
      services.retraining.status().catch((error: unknown) => {
        builtApp.log.warn({ err: error }, 'retraining state refresh failed');
      });
    }, 5_000);
    retrainingGauge.unref();

    let closing: Promise<void> | undefined;
    const timer = sweeper;
    return {
      url,
      app: builtApp,
      services,
      database,
      adminToken,
      close() {
        closing ??= (async () => {
          clearInterval(timer);
          stopModelSync();
          stopJobUpkeep();
          stopQueueDepth();
          clearInterval(retrainingGauge);
          try {
            await builtApp.close();
            await events?.close();
            await services.modelServing.close();
            await services.auth.flush();
          } finally {
            await database.close();
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    if (sweeper !== undefined) clearInterval(sweeper);
    await app?.close().catch(() => undefined);
    await events?.close().catch(() => undefined);
    await database.close();
    throw error;
  }
}

/**
 * Runs the server until SIGINT or SIGTERM, then closes it gracefully (in-flight requests
 * finish, the database closes). A second signal exits at once.
 */
export async function runServer(
  config: ServerConfig,
  options: StartServerOptions & { onListening?: (server: RunningServer) => void } = {},
): Promise<void> {
  const server = await startServer(config, options);
  options.onListening?.(server);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.exit(130);
      }
      stopping = true;
      server.app.log.info({ signal }, 'shutting down');
      server.close().then(
        () => resolve(),
        (error: unknown) => {
          server.app.log.error({ err: error }, 'shutdown failed');
          resolve();
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export interface LocalTokenAdmin {
  readonly auth: AuthService;
  readonly location: string;
  close(): Promise<void>;
}

/**
 * Token management directly on the configured database, migrating it first (so bootstrapping
 * works before any server ran). For `visionloop token …` without `--server`.
 */
export async function openLocalTokenAdmin(config: ServerConfig): Promise<LocalTokenAdmin> {
  const local = await openLocalState(config, 'migrate');
  return {
    auth: new AuthService(new TokenRepository(local.database.db)),
    location: local.database.location,
    close: () => local.close(),
  };
}
