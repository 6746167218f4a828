import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../db/database.js';
import { migrateToLatest } from '../../db/migrate.js';
import { JobRepository } from '../../repositories/job.repository.js';
import { VisionLoopError } from '../../shared/errors.js';
import { JobQueue } from './job-queue.js';

const T0 = 1_767_225_600_000;
const LEASE = 30_000;

let dir: string;
let handle: DatabaseHandle;
let clock: number;
let queue: JobQueue;
let ids: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-queue-'));
  handle = await openDatabase(join(dir, 'vl.db'));
  await migrateToLatest(handle);
  clock = T0;
  ids = 0;
  queue = new JobQueue(new JobRepository(handle.db, handle.dialect), {
    now: () => clock,
    presenceNow: () => clock,
    newId: () => `job-${String(++ids).padStart(3, '0')}`,
  });
});

afterEach(async () => {
  await handle.close();
  rmSync(dir, { recursive: true, force: true });
});

async function claim(owner = 'worker-a') {
  const claimed = await queue.claim(owner, LEASE, ['system.probe', 'drift.check']);
  if (claimed === undefined) throw new Error('nothing to claim');
  return claimed;
}

describe('enqueue', () => {
  it('stores the parsed payload with its defaults and the catalogue attempts', async () => {
    const { job, created } = await queue.enqueue('system.probe', { durationMs: 5 });
    expect(created).toBe(true);
    expect(job).toMatchObject({
      id: 'job-001',
      name: 'system.probe',
      status: 'queued',
      payload: { durationMs: 5, steps: 10 },
      attempts: 0,
      maxAttempts: 3,
      runAt: T0,
      cancelRequested: false,
    });
    expect((await queue.enqueue('drift.check', { camera: 'cam-1' })).job.maxAttempts).toBe(2);
  });

  it('refuses a payload its schema rejects, and an unknown name', async () => {
    await expect(queue.enqueue('system.probe', { durationMs: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('durationMs') as unknown,
    });
    await expect(queue.enqueue('drift.check', { camera: 'bad/camera' })).rejects.toBeInstanceOf(
      VisionLoopError,
    );
    await expect(
      // @ts-expect-error an unknown name is refused at run time too
      queue.enqueue('nope.never', {}),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('returns the active job for a dedupe key, and makes a new one once it finished', async () => {
    const first = await queue.enqueue(
      'drift.check',
      { camera: 'c' },
      { dedupeKey: 'drift.check:c' },
    );
    const again = await queue.enqueue(
      'drift.check',
      { camera: 'c' },
      { dedupeKey: 'drift.check:c' },
    );
    expect(again).toEqual({ job: first.job, created: false });
    const claimed = await claim();
    // Running still holds the key.
    const whileRunning = await queue.enqueue(
      'drift.check',
      { camera: 'c' },
      { dedupeKey: 'drift.check:c' },
    );
    expect(whileRunning.created).toBe(false);
    expect(whileRunning.job.id).toBe(first.job.id);
    expect(await queue.succeed(claimed.lease, { ok: true })).toBe(true);
    const after = await queue.enqueue(
      'drift.check',
      { camera: 'c' },
      { dedupeKey: 'drift.check:c' },
    );
    expect(after.created).toBe(true);
    expect(after.job.id).not.toBe(first.job.id);
  });
});

describe('attempts', () => {
  it('retries with exponential backoff until max_attempts, then fails', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    const runAts: number[] = [];
    const outcomes: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      // Not claimable before its run_at.
      if (attempt > 1) {
        expect(await queue.claim('w', LEASE, ['system.probe'])).toBeUndefined();
        clock = (await queue.get(job.id)).runAt;
      }
      const claimed = await claim();
      expect(claimed.lease.attempt).toBe(attempt);
      outcomes.push(await queue.fail(claimed, `boom ${attempt}`, false));
      const view = await queue.get(job.id);
      runAts.push(view.runAt - clock);
    }
    expect(outcomes).toEqual(['retry', 'retry', 'failed']);
    // 5 s, then 10 s (DEFAULT_RETRY base 5 s doubling); the last is not rescheduled.
    expect(runAts.slice(0, 2)).toEqual([5_000, 10_000]);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: 'boom 3',
      finishedAt: clock,
      leaseOwner: null,
    });
    expect(await queue.claim('w', LEASE, ['system.probe'])).toBeUndefined();
  });

  it('fails a permanent failure at once, whatever attempts are left', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    expect(await queue.fail(await claim(), 'bad input', true)).toBe('failed');
    expect(await queue.get(job.id)).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('hands a job whose lease expired to another worker, and ignores the old holder', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    const dead = await claim('worker-a');
    clock += LEASE - 1;
    expect(await queue.claim('worker-b', LEASE, ['system.probe'])).toBeUndefined();
    clock += 2;
    const taken = await claim('worker-b');
    expect(taken.lease).toEqual({ jobId: job.id, owner: 'worker-b', attempt: 2 });
    // The dead worker comes back: every write it tries is refused.
    expect(await queue.renew(dead.lease, LEASE)).toBe('lost');
    expect(await queue.saveProgress(dead.lease, { fraction: 0.5 })).toBe(false);
    expect(await queue.succeed(dead.lease, 'stale')).toBe(false);
    expect(await queue.fail(dead, 'stale', false)).toBe('lost');
    expect(await queue.get(job.id)).toMatchObject({ status: 'running', leaseOwner: 'worker-b' });
    expect(await queue.succeed(taken.lease, { done: 2 })).toBe(true);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { done: 2 },
      leaseOwner: null,
      leaseExpiresAt: null,
    });
  });

  it('renews the lease, so a live worker keeps its job past the first lease', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    const held = await claim();
    clock += LEASE - 1000;
    expect(await queue.renew(held.lease, LEASE)).toBe('ok');
    clock += LEASE - 1000;
    expect(await queue.claim('worker-b', LEASE, ['system.probe'])).toBeUndefined();
    expect((await queue.get(job.id)).leaseExpiresAt).toBe(T0 + 2 * LEASE - 1000);
  });

  it('release puts the job back without counting the attempt', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    const held = await claim();
    expect(await queue.release(held.lease)).toBe(true);
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 0, runAt: T0 });
    expect((await claim()).lease.attempt).toBe(1);
  });
});

