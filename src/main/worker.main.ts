/**
 * Composition root of a job worker (`visionloop worker`, and the one `visionloop up` runs in
 * process): database (migrated) → the server's services → job handlers → JobWorker + the
 * periodic JobScheduler. Many workers may run against one database (SQLite file or
 * PostgreSQL); claims, leases and schedules make that safe (docs/jobs.md).
 *
 * - `startWorker(config, options)`: starts it; `stop()` stops claiming, lets running jobs finish
 *   (or releases them after a grace period), and closes what it opened.
 * - `runWorker(config)`: `startWorker` until SIGINT/SIGTERM.
 */
import { join } from 'node:path';
import type { WorkerConfig } from '../config/worker.config.js';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import type { JobHandlerMap } from '../jobs/job-handler.js';
import { createJobHandlers, type JobHandlerDeps } from '../jobs/job-handlers.js';
import { JobScheduler } from '../jobs/job-scheduler.js';
import { createJobSchedules, type JobScheduleDeps } from '../jobs/job-schedules.js';
import { JobWorker, defaultWorkerId } from '../jobs/job-worker.js';
import { JobRepository } from '../repositories/job.repository.js';
import {
  JOB_NAMES,
  isJobName,
  jobDefinition,
  type JobName,
} from '../services/jobs/job-catalogue.js';
import type { JobLogLevel, JobLogger } from '../services/jobs/job-context.js';
import type { JobQueue } from '../services/jobs/job-queue.js';
import { VisionLoopError } from '../shared/errors.js';
import { createBlobStore } from './blob-store.main.js';
import type { FanOutEventBus } from '../services/fan-out-event-bus.js';
import { createRolloutService } from './job-services.js';
import { createFanOutEventBus, createServerServices } from './server.main.js';

/** What the worker needs from the server's services (AppServices fits). */
export type WorkerServices = JobHandlerDeps & JobScheduleDeps & { jobs: JobQueue };

/** The server's services plus the rollout service whose rules `rollout.evaluate` applies. */
function withRollouts(
  database: DatabaseHandle,
  services: ReturnType<typeof createServerServices>,
): WorkerServices {
  return {
    ...services,
    rollouts: createRolloutService(database, { models: services.models, events: services.events }),
  };
}

export interface StartWorkerOptions {
  /** An open, migrated database to share (the server's, in `up`); not closed by `stop()`. */
  database?: DatabaseHandle;
  /** Services to share (the server's, in `up`: enqueues wake the worker, events reach SSE). */
  services?: WorkerServices;
  /** Handlers instead of the standard ones (tests). */
  handlers?: JobHandlerMap;
  log?: JobLogger;
  id?: string;
  /** Let the worker's timers not keep the process alive (in-process use). */
  unref?: boolean;
}

export interface RunningWorker {
  readonly id: string;
  readonly worker: JobWorker;
  readonly scheduler: JobScheduler | null;
  readonly database: DatabaseHandle;
  /** Stops claiming, lets running jobs finish for `graceMs` (default 30 s), releases the rest. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

const LEVELS: readonly JobLogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Log lines on stderr: `time level message key=value…`, at `minLevel` and above. */
export function stderrJobLogger(minLevel: JobLogLevel = 'info'): JobLogger {
  const min = LEVELS.indexOf(minLevel);
  return (level, message, fields) => {
    if (LEVELS.indexOf(level) < min) return;
    const extra = Object.entries(fields ?? {})
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    process.stderr.write(
      `${new Date().toISOString()} ${level} ${message}${extra === '' ? '' : ` ${extra}`}\n`,
    );
  };
}

/** Keeps the handlers of `names` (CONFIG_INVALID naming unknown ones); all for null. */
function selectHandlers(all: JobHandlerMap, names: readonly string[] | null): JobHandlerMap {
  if (names === null) return all;
  const unknown = names.filter((name) => !isJobName(name));
  if (unknown.length > 0) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `unknown job name(s) ${unknown.join(', ')}; known: ${Object.keys(all).join(', ')}`,
    );
  }
  const selected: Partial<Record<JobName, unknown>> = {};
  for (const name of names) {
    if (isJobName(name)) selected[name] = all[name];
  }
  return selected as JobHandlerMap;
}

