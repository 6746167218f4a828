/**
 * The job system on every available dialect, with real rivals: separate connections (pools on
 * PostgreSQL) standing for separate worker processes. Claim exclusivity under concurrent
 * workers, dedupe under concurrent enqueues, lease-expiry recovery, retries up to max_attempts,
 * cancel across processes, and the scheduler firing once per period across two workers.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../../src/db/database.js';
import type { JobAbortedError, JobContext } from '../../../src/services/jobs/job-context.js';
import { JobQueue } from '../../../src/services/jobs/job-queue.js';
import { JobScheduler, type ScheduleEntry } from '../../../src/jobs/job-scheduler.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { JobRepository } from '../../../src/repositories/job.repository.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';

const T0 = 1_767_225_600_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`jobs on ${target.dialect}`, () => {
    let handle: TestDatabase;
    let others: DatabaseHandle[];
    let clock: number;
    const queueOn = (db: DatabaseHandle, now?: () => number) =>
      new JobQueue(new JobRepository(db.db, db.dialect), { now });

    beforeAll(async () => {
      handle = await target.open();
      others = await Promise.all([1, 2, 3].map(() => openDatabase(handle.url, { poolMax: 3 })));
    });
    afterAll(async () => {
      await Promise.all((others ?? []).map((other) => other.close()));
      await handle?.cleanup();
    });
    beforeEach(async () => {
      clock = T0;
      await handle.db.deleteFrom('jobs').execute();
      await handle.db.deleteFrom('job_schedules').execute();
    });

    function other(i: number): DatabaseHandle {
      const db = others[i];
      if (db === undefined) throw new Error('no such connection');
      return db;
    }

    it('concurrent workers run every job exactly once', async () => {
      const queue = queueOn(handle);
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) {
        ids.push((await queue.enqueue('system.probe', { durationMs: 0, steps: 1 })).job.id);
      }
      const runs: string[] = [];
      const workers = [0, 1, 2].map(
        (i) =>
          new JobWorker(queueOn(other(i)), {
            id: `worker-${i}`,
            concurrency: 2,
            pollMinMs: 1,
            pollMaxMs: 10,
            sweepEveryMs: 0,
            handlers: {
              'system.probe': async (_payload, context) => {
                runs.push(context.jobId);
                await sleep(2);
                return { by: i };
              },
            },
          }),
      );
      for (const worker of workers) worker.start();
      try {
        for (const id of ids) {
          expect((await queue.waitFor(id, { timeoutMs: 20_000, pollMs: 10 })).status).toBe(
            'succeeded',
          );
        }
      } finally {
        await Promise.all(workers.map((worker) => worker.stop({ graceMs: 1000 })));
      }
      expect([...runs].sort()).toEqual([...ids].sort());
      const rows = await handle.db.selectFrom('jobs').select(['attempts', 'lease_owner']).execute();
      expect(rows.every((row) => row.attempts === 1 && row.lease_owner === null)).toBe(true);
      // More than one worker took part (each has a concurrency of 2 and jobs take 2 ms).
      const owners = new Set(
        (await queue.list({ limit: 100 })).jobs.map((job) => (job.result as { by: number }).by),
      );
      expect(owners.size).toBeGreaterThan(1);
    });

    it('concurrent enqueues with one dedupe key create one job', async () => {
      const results = await Promise.all(
        [0, 1, 2, 0, 1, 2].map((i) =>
          queueOn(other(i)).enqueue(
            'drift.check',
            { camera: 'cam-1' },
            { dedupeKey: 'drift.check:cam-1' },
          ),
        ),
      );
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.job.id)).size).toBe(1);
      expect(await handle.db.selectFrom('jobs').select('id').execute()).toHaveLength(1);
    });

    it('a job whose worker died is run again by another worker after its lease expires', async () => {
      const now = () => clock;
      const queue = queueOn(handle, now);
      const { job } = await queue.enqueue('system.probe', { durationMs: 0, steps: 1 });
      // Worker A claims it and dies: it never renews and never reports.
      const dead = await queueOn(other(0), now).claim('worker-a', 30_000, ['system.probe']);
      expect(dead?.lease.attempt).toBe(1);
      const survivor = new JobWorker(queueOn(other(1), now), {
        id: 'worker-b',
        leaseMs: 30_000,
        sweepEveryMs: 0,
        handlers: { 'system.probe': (_payload, context) => Promise.resolve(context.attempt) },
      });
      expect(await survivor.runOnce()).toBeUndefined();
      clock += 30_001;
      expect(await survivor.runOnce()).toMatchObject({ jobId: job.id, outcome: 'succeeded' });
      expect(await queue.get(job.id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        result: 2,
        leaseOwner: null,
      });
    });

    it('retries with backoff up to max_attempts, then fails', async () => {
      const now = () => clock;
      const queue = queueOn(handle, now);
      const { job } = await queue.enqueue('system.probe', {}, { maxAttempts: 3 });
      const worker = new JobWorker(queueOn(other(0), now), {
        sweepEveryMs: 0,
        handlers: {
          'system.probe': (_payload, context) =>
            Promise.reject(new Error(`attempt ${context.attempt} failed`)),
        },
      });
      const delays: number[] = [];
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i++) {
        const report = await worker.runOnce();
        outcomes.push(report?.outcome ?? 'none');
        const view = await queue.get(job.id);
        if (view.status === 'queued') {
          delays.push(view.runAt - clock);
          expect(await worker.runOnce()).toBeUndefined();
          clock = view.runAt;
        }
      }
      expect(outcomes).toEqual(['retry', 'retry', 'failed']);
      expect(delays).toEqual([5_000, 10_000]);
      expect(await queue.get(job.id)).toMatchObject({
        status: 'failed',
        attempts: 3,
        error: 'attempt 3 failed',
      });
    });

    it('cancels a queued job, and a running one in another process (its handler sees the signal)', async () => {
      const queue = queueOn(handle);
      const queued = (await queue.enqueue('system.probe', {}, { priority: -1 })).job;
      expect(await queue.cancel(queued.id)).toMatchObject({ status: 'cancelled' });

      const running = (await queue.enqueue('system.probe', {})).job;
      const seen: string[] = [];
      const worker = new JobWorker(queueOn(other(0)), {
        renewEveryMs: 20,
        sweepEveryMs: 0,
        handlers: {
          'system.probe': (_payload, context: JobContext) =>
            new Promise((_resolve, reject) => {
              context.signal.addEventListener('abort', () => {
                const reason = context.signal.reason as JobAbortedError;
                seen.push(reason.kind);
                reject(reason);
              });
            }),
        },
      });
      const outcome = worker.runOnce();
      for (let i = 0; i < 200 && (await queue.get(running.id)).status !== 'running'; i++) {
        await sleep(10);
      }
      await queue.cancel(running.id);
      expect(await outcome).toMatchObject({ jobId: running.id, outcome: 'cancelled' });
      expect(seen).toEqual(['cancelled']);
      expect((await queue.get(running.id)).status).toBe('cancelled');
      expect((await queue.get(queued.id)).attempts).toBe(0);
    });

    it('two workers scheduling at once enqueue each period once', async () => {
      const now = () => clock;
      const entry: ScheduleEntry = {
        key: 'test.every-minute',
        everyMs: () => 60_000,
        jobs: () =>
          Promise.resolve(
            ['cam-1', 'cam-2'].map((camera) => ({
              name: 'drift.check' as const,
              payload: { camera, trigger: 'schedule' as const },
              dedupeKey: `drift.check:${camera}`,
            })),
          ),
      };
      const schedulers = [0, 1].map(
        (i) =>
          new JobScheduler(
            queueOn(other(i), now),
            new JobRepository(other(i).db, other(i).dialect),
            [entry],
            { owner: `worker-${i}`, now },
          ),
      );
      const queue = queueOn(handle, now);
      const fired: number[] = [];
      for (let period = 0; period < 5; period++) {
        // Both tick at the same moment, then again a little later in the same period.
        for (const offset of [0, 1_000, 59_999]) {
          clock = T0 + period * 60_000 + offset;
          const ticks = await Promise.all(schedulers.map((scheduler) => scheduler.tick()));
          fired.push(ticks.reduce((n, tick) => n + tick.fired.length, 0));
        }
        // The period's jobs finish before the next period, so dedupe is not what stops a
        // second enqueue: the schedule's compare-and-set is.
        for (let claimed = await queue.claim('w', 60_000, ['drift.check']); claimed;) {
          await queue.succeed(claimed.lease, null);
          claimed = await queue.claim('w', 60_000, ['drift.check']);
        }
      }
      expect(fired).toEqual([1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]);
      const jobs = await handle.db.selectFrom('jobs').select(['dedupe_key']).execute();
      expect(jobs).toHaveLength(10);
      const schedule = await handle.db.selectFrom('job_schedules').selectAll().executeTakeFirst();
      expect(schedule).toMatchObject({ key: 'test.every-minute', next_run_at: T0 + 5 * 60_000 });
    });

    it('a scheduled job still queued or running is not enqueued twice', async () => {
      const now = () => clock;
      const entry: ScheduleEntry = {
        key: 'test.fast',
        everyMs: () => 1_000,
        jobs: () =>
          Promise.resolve([
            {
              name: 'drift.check' as const,
              payload: { camera: 'slow' },
              dedupeKey: 'drift.check:slow',
            },
          ]),
      };
      const scheduler = new JobScheduler(
        queueOn(handle, now),
        new JobRepository(handle.db, handle.dialect),
        [entry],
        { owner: 'w', now },
      );
      const enqueued: number[] = [];
      for (let i = 0; i < 4; i++) {
        clock = T0 + i * 1_000;
        enqueued.push((await scheduler.tick()).enqueued.length);
      }
      expect(enqueued).toEqual([1, 0, 0, 0]);
    });
  });
}
