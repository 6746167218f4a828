/**
 * The `jobs` and `job_schedules` tables: single-statement reads and guarded writes for the job
 * queue. Every write a worker makes to a job it runs is guarded by its lease — `lease_owner`,
 * the attempt number and status `running` — so a worker that lost its lease (another worker
 * took the job over after it expired, or the sweeper failed it) changes nothing.
 *
 * No transactions span awaits (an SQLite connection shared with the server must never be held
 * across one), and no rules: the queue (services/jobs/job-queue.ts) decides what happens to a job.
 */
import type { Kysely, UpdateQueryBuilder, UpdateResult } from 'kysely';
import type { DialectName } from '../db/database.js';
import { claimNextJob } from '../db/job-claim.js';
import type { ClaimJobOptions } from '../db/job-claim.js';
import type { Database, JobRow, JobStatus, JobUpdate, JobWorkerRow, NewJob } from '../db/schema.js';

type JobUpdateQuery = UpdateQueryBuilder<Database, 'jobs', 'jobs', UpdateResult>;

/** A worker's hold on one attempt of one job. */
export interface JobLease {
  readonly jobId: string;
  readonly owner: string;
  readonly attempt: number;
}

export interface JobListFilter {
  name?: string;
  statuses?: readonly JobStatus[];
  dedupeKey?: string;
  /** Only jobs strictly older than this position in (created_at desc, id desc) order. */
  before?: { createdAt: number; id: string };
  limit: number;
}

export class JobRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /**
   * Inserts the job unless it conflicts with an existing one (its id, or its dedupe key among
   * queued and running jobs). Returns false on a conflict.
   */
  async insertIfAbsent(row: NewJob): Promise<boolean> {
    const result = await this.db
      .insertInto('jobs')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The queued or running job holding `dedupeKey`, if any. */
  findActiveByDedupeKey(dedupeKey: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupe_key', '=', dedupeKey)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
  }

  list(filter: JobListFilter): Promise<JobRow[]> {
    let query = this.db.selectFrom('jobs').selectAll();
    if (filter.name !== undefined) query = query.where('name', '=', filter.name);
    if (filter.statuses !== undefined && filter.statuses.length > 0) {
      query = query.where('status', 'in', [...filter.statuses]);
    }
    if (filter.dedupeKey !== undefined) query = query.where('dedupe_key', '=', filter.dedupeKey);
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', before.createdAt),
          eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)]),
        ]),
      );
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  }

  claim(options: ClaimJobOptions): Promise<JobRow | undefined> {
    return claimNextJob({ db: this.db, dialect: this.dialect }, options);
  }

  /**
   * Extends the lease to `now + leaseMs`. Returns the job's `cancel_requested` flag, or
   * undefined when the lease is no longer this worker's.
   */
  async renew(
    lease: JobLease,
    now: number,
    leaseMs: number,
  ): Promise<{ cancel: boolean } | undefined> {
    const row = await this.guarded(
      this.db.updateTable('jobs').set({ lease_expires_at: now + leaseMs, updated_at: now }),
      lease,
    )
      .returning('cancel_requested')
      .executeTakeFirst();
    return row === undefined ? undefined : { cancel: row.cancel_requested === 1 };
  }

  /** Writes the progress JSON; false when the lease is lost. */
  async saveProgress(lease: JobLease, progress: string, now: number): Promise<boolean> {
    const result = await this.guarded(
      this.db.updateTable('jobs').set({ progress, updated_at: now }),
      lease,
    ).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Ends or requeues the attempt with `changes` (the lease is cleared); false when lost. */
  async settle(lease: JobLease, changes: JobUpdate, now: number): Promise<boolean> {
    const result = await this.guarded(
      this.db.updateTable('jobs').set({
        ...changes,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      }),
      lease,
    ).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** A queued job straight to cancelled. Undefined when it is not queued (any more). */
  cancelQueued(id: string, now: number): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ status: 'cancelled', cancel_requested: 1, finished_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
  }

  /** Asks the worker running the job to stop. Undefined when it is not running (any more). */
  requestCancel(id: string, now: number): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ cancel_requested: 1, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * A failed or cancelled job back to queued with a fresh set of attempts. Undefined when it is
   * not failed or cancelled (any more). Throws on a dedupe-key conflict with an active job.
   */
  requeueFinished(id: string, now: number): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({
        status: 'queued',
        attempts: 0,
        cancel_requested: 0,
        run_at: now,
        error: null,
        result: null,
        progress: null,
        finished_at: null,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('status', 'in', ['failed', 'cancelled'])
      .returningAll()
      .executeTakeFirst();
  }

  /** Running jobs whose lease ran out before `now` (their workers stopped renewing). */
  expiredLeases(now: number, limit = 100): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_expires_at', '<', now)
      .orderBy('lease_expires_at', 'asc')
      .limit(limit)
      .execute();
  }

  /**
   * Applies `changes` to a running job whose lease expired, unless someone (a worker claiming
   * it, another sweeper) changed it since it was read. False when it was changed.
   */
  async settleExpired(row: JobRow, changes: JobUpdate, now: number): Promise<boolean> {
    if (row.lease_expires_at === null) return false;
    const result = await this.db
      .updateTable('jobs')
      .set({ ...changes, lease_owner: null, lease_expires_at: null, updated_at: now })
      .where('id', '=', row.id)
      .where('status', '=', 'running')
      .where('attempts', '=', row.attempts)
      .where('lease_expires_at', '=', row.lease_expires_at)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Fires schedule `key` if it is due: moves `next_run_at` to `nextRunAt` with a
   * compare-and-set, so of several schedulers exactly one wins each period. A schedule seen for
   * the first time is due at once. `intervalMs` also fires a schedule whose next run lies
   * further ahead than one interval (the interval was shortened).
   */
  async claimSchedule(
    key: string,
    owner: string,
    now: number,
    intervalMs: number,
  ): Promise<boolean> {
    await this.db
      .insertInto('job_schedules')
      .values({ key, next_run_at: now, last_run_at: null, last_owner: null, updated_at: now })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const result = await this.db
      .updateTable('job_schedules')
      .set({ next_run_at: now + intervalMs, last_run_at: now, last_owner: owner, updated_at: now })
      .where('key', '=', key)
      .where((eb) =>
        eb.or([eb('next_run_at', '<=', now), eb('next_run_at', '>', now + intervalMs)]),
      )
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Creates or refreshes a worker's presence row. */
  async upsertWorker(row: JobWorkerRow): Promise<void> {
    await this.db
      .insertInto('job_workers')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          last_seen_at: row.last_seen_at,
          expires_at: row.expires_at,
          job_names: row.job_names,
          concurrency: row.concurrency,
        }),
      )
      .execute();
  }

  async deleteWorker(id: string): Promise<void> {
    await this.db.deleteFrom('job_workers').where('id', '=', id).execute();
  }

  /** Workers whose presence has not expired at `now`; deletes the expired ones. */
  async liveWorkers(now: number): Promise<JobWorkerRow[]> {
    await this.db.deleteFrom('job_workers').where('expires_at', '<=', now).execute();
    return this.db
      .selectFrom('job_workers')
      .selectAll()
      .where('expires_at', '>', now)
      .orderBy('started_at', 'asc')
      .execute();
  }

  private guarded(query: JobUpdateQuery, lease: JobLease): JobUpdateQuery {
    return query
      .where('id', '=', lease.jobId)
      .where('status', '=', 'running')
      .where('lease_owner', '=', lease.owner)
      .where('attempts', '=', lease.attempt);
  }
}
