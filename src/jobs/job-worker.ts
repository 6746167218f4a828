/**
 * The worker loop: claims jobs it has handlers for, runs them with a context (AbortSignal,
 * progress, log), keeps their leases alive, and records how each attempt ended.
 *
 * Over 500 lines on purpose: one attempt state machine (claim, renew, abort, settle) whose
 * timers share the per-job state; split, its invariants would span files.
 *
 * - Polling: claims until the queue is empty, then sleeps `pollMinMs`, doubling up to
 *   `pollMaxMs` while idle; an in-process enqueue wakes it at once.
 * - Leases: renewed every `renewEveryMs` (a third of the lease by default). A renewal that finds
 *   the lease gone (another worker took the job after it expired) aborts the handler with
 *   `lease_lost` and nothing is recorded; one that finds a cancel request aborts it with
 *   `cancelled`. If renewals keep failing (database unreachable) past the lease, the handler is
 *   aborted too, because another worker may take the job over.
 * - Limits: an attempt running past its catalogue `timeoutMs` is aborted (`timeout`) and counts
 *   as a failed attempt. A handler that ignores its aborted signal is abandoned after
 *   `abortGraceMs` (its later writes are harmless: every write is lease-guarded).
 * - Outcomes: returned → succeeded; threw → retried with backoff while attempts are left
 *   (PermanentJobError and 4xx VisionLoopErrors fail at once); threw after a cancel → cancelled;
 *   threw after shutdown → released (back to queued, attempt not counted).
 * - Sweeps expired leases every `sweepEveryMs`, so a dead worker's job is retried or failed.
 * - Announces itself in `job_workers` every `heartbeatMs` (valid for three periods) and removes
 *   itself on stop, so the server knows whether anyone will run a job it waits for.
 * - `stop()` stops claiming, lets running jobs finish for `graceMs`, then aborts them
 *   (`shutdown`) and releases them.
 *
 * It never throws out of its loop or timers: every failure is logged and retried later.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { JobLease } from '../repositories/job.repository.js';
import { isJobName, jobDefinition, type JobName } from '../services/jobs/job-catalogue.js';
import {
  JobAbortedError,
  PermanentJobError,
  type JobAbortKind,
  type JobContext,
  type JobLogger,
  type JobProgress,
  type JsonValue,
} from '../services/jobs/job-context.js';
import { describeError, type ClaimedJob, type JobQueue } from '../services/jobs/job-queue.js';
import { isVisionLoopError } from '../shared/errors.js';
import type { JobHandler, JobHandlerMap } from './job-handler.js';

export interface JobWorkerOptions {
  handlers: JobHandlerMap;
  /** Stored as the lease owner. Default `<host>:<pid>:<random>`. */
  id?: string;
  /** Jobs run at once. Default 1. */
  concurrency?: number;
  /** Lease length, ms. Default 30 s. */
  leaseMs?: number;
  /** Lease renewal period, ms. Default a third of the lease, at most 10 s. */
  renewEveryMs?: number;
  /** Idle polling starts at this period, ms (default 200)… */
  pollMinMs?: number;
  /** …and doubles up to this one (default 5 s). */
  pollMaxMs?: number;
  /** Expired-lease sweep period, ms; 0 turns it off. Default the lease, at most 15 s. */
  sweepEveryMs?: number;
  /** Presence heartbeat period, ms. Default a third of the lease, at most 10 s. */
  heartbeatMs?: number;
  /** Most one progress write per this period, ms. Default 1 s. */
  progressEveryMs?: number;
  /** How long an aborted handler gets to stop before it is abandoned, ms. Default 10 s. */
  abortGraceMs?: number;
  /** Per-name attempt time limits overriding the catalogue's, ms. */
  timeoutsMs?: Partial<Record<JobName, number>>;
  log?: JobLogger;
  /** Let the worker's timers not keep the process alive (in-process use). Default false. */
  unref?: boolean;
}

export type AttemptOutcome =
  | 'succeeded'
  | 'retry'
  | 'failed'
  | 'cancelled'
  | 'released'
  /** The lease was lost: another worker or the sweeper owns the job now. */
  | 'lost';

export interface AttemptReport {
  jobId: string;
  name: string;
  attempt: number;
  outcome: AttemptOutcome;
  error: string | null;
}

/** Why a running job was aborted; the first reason wins. */
interface AbortState {
  kind: JobAbortKind | null;
}

interface Running {
  claimed: ClaimedJob;
  controller: AbortController;
  aborted: AbortState;
  done: Promise<AttemptReport>;
}

type Settled =
  | { kind: 'returned'; value: JsonValue | undefined }
  | { kind: 'threw'; error: unknown }
  | { kind: 'abandoned' };

const NO_LOG: JobLogger = () => undefined;

