/**
 * The job claim: one statement that picks the next runnable job and leases it to one worker,
 * `UPDATE jobs … WHERE id = (SELECT id … LIMIT 1) RETURNING *`. On PostgreSQL the inner select
 * takes `FOR UPDATE SKIP LOCKED`, so concurrent claimers each get a different job and never
 * wait on each other; SQLite serializes writers, and an UPDATE takes the write lock before it
 * reads, so the select and the update see the same state.
 *
 * This is the storage half of the job queue (issue 7): the worker loop, retry backoff, lease
 * renewal and the reaper of exhausted jobs belong to the jobs service, which calls this.
 * It never decides what a job means.
 */
import type { Kysely } from 'kysely';
import type { DialectName } from './migrations/migration.js';
import type { Database, EpochMs, JobRow } from './schema.js';

export interface ClaimJobOptions {
  /** Who takes the lease (a worker id); stored in `lease_owner`. */
  owner: string;
  now: EpochMs;
  /** The lease lasts until `now + leaseMs`; the owner must renew it or lose the job. */
  leaseMs: number;
  /** Claim only jobs with these names (a worker that handles a subset). Default: any. */
  names?: readonly string[];
}

interface ClaimTarget {
  /** A `Kysely` or a `Transaction` (a claim inside a caller's transaction holds its lock). */
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
}

/**
 * The claim as a query builder (not executed), for `claimNextJob` and for tests that run the
 * compiled SQL from other threads.
 *
 * A job is runnable when it is not cancel-requested, has attempts left, and is either queued
 * with `run_at <= now`, or running with an expired lease (its worker died). Order: priority
 * (high first), then `run_at`, `created_at`, `id`. Claiming sets status `running`, the lease,
 * `attempts + 1`, `started_at` (first claim only) and `updated_at`.
 */
export function claimNextJobQuery(target: ClaimTarget, options: ClaimJobOptions) {
  const { db, dialect } = target;
  const { owner, now, leaseMs, names } = options;
  const next = db
    .selectFrom('jobs')
    .select('id')
    .where((eb) =>
      eb.and([
        eb('cancel_requested', '=', 0),
        eb('attempts', '<', eb.ref('max_attempts')),
        eb.or([
          eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', now)]),
          eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<', now)]),
        ]),
      ]),
    )
    .$if(names !== undefined, (qb) => qb.where('name', 'in', names ?? []))
    .orderBy('priority', 'desc')
    .orderBy('run_at', 'asc')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .limit(1)
    .$if(dialect === 'postgres', (qb) => qb.forUpdate().skipLocked());
  return db
    .updateTable('jobs')
    .set((eb) => ({
      status: 'running',
      lease_owner: owner,
      lease_expires_at: now + leaseMs,
      attempts: eb('attempts', '+', 1),
      started_at: eb.fn.coalesce('started_at', eb.val(now)),
      updated_at: now,
    }))
    .where('id', '=', next)
    .returningAll();
}

/** Leases the next runnable job to `owner`; undefined when there is none. */
export async function claimNextJob(
  target: ClaimTarget,
  options: ClaimJobOptions,
): Promise<JobRow | undefined> {
  if (options.names?.length === 0) return undefined;
  return claimNextJobQuery(target, options).executeTakeFirst();
}
