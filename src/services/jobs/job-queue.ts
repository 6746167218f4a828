/**
 * The job queue: the rules of a job's life, on the `jobs` table (docs/jobs.md).
 *
 * Over 500 lines on purpose: every transition of a job's life in one place, beside the
 * others it must agree with; the SQL is in repositories/job.repository.ts.
 *
 * For everyone: `enqueue` (payload parsed by the catalogue schema; a dedupe key makes it a no-op
 * while a job with that key is queued or running), `get`, `list`, `cancel`, `retry`, `waitFor`,
 * and `sweep` (recovery of jobs whose worker stopped renewing its lease).
 *
 * For workers (job-worker.ts), the attempt protocol: `claim` (a lease), `renew` (extends it and
 * reports a cancel request), `saveProgress`, then exactly one of `succeed`, `fail` (retry with
 * backoff while attempts are left, else failed), `cancelled`, or `release` (shutdown: back to
 * queued, the attempt not counted). Each of those is guarded by the lease, so a worker that lost
 * its job changes nothing.
 *
 * In-process listeners hear of new jobs and cancel requests at once (a local worker wakes up or
 * aborts without waiting for its next poll); other processes learn through the database.
 * It never runs a job.
 */
import { randomBytes } from 'node:crypto';
import type { JobRow, JobStatus } from '../../db/schema.js';
import type { JobLease, JobRepository } from '../../repositories/job.repository.js';
import { FINISHED_JOB_STATUSES } from '../../shared/api/jobs.js';
import type { JobListQuery, JobListResponse, JobView } from '../../shared/api/jobs.js';
import { VisionLoopError, isVisionLoopError } from '../../shared/errors.js';
import {
  DEFAULT_RETRY,
  isJobName,
  jobDefinition,
  retryDelayMs,
  type JobName,
  type JobPayloadInput,
} from './job-catalogue.js';
import type { JobProgress, JsonValue } from './job-context.js';

export interface EnqueueOptions {
  /** While a queued or running job has this key, enqueueing another returns that one. */
  dedupeKey?: string;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Not before this time, epoch ms. Default now. */
  runAt?: number;
  /** Default: the catalogue's maxAttempts for the name. */
  maxAttempts?: number;
}

export interface EnqueueResult {
  job: JobView;
  /** False when an active job with the same dedupe key was returned instead. */
  created: boolean;
}

export type QueueSignal =
  { type: 'enqueued'; jobId: string; name: string } | { type: 'cancel'; jobId: string };
export type QueueListener = (signal: QueueSignal) => void;

/** A claimed attempt, as the worker gets it. */
export interface ClaimedJob {
  lease: JobLease;
  name: string;
  maxAttempts: number;
  /** The stored payload, parsed as JSON (the worker validates it with the catalogue schema). */
  payload: unknown;
  row: JobRow;
}

export interface SweepSummary {
  /** Back to queued for another attempt. */
  requeued: string[];
  failed: string[];
  cancelled: string[];
}

export type FailOutcome = 'retry' | 'failed' | 'lost';

/** A running worker as it announces itself. */
export interface WorkerPresence {
  id: string;
  host: string;
  pid: number;
  jobNames: readonly string[];
  concurrency: number;
  startedAt: number;
  /** Gone when not heard from again before this time. */
  expiresAt: number;
}

export interface JobQueueOptions {
  /** The clock of job times (run_at, leases), epoch ms (tests pin it). */
  now?: () => number;
  /**
   * The clock of worker presence, epoch ms. Default the wall clock, also when `now` is pinned:
   * presence says whether processes are alive right now.
   */
  presenceNow?: () => number;
  newId?: () => string;
}