describe('sweep', () => {
  it('requeues, fails or cancels running jobs whose workers stopped renewing', async () => {
    const retried = (await queue.enqueue('system.probe', {})).job;
    const spent = (await queue.enqueue('system.probe', {}, { maxAttempts: 1 })).job;
    const cancelled = (await queue.enqueue('system.probe', {})).job;
    const alive = (await queue.enqueue('system.probe', {})).job;
    for (let i = 0; i < 3; i++) await claim('dead-worker');
    await queue.cancel(cancelled.id);
    clock += 10_000;
    const live = await claim('live-worker');
    clock += LEASE - 5_000;
    expect(await queue.sweep()).toEqual({
      requeued: [retried.id],
      failed: [spent.id],
      cancelled: [cancelled.id],
    });
    expect(await queue.get(retried.id)).toMatchObject({
      status: 'queued',
      attempts: 1,
      runAt: clock + 5_000,
      error: expect.stringContaining('stopped renewing its lease (dead-worker') as unknown,
    });
    expect(await queue.get(spent.id)).toMatchObject({
      status: 'failed',
      finishedAt: clock,
      error: expect.stringContaining('no attempts left') as unknown,
    });
    expect((await queue.get(cancelled.id)).status).toBe('cancelled');
    expect(await queue.get(alive.id)).toMatchObject({
      status: 'running',
      leaseOwner: 'live-worker',
    });
    expect(live.lease.jobId).toBe(alive.id);
    // Nothing left to do.
    expect(await queue.sweep()).toEqual({ requeued: [], failed: [], cancelled: [] });
  });
});

