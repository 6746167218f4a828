/**
 * Configuration of a job worker (`visionloop worker`, and the worker inside `visionloop up`):
 * the server's storage settings (database, blob store; see server.config.ts) plus how the
 * worker runs jobs. Parsed once from the environment and command-line overrides, every problem
 * listed at once, frozen.
 */
import { z } from 'zod';
import { envBoolean, parseEnv } from './parse-env.js';
import {
  loadServerConfig,
  type ServerConfig,
  type ServerConfigOverrides,
} from './server.config.js';

const workerEnvSchema = z.object({
  /** Jobs one worker runs at once. */
  VISIONLOOP_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** A running job's lease; a worker that stops renewing loses the job after this long. */
  VISIONLOOP_JOB_LEASE_SECONDS: z.coerce.number().min(1).max(3600).default(30),
  /** Longest idle wait between polls for new jobs, seconds. */
  VISIONLOOP_WORKER_POLL_SECONDS: z.coerce.number().min(0.05).max(60).default(5),
  /** Run the periodic schedules (drift checks…) too. */
  VISIONLOOP_WORKER_SCHEDULES: envBoolean.default(true),
  /** Comma-separated job names this worker runs (default: all). */
  VISIONLOOP_WORKER_JOBS: z.string().optional(),
});

export interface WorkerConfig {
  /** Storage, logging and the data directory: shared with the server. */
  readonly server: ServerConfig;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollMaxMs: number;
  readonly schedules: boolean;
  /** Job names this worker claims; null for every name it has a handler for. */
  readonly jobNames: readonly string[] | null;
}

/** Command-line flags that override the environment. */
export interface WorkerConfigOverrides extends ServerConfigOverrides {
  concurrency?: number;
  leaseSeconds?: number;
  schedules?: boolean;
  /** Comma-separated job names. */
  jobs?: string;
}

export function loadWorkerConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: WorkerConfigOverrides = {},
  cwd: string = process.cwd(),
): WorkerConfig {
  const server = loadServerConfig(env, overrides, cwd);
  const merged: Record<string, string | undefined> = { ...env };
  if (overrides.concurrency !== undefined) {
    merged.VISIONLOOP_WORKER_CONCURRENCY = String(overrides.concurrency);
  }
  if (overrides.leaseSeconds !== undefined) {
    merged.VISIONLOOP_JOB_LEASE_SECONDS = String(overrides.leaseSeconds);
  }
  if (overrides.schedules !== undefined) {
    merged.VISIONLOOP_WORKER_SCHEDULES = overrides.schedules ? 'true' : 'false';
  }
  if (overrides.jobs !== undefined) merged.VISIONLOOP_WORKER_JOBS = overrides.jobs;
  const parsed = parseEnv(workerEnvSchema, merged);
  const names = parsed.VISIONLOOP_WORKER_JOBS?.split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return Object.freeze({
    server,
    concurrency: parsed.VISIONLOOP_WORKER_CONCURRENCY,
    leaseMs: Math.round(parsed.VISIONLOOP_JOB_LEASE_SECONDS * 1000),
    pollMaxMs: Math.round(parsed.VISIONLOOP_WORKER_POLL_SECONDS * 1000),
    schedules: parsed.VISIONLOOP_WORKER_SCHEDULES,
    jobNames: names === undefined || names.length === 0 ? null : Object.freeze(names),
  });
}