export function defaultWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true;
  return isVisionLoopError(error) && error.httpStatus >= 400 && error.httpStatus < 500;
}

export class JobWorker {
  readonly id: string;
  private readonly handlers: JobHandlerMap;
  private readonly names: readonly JobName[];
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly pollMinMs: number;
  private readonly pollMaxMs: number;
  private readonly sweepEveryMs: number;
  private readonly progressEveryMs: number;
  private readonly heartbeatMs: number;
  private readonly abortGraceMs: number;
  private readonly timeoutsMs: Partial<Record<JobName, number>>;
  private readonly log: JobLogger;
  private readonly unref: boolean;

  private readonly running = new Map<string, Running>();
  private started = false;
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private wakeSleeper: (() => void) | null = null;
  private wokenEarly = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private unsubscribe: (() => void) | null = null;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly queue: JobQueue,
    options: JobWorkerOptions,
  ) {
    this.id = options.id ?? defaultWorkerId();
    this.handlers = options.handlers;
    this.names = Object.keys(options.handlers).filter(
      (name): name is JobName => isJobName(name) && options.handlers[name] !== undefined,
    );
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.leaseMs = options.leaseMs ?? 30_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.min(10_000, Math.floor(this.leaseMs / 3));
    this.pollMinMs = options.pollMinMs ?? 200;
    this.pollMaxMs = Math.max(this.pollMinMs, options.pollMaxMs ?? 5_000);
    this.sweepEveryMs = options.sweepEveryMs ?? Math.min(15_000, this.leaseMs);
    this.progressEveryMs = options.progressEveryMs ?? 1_000;
    this.heartbeatMs = options.heartbeatMs ?? Math.min(10_000, Math.floor(this.leaseMs / 3));
    this.abortGraceMs = options.abortGraceMs ?? 10_000;
    this.timeoutsMs = options.timeoutsMs ?? {};
    this.log = options.log ?? NO_LOG;
    this.unref = options.unref ?? false;
  }

  /** The job names this worker claims. */
  get jobNames(): readonly JobName[] {
    return this.names;
  }

  /** Jobs running now. */
  get activeJobs(): readonly string[] {
    return [...this.running.keys()];
  }

  /** Starts the loop (and the sweeper). Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.queue.subscribe((signal) => {
      if (signal.type === 'enqueued') {
        this.wake();
        return;
      }
      const run = this.running.get(signal.jobId);
      if (run !== undefined) this.abort(run, 'cancelled');
    });
    void this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    if (this.unref) this.heartbeatTimer.unref();
    if (this.sweepEveryMs > 0) {
      // A worker that starts recovers what dead workers left behind at once.
      void this.sweepOnce();
      this.sweepTimer = setInterval(() => void this.sweepOnce(), this.sweepEveryMs);
      if (this.unref) this.sweepTimer.unref();
    }
    this.loopDone = this.loop();
  }

  /** Ends the idle sleep now (something was enqueued). */
  wake(): void {
    const wake = this.wakeSleeper;
    this.wakeSleeper = null;
    // Not sleeping (claiming, say): the next sleep returns at once instead.
    if (wake === null) this.wokenEarly = true;
    else wake();
  }

  /**
   * Stops claiming; running jobs get `graceMs` (default 30 s) to finish, then are aborted
   * (`shutdown`) and released back to the queue. Idempotent.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.unsubscribe?.();
      if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
      if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
      this.wake();
      await this.loopDone;
      const graceMs = options.graceMs ?? 30_000;
      const all = [...this.running.values()];
      if (all.length > 0) {
        const finished = await waitAll(
          all.map((r) => r.done),
          graceMs,
        );
        if (!finished) {
          for (const run of this.running.values()) this.abort(run, 'shutdown');
          await Promise.all([...this.running.values()].map((r) => r.done));
        }
      }
      if (this.started) {
        await this.queue.farewell(this.id).catch((error: unknown) => {
          this.log('warn', 'removing the worker presence failed', { error: describeError(error) });
        });
      }
    })();
    return this.stopped;
  }

  /**
   * Claims one job and runs it to the end (for tests and one-shot tools). Undefined when no
   * job was runnable. Does not need `start()`.
   */
  async runOnce(): Promise<AttemptReport | undefined> {
    const claimed = await this.queue.claim(this.id, this.leaseMs, this.names);
    if (claimed === undefined) return undefined;
    return this.launch(claimed).done;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.queue.heartbeat(
        {
          id: this.id,
          host: hostname(),
          pid: process.pid,
          jobNames: this.names,
          concurrency: this.concurrency,
          startedAt: this.startedAt,
        },
        3 * this.heartbeatMs,
      );
    } catch (error) {
      this.log('warn', 'worker heartbeat failed', { error: describeError(error) });
    }
  }

  /** Sweeps expired leases once (the timer does this every `sweepEveryMs`). */
  async sweepOnce(): Promise<void> {
    try {
      const summary = await this.queue.sweep();
      const total = summary.requeued.length + summary.failed.length + summary.cancelled.length;
      if (total > 0)
        this.log('warn', 'recovered jobs whose worker stopped renewing', { ...summary });
    } catch (error) {
      this.log('warn', 'job sweep failed', { error: describeError(error) });
    }
  }

  private async loop(): Promise<void> {
    let idleMs = this.pollMinMs;
    while (!this.stopping) {
      if (this.running.size >= this.concurrency) {
        await this.sleep(this.pollMaxMs);
        continue;
      }
      let claimed: ClaimedJob | undefined;
      try {
        claimed = await this.queue.claim(this.id, this.leaseMs, this.names);
      } catch (error) {
        this.log('warn', 'claiming a job failed; retrying', { error: describeError(error) });
        await this.sleep(this.pollMaxMs);
        continue;
      }
      if (this.stopping && claimed !== undefined) {
        // Claimed while stop() began: hand it straight back.
        await this.queue.release(claimed.lease).catch(() => false);
        break;
      }
      if (claimed !== undefined) {
        idleMs = this.pollMinMs;
        this.launch(claimed);
        continue;
      }
      await this.sleep(idleMs);
      idleMs = Math.min(this.pollMaxMs, idleMs * 2);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping || this.wokenEarly) {
        this.wokenEarly = false;
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.wakeSleeper = null;
        resolve();
      }, ms);
      if (this.unref) timer.unref();
      this.wakeSleeper = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private abortReason(kind: JobAbortKind): JobAbortedError {
    const messages: Record<JobAbortKind, string> = {
      cancelled: 'the job was cancelled',
      lease_lost: 'the worker lost the job lease (another worker may run it now)',
      timeout: 'the job ran past its time limit',
      shutdown: 'the worker is shutting down',
    };
    return new JobAbortedError(kind, messages[kind]);
  }

  private abort(run: Pick<Running, 'controller' | 'aborted'>, kind: JobAbortKind): void {
    run.aborted.kind ??= kind;
    run.controller.abort(this.abortReason(kind));
  }

  private launch(claimed: ClaimedJob): Running {
    const controller = new AbortController();
    const aborted: AbortState = { kind: null };
    const done = this.execute(claimed, controller, aborted)
      .catch((error: unknown): AttemptReport => {
        this.log('error', 'recording a job outcome failed', {
          job: claimed.lease.jobId,
          error: describeError(error),
        });
        return {
          jobId: claimed.lease.jobId,
          name: claimed.name,
          attempt: claimed.lease.attempt,
          outcome: 'lost',
          error: describeError(error),
        };
      })
      .finally(() => {
        this.running.delete(claimed.lease.jobId);
        this.wake();
      });
    const run: Running = { claimed, controller, aborted, done };
    this.running.set(claimed.lease.jobId, run);
    return run;
  }

  private async execute(
    claimed: ClaimedJob,
    controller: AbortController,
    aborted: AbortState,
  ): Promise<AttemptReport> {
    const run = { controller, aborted };
    const { lease } = claimed;
    const report = (outcome: AttemptOutcome, error: string | null): AttemptReport => {
      const level = outcome === 'succeeded' || outcome === 'released' ? 'info' : 'warn';
      this.log(level, `job ${claimed.name} ${outcome}`, {
        job: lease.jobId,
        attempt: lease.attempt,
        ...(error === null ? {} : { error }),
      });
      return { jobId: lease.jobId, name: claimed.name, attempt: lease.attempt, outcome, error };
    };

    const name = claimed.name;
    const handler = isJobName(name) ? this.handlers[name] : undefined;
    if (!isJobName(name) || handler === undefined) {
      const message = `no handler for job "${name}" in this worker`;
      return report(
        (await this.queue.fail(claimed, message, true)) === 'failed' ? 'failed' : 'lost',
        message,
      );
    }
    const parsed = jobDefinition(name).payload.safeParse(claimed.payload);
    if (!parsed.success) {
      const message = `invalid payload: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`;
      const outcome = await this.queue.fail(claimed, message, true);
      return report(outcome === 'failed' ? 'failed' : 'lost', message);
    }

    this.log('info', `job ${name} started`, { job: lease.jobId, attempt: lease.attempt });
    const progress = this.progressWriter(lease);
    const context: JobContext = {
      jobId: lease.jobId,
      name,
      attempt: lease.attempt,
      maxAttempts: claimed.maxAttempts,
      signal: controller.signal,
      reportProgress: progress.report,
      log: (level, message, fields) =>
        this.log(level, message, { job: lease.jobId, name, ...fields }),
    };

    let lastRenewal = Date.now();
    const renewTimer = setInterval(() => {
      void (async () => {
        try {
          const state = await this.queue.renew(lease, this.leaseMs);
          lastRenewal = Date.now();
          if (state === 'lost') this.abort(run, 'lease_lost');
          else if (state === 'cancel') this.abort(run, 'cancelled');
        } catch (error) {
          this.log('warn', 'renewing a job lease failed', {
            job: lease.jobId,
            error: describeError(error),
          });
          if (Date.now() - lastRenewal > this.leaseMs) this.abort(run, 'lease_lost');
        }
      })();
    }, this.renewEveryMs);
    if (this.unref) renewTimer.unref();
    const timeoutMs = this.timeoutsMs[name] ?? jobDefinition(name).timeoutMs;
    const timeoutTimer = setTimeout(() => this.abort(run, 'timeout'), timeoutMs);
    if (this.unref) timeoutTimer.unref();

    let settled: Settled;
    try {
      settled = await this.settle(handler, parsed.data, context, controller.signal);
    } finally {
      clearInterval(renewTimer);
      clearTimeout(timeoutTimer);
    }
    const finalProgress = await progress.finish();

    const kind = aborted.kind;
    if (kind === 'lease_lost') return report('lost', 'lease lost');
    if (settled.kind === 'returned') {
      const done = await this.queue.succeed(lease, settled.value, finalProgress);
      return report(done ? 'succeeded' : 'lost', null);
    }
    if (kind === 'cancelled') {
      const done = await this.queue.cancelled(lease, 'cancelled by request');
      return report(done ? 'cancelled' : 'lost', 'cancelled by request');
    }
    if (kind === 'shutdown') {
      const done = await this.queue.release(lease);
      return report(done ? 'released' : 'lost', 'worker shut down');
    }
    let message: string;
    let permanent = false;
    if (kind === 'timeout') {
      message = `timed out after ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`;
    } else if (settled.kind === 'abandoned') {
      message = 'the handler did not stop after its signal was aborted';
    } else {
      message = describeError(settled.error);
      permanent = isPermanent(settled.error);
    }
    const outcome = await this.queue.fail(claimed, message, permanent);
    return report(outcome, message);
  }

  /** Runs the handler; after an abort, waits at most `abortGraceMs` for it to stop. */
  private settle(
    handler: JobHandler<JobName>,
    payload: unknown,
    context: JobContext,
    signal: AbortSignal,
  ): Promise<Settled> {
    const ran = (async (): Promise<Settled> => {
      try {
        // The payload was parsed by the schema of this very name.
        const value = await (
          handler as (p: unknown, c: JobContext) => Promise<JsonValue | undefined>
        )(payload, context);
        return { kind: 'returned', value };
      } catch (error) {
        return { kind: 'threw', error };
      }
    })();
    let graceTimer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<Settled>((resolve) => {
      const onAbort = (): void => {
        graceTimer = setTimeout(() => resolve({ kind: 'abandoned' }), this.abortGraceMs);
        if (this.unref) graceTimer.unref();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([ran, abandoned]).finally(() => {
      if (graceTimer !== undefined) clearTimeout(graceTimer);
    });
  }

  /** Throttled, serialized progress writes; `finish` returns the last report (unwritten). */
  private progressWriter(lease: JobLease): {
    report: (progress: JobProgress) => void;
    finish: () => Promise<JobProgress | undefined>;
  } {
    let latest: JobProgress | undefined;
    let written: JobProgress | undefined;
    let lastWriteAt = 0;
    let timer: NodeJS.Timeout | null = null;
    let writing: Promise<void> = Promise.resolve();
    let finished = false;

    const write = (): void => {
      timer = null;
      const value = latest;
      if (value === undefined || value === written || finished) return;
      lastWriteAt = Date.now();
      written = value;
      writing = writing.then(async () => {
        try {
          await this.queue.saveProgress(lease, value);
        } catch (error) {
          this.log('warn', 'saving job progress failed', {
            job: lease.jobId,
            error: describeError(error),
          });
        }
      });
    };

    return {
      report: (progress) => {
        if (finished) return;
        try {
          // Stored as JSON: keep a detached copy, and refuse what JSON cannot hold.
          latest = JSON.parse(JSON.stringify(progress)) as JobProgress;
        } catch {
          return;
        }
        if (timer !== null) return;
        const wait = this.progressEveryMs - (Date.now() - lastWriteAt);
        if (wait <= 0) write();
        else {
          timer = setTimeout(write, wait);
          if (this.unref) timer.unref();
        }
      },
      finish: async () => {
        finished = true;
        if (timer !== null) clearTimeout(timer);
        await writing;
        return latest;
      },
    };
  }
}

/** True when every promise settled within `ms`. */
async function waitAll(promises: readonly Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const all = Promise.allSettled(promises).then(() => true as const);
  try {
    return await Promise.race([all, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