describe('cancel and retry', () => {
  it('cancels a queued job at once and a running one by request', async () => {
    const queued = (await queue.enqueue('system.probe', {})).job;
    const running = (await queue.enqueue('system.probe', {})).job;
    const signals: string[] = [];
    queue.subscribe((signal) => signals.push(`${signal.type}:${signal.jobId}`));
    const held = await claim();
    expect(held.lease.jobId).toBe(queued.id);
    // Claim order is by creation: hand the first back, take both in the order wanted.
    await queue.release(held.lease);
    expect(await queue.cancel(running.id)).toMatchObject({
      status: 'cancelled',
      cancelRequested: true,
    });
    const runningHeld = await claim();
    expect(runningHeld.lease.jobId).toBe(queued.id);
    const requested = await queue.cancel(queued.id);
    expect(requested).toMatchObject({ status: 'running', cancelRequested: true });
    expect(signals).toContain(`cancel:${queued.id}`);
    expect(await queue.renew(runningHeld.lease, LEASE)).toBe('cancel');
    expect(await queue.cancelled(runningHeld.lease, 'cancelled by request')).toBe(true);
    expect(await queue.get(queued.id)).toMatchObject({ status: 'cancelled', finishedAt: clock });
    await expect(queue.cancel(queued.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(queue.cancel('job-999')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('retries a failed job with fresh attempts, unless its dedupe key is taken', async () => {
    const first = (await queue.enqueue('drift.check', { camera: 'c' }, { dedupeKey: 'k' })).job;
    await queue.fail(await claim(), 'bad', true);
    const retried = await queue.retry(first.id);
    expect(retried).toMatchObject({ status: 'queued', attempts: 0, error: null, finishedAt: null });
    await expect(queue.retry(first.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await queue.fail(await claim(), 'bad again', true);
    await queue.enqueue('drift.check', { camera: 'c' }, { dedupeKey: 'k' });
    await expect(queue.retry(first.id)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('dedupe key "k"') as unknown,
    });
  });
});

describe('worker presence', () => {
  it('counts a worker as alive until its heartbeat expires', async () => {
    const worker = { id: 'w1', host: 'h', pid: 7, jobNames: ['drift.check'], concurrency: 1 };
    await queue.heartbeat(worker, 30_000);
    clock += 29_999;
    expect(await queue.liveWorkers('drift.check')).toMatchObject([
      { id: 'w1', startedAt: T0, expiresAt: T0 + 30_000 },
    ]);
    await queue.heartbeat({ ...worker, startedAt: T0 }, 30_000);
    clock += 29_999;
    expect((await queue.liveWorkers()).map((w) => w.id)).toEqual(['w1']);
    clock += 2;
    expect(await queue.liveWorkers()).toEqual([]);
    expect(await handle.db.selectFrom('job_workers').selectAll().execute()).toEqual([]);
  });
});

describe('list and wait', () => {
  it('pages newest first with filters', async () => {
    for (let i = 0; i < 5; i++) {
      clock += 1;
      await queue.enqueue(
        i % 2 === 0 ? 'system.probe' : 'drift.check',
        i % 2 === 0 ? {} : { camera: `c${i}` },
      );
    }
    const page1 = await queue.list({ limit: 2 });
    expect(page1.jobs.map((j) => j.id)).toEqual(['job-005', 'job-004']);
    expect(page1.nextCursor).toBe(`${T0 + 4}:job-004`);
    const page2 = await queue.list({ limit: 2, before: page1.nextCursor ?? undefined });
    expect(page2.jobs.map((j) => j.id)).toEqual(['job-003', 'job-002']);
    const page3 = await queue.list({ limit: 2, before: page2.nextCursor ?? undefined });
    expect(page3).toMatchObject({ nextCursor: null });
    expect(page3.jobs.map((j) => j.id)).toEqual(['job-001']);
    const probes = await queue.list({ limit: 10, name: 'system.probe' });
    expect(probes.jobs.map((j) => j.id)).toEqual(['job-005', 'job-003', 'job-001']);
    // The earliest run_at is claimed first.
    await claim();
    const running = await queue.list({ limit: 10, status: ['running', 'failed'] });
    expect(running.jobs.map((j) => j.id)).toEqual(['job-001']);
  });

  it('waitFor returns the finished job, or the job as it is at the timeout', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    expect((await queue.waitFor(job.id, { timeoutMs: 30 })).status).toBe('queued');
    const held = await claim();
    const waiting = queue.waitFor(job.id, { timeoutMs: 10_000, pollMs: 5 });
    await queue.succeed(held.lease, 7);
    expect(await waiting).toMatchObject({ status: 'succeeded', result: 7 });
  });
});
