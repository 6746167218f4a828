/**
 * What a job handler is given and how it steers the outcome — the one module both sides of the
 * job system share: services that run as jobs (drift checks, training runs) take a
 * `JobContext` and throw these errors; the worker loop (src/jobs/job-worker.ts) builds the
 * context and reads the errors. The context carries the job id, an AbortSignal (cancel, lease
 * lost, timeout, shutdown), a progress reporter and a logger.
 *
 * Types and two small error classes only: nothing here runs a job or touches the database.
 */
import type { JobName } from './job-catalogue.js';

export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * A progress report: a JSON object. Conventional keys: `fraction` (0..1), `stage`, `message`;
 * jobs add their own (`epoch`, `epochs`, `loss`, `etaSeconds`…).
 */
export type JobProgress = { readonly [key: string]: JsonValue };

export type JobLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type JobLogger = (
  level: JobLogLevel,
  message: string,
  fields?: Readonly<Record<string, unknown>>,
) => void;

/** Why a running job's signal was aborted. */
export type JobAbortKind = 'cancelled' | 'lease_lost' | 'timeout' | 'shutdown';

/** The `signal.reason` of an aborted job; handlers may rethrow it as is. */
export class JobAbortedError extends Error {
  constructor(
    readonly kind: JobAbortKind,
    message: string,
  ) {
    super(message);
    this.name = 'JobAbortedError';
  }
}

/**
 * Thrown by a handler when retrying cannot help (bad payload, a missing input): the job fails
 * at once instead of using its remaining attempts. A VisionLoopError with a 4xx status counts
 * as permanent too.
 */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

export interface JobContext {
  readonly jobId: string;
  readonly name: JobName;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * Aborted when the job is cancelled, the worker loses the lease (another worker took the job
   * over), the job's time limit passes, or the worker shuts down; `signal.reason` is a
   * JobAbortedError. Long handlers must watch it and stop promptly.
   */
  readonly signal: AbortSignal;
  /** Records progress (written at most about once a second, and once at the end). */
  reportProgress(progress: JobProgress): void;
  log: JobLogger;
}