const MAX_ERROR_LENGTH = 4000;

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function parseJsonObject(text: string | null): Record<string, unknown> | null {
  const value = parseJson(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

export function jobView(row: JobRow): JobView {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    priority: row.priority,
    dedupeKey: row.dedupe_key,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    cancelRequested: row.cancel_requested === 1,
    payload: parseJson(row.payload),
    progress: parseJsonObject(row.progress),
    result: parseJson(row.result),
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function isFinished(status: JobStatus): boolean {
  return (FINISHED_JOB_STATUSES as readonly string[]).includes(status);
}

/** A one-line description of what a handler threw, for `jobs.error`. */
export function describeError(error: unknown): string {
  let text: string;
  if (isVisionLoopError(error)) text = `${error.code}: ${error.message}`;
  else if (error instanceof Error) text = error.message || error.name;
  else text = String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

function newJobId(): string {
  return `job_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

function parseCursor(cursor: string): { createdAt: number; id: string } {
  const colon = cursor.indexOf(':');
  return { createdAt: Number(cursor.slice(0, colon)), id: cursor.slice(colon + 1) };
}

function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = 'code' in error ? error.code : undefined;
  // PostgreSQL unique_violation; better-sqlite3's constraint codes.
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
}

export class JobQueue {
  private readonly now: () => number;
  private readonly presenceNow: () => number;
  private readonly newId: () => string;
  private readonly listeners = new Set<QueueListener>();

  constructor(
    private readonly jobs: JobRepository,
    options: JobQueueOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.presenceNow = options.presenceNow ?? Date.now;
    this.newId = options.newId ?? newJobId;
  }

  /** In-process notifications (new jobs, cancel requests). Returns the unsubscribe function. */
  subscribe(listener: QueueListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Adds a job. The payload is parsed with the catalogue's schema (INVALID_ARGUMENT when it
   * does not fit). With a dedupe key held by a queued or running job, returns that job instead
   * (`created: false`).
   */
  async enqueue<N extends JobName>(
    name: N,
    payload: JobPayloadInput<N>,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    if (!isJobName(name)) {
      throw new VisionLoopError('INVALID_ARGUMENT', `unknown job name "${String(name)}"`);
    }
    const definition = jobDefinition(name);
    const parsed = definition.payload.safeParse(payload);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `invalid payload for ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`,
      );
    }
    const maxAttempts = options.maxAttempts ?? definition.maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new VisionLoopError('INVALID_ARGUMENT', 'maxAttempts must be an integer ≥ 1');
    }
    const payloadText = JSON.stringify(parsed.data ?? {});
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const row = {
        id: this.newId(),
        name,
        payload: payloadText,
        status: 'queued' as const,
        priority: options.priority ?? 0,
        dedupe_key: options.dedupeKey ?? null,
        attempts: 0,
        max_attempts: maxAttempts,
        run_at: options.runAt ?? now,
        lease_owner: null,
        lease_expires_at: null,
        cancel_requested: 0 as const,
        progress: null,
        result: null,
        error: null,
        created_at: now,
        updated_at: now,
        started_at: null,
        finished_at: null,
      };
      if (await this.jobs.insertIfAbsent(row)) {
        this.notify({ type: 'enqueued', jobId: row.id, name });
        return { job: jobView({ ...row }), created: true };
      }
      if (options.dedupeKey === undefined) continue;
      const existing = await this.jobs.findActiveByDedupeKey(options.dedupeKey);
      // None: the holder finished between the insert and this read; insert again.
      if (existing !== undefined) return { job: jobView(existing), created: false };
    }
    throw new VisionLoopError('CONFLICT', `could not enqueue ${name}: the queue kept changing`);
  }

  async get(id: string): Promise<JobView> {
    return jobView(await this.require(id));
  }

  async list(query: JobListQuery): Promise<JobListResponse> {
    const rows = await this.jobs.list({
      name: query.name,
      statuses: query.status,
      dedupeKey: query.dedupeKey,
      before: query.before === undefined ? undefined : parseCursor(query.before),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      jobs: page.map(jobView),
      nextCursor:
        rows.length > query.limit && last !== undefined ? `${last.created_at}:${last.id}` : null,
    };
  }

  /**
   * Cancels a job: a queued one at once; a running one is asked to stop (its worker aborts the
   * handler's signal at its next lease renewal, or at once in this process) and ends
   * `cancelled`. CONFLICT for a finished job.
   */
  async cancel(id: string): Promise<JobView> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.require(id);
      if (isFinished(row.status)) {
        throw new VisionLoopError('CONFLICT', `job ${id} already ${row.status}`);
      }
      const now = this.now();
      if (row.status === 'queued') {
        const cancelled = await this.jobs.cancelQueued(id, now);
        if (cancelled !== undefined) return jobView(cancelled);
        continue;
      }
      const requested = await this.jobs.requestCancel(id, now);
      if (requested !== undefined) {
        this.notify({ type: 'cancel', jobId: id });
        return jobView(requested);
      }
    }
    throw new VisionLoopError('CONFLICT', `job ${id} kept changing; try again`);
  }

  /**
   * Runs a failed or cancelled job again, with a fresh set of attempts. CONFLICT when it is
   * queued, running or succeeded, or when another active job holds its dedupe key.
   */
  async retry(id: string): Promise<JobView> {
    const row = await this.require(id);
    if (row.status !== 'failed' && row.status !== 'cancelled') {
      throw new VisionLoopError(
        'CONFLICT',
        `job ${id} is ${row.status}; only failed or cancelled jobs can be retried`,
      );
    }
    let requeued: JobRow | undefined;
    try {
      requeued = await this.jobs.requeueFinished(id, this.now());
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new VisionLoopError(
        'CONFLICT',
        `another job with dedupe key "${row.dedupe_key ?? ''}" is queued or running`,
        { cause: error },
      );
    }
    if (requeued === undefined) {
      throw new VisionLoopError('CONFLICT', `job ${id} changed meanwhile; try again`);
    }
    this.notify({ type: 'enqueued', jobId: id, name: requeued.name });
    return jobView(requeued);
  }

  /**
   * The job once it has finished, or as it is when `timeoutMs` passes (check `status`).
   * Polls the database, so it sees jobs run by workers in other processes.
   */
  async waitFor(
    id: string,
    options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal },
  ): Promise<JobView> {
    const deadline = Date.now() + options.timeoutMs;
    let pollMs = options.pollMs ?? 50;
    for (;;) {
      const view = await this.get(id);
      if (isFinished(view.status) || Date.now() >= deadline || options.signal?.aborted === true) {
        return view;
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(1, Math.min(pollMs, deadline - Date.now()))),
      );
      pollMs = Math.min(1000, pollMs * 1.5);
    }
  }

  /**
   * Recovery: every running job whose lease expired (its worker died, hung, or lost the
   * database) goes back to queued after a backoff when attempts are left, else to failed; a
   * job whose cancel was requested goes to cancelled. Safe to run from many processes.
   */
  async sweep(): Promise<SweepSummary> {
    const summary: SweepSummary = { requeued: [], failed: [], cancelled: [] };
    const now = this.now();
    for (const row of await this.jobs.expiredLeases(now)) {
      const lost = `the worker running attempt ${row.attempts} of ${row.max_attempts} stopped renewing its lease (${row.lease_owner ?? 'unknown worker'}: died, hung or lost the database)`;
      if (row.cancel_requested === 1) {
        const done = await this.jobs.settleExpired(
          row,
          { status: 'cancelled', finished_at: now, error: `cancelled; ${lost}` },
          now,
        );
        if (done) summary.cancelled.push(row.id);
      } else if (row.attempts >= row.max_attempts) {
        const done = await this.jobs.settleExpired(
          row,
          { status: 'failed', finished_at: now, error: `${lost}; no attempts left` },
          now,
        );
        if (done) summary.failed.push(row.id);
      } else {
        const delay = isJobName(row.name)
          ? retryDelayMs(row.name, row.attempts)
          : DEFAULT_RETRY.baseMs;
        const done = await this.jobs.settleExpired(
          row,
          { status: 'queued', run_at: now + delay, error: lost },
          now,
        );
        if (done) {
          summary.requeued.push(row.id);
          this.notify({ type: 'enqueued', jobId: row.id, name: row.name });
        }
      }
    }
    return summary;
  }

  // --- worker presence --------------------------------------------------------------------

  /** Announces (or refreshes) a worker; it counts as alive for `ttlMs`. */
  async heartbeat(
    worker: Omit<WorkerPresence, 'expiresAt' | 'startedAt'> & { startedAt?: number },
    ttlMs: number,
  ): Promise<void> {
    const now = this.presenceNow();
    await this.jobs.upsertWorker({
      id: worker.id,
      host: worker.host,
      pid: worker.pid,
      job_names: JSON.stringify(worker.jobNames),
      concurrency: worker.concurrency,
      started_at: worker.startedAt ?? now,
      last_seen_at: now,
      expires_at: now + ttlMs,
    });
  }

  /** A worker stopped. */
  async farewell(workerId: string): Promise<void> {
    await this.jobs.deleteWorker(workerId);
  }

  /** The workers alive now (optionally only those that run `name`). */
  async liveWorkers(name?: string): Promise<WorkerPresence[]> {
    const rows = await this.jobs.liveWorkers(this.presenceNow());
    const workers = rows.map((row) => {
      const names = parseJson(row.job_names);
      return {
        id: row.id,
        host: row.host,
        pid: row.pid,
        jobNames: Array.isArray(names)
          ? names.filter((n): n is string => typeof n === 'string')
          : [],
        concurrency: row.concurrency,
        startedAt: row.started_at,
        expiresAt: row.expires_at,
      };
    });
    return name === undefined ? workers : workers.filter((w) => w.jobNames.includes(name));
  }

  // --- the worker's attempt protocol ------------------------------------------------------

  /** Leases the next runnable job with one of `names` to `owner` for `leaseMs`. */
  async claim(
    owner: string,
    leaseMs: number,
    names: readonly string[],
  ): Promise<ClaimedJob | undefined> {
    const row = await this.jobs.claim({ owner, now: this.now(), leaseMs, names });
    if (row === undefined) return undefined;
    return {
      lease: { jobId: row.id, owner, attempt: row.attempts },
      name: row.name,
      maxAttempts: row.max_attempts,
      payload: parseJson(row.payload),
      row,
    };
  }

  /** Extends the lease: 'ok', 'cancel' (a cancel was requested), or 'lost'. */
  async renew(lease: JobLease, leaseMs: number): Promise<'ok' | 'cancel' | 'lost'> {
    const renewed = await this.jobs.renew(lease, this.now(), leaseMs);
    if (renewed === undefined) return 'lost';
    return renewed.cancel ? 'cancel' : 'ok';
  }

  saveProgress(lease: JobLease, progress: JobProgress): Promise<boolean> {
    return this.jobs.saveProgress(lease, JSON.stringify(progress), this.now());
  }

  succeed(
    lease: JobLease,
    result: JsonValue | undefined,
    progress?: JobProgress,
  ): Promise<boolean> {
    const now = this.now();
    return this.jobs.settle(
      lease,
      {
        status: 'succeeded',
        result: JSON.stringify(result ?? null),
        error: null,
        finished_at: now,
        ...(progress === undefined ? {} : { progress: JSON.stringify(progress) }),
      },
      now,
    );
  }

  /**
   * Ends a failed attempt: back to queued after the backoff when attempts are left and the
   * failure is not permanent, else failed.
   */
  async fail(claimed: ClaimedJob, message: string, permanent: boolean): Promise<FailOutcome> {
    const now = this.now();
    const { lease } = claimed;
    const name = claimed.name;
    if (!permanent && lease.attempt < claimed.maxAttempts) {
      const delay = isJobName(name) ? retryDelayMs(name, lease.attempt) : DEFAULT_RETRY.baseMs;
      const requeued = await this.jobs.settle(
        lease,
        { status: 'queued', run_at: now + delay, error: message },
        now,
      );
      if (requeued) this.notify({ type: 'enqueued', jobId: lease.jobId, name });
      return requeued ? 'retry' : 'lost';
    }
    const failed = await this.jobs.settle(
      lease,
      { status: 'failed', error: message, finished_at: now },
      now,
    );
    return failed ? 'failed' : 'lost';
  }

  cancelled(lease: JobLease, message: string): Promise<boolean> {
    const now = this.now();
    return this.jobs.settle(lease, { status: 'cancelled', error: message, finished_at: now }, now);
  }

  /** Shutdown: the job goes back to queued at once and this attempt does not count. */
  async release(lease: JobLease): Promise<boolean> {
    const now = this.now();
    const released = await this.jobs.settle(
      lease,
      { status: 'queued', run_at: now, attempts: lease.attempt - 1 },
      now,
    );
    return released;
  }

  private async require(id: string): Promise<JobRow> {
    const row = await this.jobs.findById(id);
    if (row === undefined) throw new VisionLoopError('NOT_FOUND', `no job with id ${id}`);
    return row;
  }

  private notify(signal: QueueSignal): void {
    for (const listener of this.listeners) {
      try {
        listener(signal);
      } catch {
        // A listener's failure must not fail the enqueue or cancel that triggered it.
      }
    }
  }
}
