/**
 * The periodic scheduler: "every N seconds" entries that enqueue jobs (cron-like, at a fixed
 * period). Safe with many workers and replicas running it at once:
 *
 * - each entry has a row in `job_schedules`; a scheduler fires an entry only after moving its
 *   `next_run_at` one period ahead with a compare-and-set, so exactly one scheduler fires it per
 *   period, whichever ticks first;
 * - each job it enqueues carries a dedupe key (e.g. `drift.check:<camera>`), so a period that
 *   fires while the previous period's job is still queued or running adds nothing.
 *
 * An entry's period is read on every tick (settings changes apply without a restart); an entry
 * fans out to any number of jobs (one per camera). It never runs jobs.
 */
import type { JobRepository } from '../repositories/job.repository.js';
import type { ScheduledJob } from '../services/jobs/job-catalogue.js';
import type { JobLogger } from '../services/jobs/job-context.js';
import type { JobQueue } from '../services/jobs/job-queue.js';

export interface ScheduleEntry {
  /** Unique; the `job_schedules` key. */
  key: string;
  /** The period, ms (read on every tick). */
  everyMs: () => number | Promise<number>;
  /** The jobs to enqueue when the entry fires. */
  jobs: (now: number) => Promise<readonly ScheduledJob[]>;
}

export interface SchedulerTick {
  /** Entries this scheduler fired. */
  fired: string[];
  /** Jobs it created (duplicates of active jobs not counted). */
  enqueued: string[];
}

export interface JobSchedulerOptions {
  /** Stored as `last_owner` (the worker id). */
  owner: string;
  /** How often due entries are looked for, ms. Default 5 s. */
  tickMs?: number;
  now?: () => number;
  log?: JobLogger;
  /** Let the tick timer not keep the process alive. Default false. */
  unref?: boolean;
}

export class JobScheduler {
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly log: JobLogger;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<SchedulerTick> | null = null;

  constructor(
    private readonly queue: JobQueue,
    private readonly jobs: JobRepository,
    private readonly entries: readonly ScheduleEntry[],
    private readonly options: JobSchedulerOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.tickMs = options.tickMs ?? 5_000;
    this.log = options.log ?? (() => undefined);
  }

  start(): void {
    if (this.timer !== null || this.entries.length === 0) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    if (this.options.unref === true) this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Fires every due entry once. Never rejects (failures are logged). */
  tick(): Promise<SchedulerTick> {
    // One tick at a time: a slow database must not pile ticks up.
    this.ticking ??= this.fireDue().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async fireDue(): Promise<SchedulerTick> {
    const result: SchedulerTick = { fired: [], enqueued: [] };
    for (const entry of this.entries) {
      try {
        const now = this.now();
        const everyMs = await entry.everyMs();
        if (!(everyMs > 0)) continue;
        if (!(await this.jobs.claimSchedule(entry.key, this.options.owner, now, everyMs))) continue;
        result.fired.push(entry.key);
        for (const job of await entry.jobs(now)) {
          const { job: view, created } = await this.queue.enqueue(job.name, job.payload, {
            dedupeKey: job.dedupeKey,
            priority: job.priority,
          });
          if (created) result.enqueued.push(view.id);
        }
      } catch (error) {
        this.log('warn', `schedule ${entry.key} failed`, {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return result;
  }
}