export async function startWorker(
  config: WorkerConfig,
  options: StartWorkerOptions = {},
): Promise<RunningWorker> {
  const ownsDatabase = options.database === undefined;
  const database = options.database ?? (await openDatabase(config.server.databaseUrl));
  let events: FanOutEventBus | undefined;
  try {
    if (ownsDatabase) await migrateToLatest(database);
    const log =
      options.log ?? stderrJobLogger(config.server.logLevel === 'debug' ? 'debug' : 'info');
    // On PostgreSQL the worker's events (drift levels, alias moves by a training) reach the
    // servers' /api/events clients and agents; it sends only, it does not listen.
    events =
      options.services === undefined
        ? createFanOutEventBus(database, config.server, {
            onError: (error) =>
              log('warn', 'event fan-out failed', {
                error: error instanceof Error ? error.message : String(error),
              }),
          })
        : undefined;
    const services: WorkerServices =
      options.services ??
      withRollouts(
        database,
        createServerServices(database, {
          events,
          blobStore: createBlobStore(config.server.blobStorage),
          heartbeatIntervalMs: config.server.heartbeatIntervalMs,
          recentWindowMs: config.server.recentWindowMs,
          processMetrics: false,
          retrainingWorkDir: join(config.server.dataDir, 'retraining'),
          retentionDays: config.server.retentionDays,
          onBackgroundError: (error) =>
            log('warn', 'background task failed', {
              error: error instanceof Error ? error.message : String(error),
            }),
        }),
      );
    const id = options.id ?? defaultWorkerId();
    const handlers = selectHandlers(
      options.handlers ?? createJobHandlers(services),
      config.jobNames,
    );
    const worker = new JobWorker(services.jobs, {
      id,
      handlers,
      concurrency: config.concurrency,
      leaseMs: config.leaseMs,
      pollMaxMs: config.pollMaxMs,
      log,
      unref: options.unref,
    });
    const scheduler = config.schedules
      ? new JobScheduler(
          services.jobs,
          new JobRepository(database.db, database.dialect),
          createJobSchedules(services),
          { owner: id, log, unref: options.unref },
        )
      : null;
    worker.start();
    scheduler?.start();
    log('info', `worker ${id} started`, {
      jobs: worker.jobNames.join(','),
      concurrency: config.concurrency,
      schedules: config.schedules,
      database: database.location,
    });
    let stopping: Promise<void> | undefined;
    return {
      id,
      worker,
      scheduler,
      database,
      stop(stopOptions = {}) {
        stopping ??= (async () => {
          try {
            await scheduler?.stop();
            await worker.stop(stopOptions);
            await events?.close();
          } finally {
            if (ownsDatabase) await database.close();
          }
          log('info', `worker ${id} stopped`);
        })();
        return stopping;
      },
    };
  } catch (error) {
    await events?.close().catch(() => undefined);
    if (ownsDatabase) await database.close();
    throw error;
  }
}

/**
 * Runs a worker until SIGINT or SIGTERM, then stops it gracefully (running jobs finish or are
 * released). A second signal exits at once; the jobs it held are recovered when their leases
 * expire.
 */
export async function runWorker(
  config: WorkerConfig,
  options: StartWorkerOptions & { onStarted?: (worker: RunningWorker) => void } = {},
): Promise<void> {
  const running = await startWorker(config, options);
  options.onStarted?.(running);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) process.exit(130);
      stopping = true;
      running.stop().then(
        () => resolve(),
        () => resolve(),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Every job name with its one-line description, in catalogue order (`visionloop worker --help`). */
export function describeJobs(): readonly { name: JobName; description: string }[] {
  return JOB_NAMES.map((name) => ({ name, description: jobDefinition(name).description }));
}
