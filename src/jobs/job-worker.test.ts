import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { VisionLoopError } from '../shared/errors.js';
import { JobRepository } from '../repositories/job.repository.js';
import type { JobAbortedError } from '../services/jobs/job-context.js';
import { PermanentJobError, type JobContext } from '../services/jobs/job-context.js';
import { JobQueue } from '../services/jobs/job-queue.js';
import { JobWorker, type JobWorkerOptions } from './job-worker.js';
import { runProbe } from './probe.job.js';

let dir: string;
let handle: DatabaseHandle;
let queue: JobQueue;
const workers: JobWorker[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-worker-'));
  handle = await openDatabase(join(dir, 'vl.db'));
  await migrateToLatest(handle);
  queue = new JobQueue(new JobRepository(handle.db, handle.dialect));
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await handle.close();
  rmSync(dir, { recursive: true, force: true });
});

function worker(options: Omit<JobWorkerOptions, 'id'> & { id?: string }, on = queue): JobWorker {
  const created = new JobWorker(on, {
    id: 'worker-test',
    leaseMs: 5_000,
    renewEveryMs: 20,
    pollMinMs: 5,
    pollMaxMs: 20,
    progressEveryMs: 0,
    sweepEveryMs: 0,
    ...options,
  });
  workers.push(created);
  return created;
}

/** Resolves with the handler's signal reason once it is aborted; the handler then rethrows. */
function waitForAbort(context: JobContext, seen: JobAbortedError[]): Promise<never> {
  return new Promise((_resolve, reject) => {
    context.signal.addEventListener('abort', () => {
      const reason = context.signal.reason as JobAbortedError;
      seen.push(reason);
      reject(reason);
    });
  });
}

async function until<T>(probe: () => Promise<T | undefined | false>, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('JobWorker', () => {
  it('runs a job to success with its parsed payload, progress and result', async () => {
    const { job } = await queue.enqueue('system.probe', { durationMs: 8, steps: 4 });
    const report = await worker({ handlers: { 'system.probe': runProbe } }).runOnce();
    expect(report).toMatchObject({ jobId: job.id, outcome: 'succeeded', attempt: 1 });
    const done = await queue.get(job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      progress: { fraction: 1, step: 4, steps: 4 },
      result: { attempt: 1 },
      error: null,
    });
  });

  it('claims only names it has handlers for', async () => {
    await queue.enqueue('drift.check', { camera: 'c' });
    const probeOnly = worker({ handlers: { 'system.probe': runProbe } });
    expect(probeOnly.jobNames).toEqual(['system.probe']);
    expect(await probeOnly.runOnce()).toBeUndefined();
  });

  it('retries a thrown error with backoff, but fails permanent errors at once', async () => {
    const failing = (await queue.enqueue('system.probe', {})).job;
    const run = worker({
      handlers: {
        'system.probe': () => Promise.reject(new Error('disk full')),
        'drift.check': (payload) =>
          Promise.reject(
            payload.camera === 'permanent'
              ? new PermanentJobError('camera config is broken')
              : new VisionLoopError('NOT_FOUND', 'no such camera'),
          ),
      },
    });
    expect(await run.runOnce()).toMatchObject({ outcome: 'retry', error: 'disk full' });
    const retried = await queue.get(failing.id);
    expect(retried).toMatchObject({ status: 'queued', attempts: 1, error: 'disk full' });
    expect(retried.runAt - retried.updatedAt).toBe(5_000);

    const permanent = (await queue.enqueue('drift.check', { camera: 'permanent' })).job;
    expect(await run.runOnce()).toMatchObject({ jobId: permanent.id, outcome: 'failed' });
    const notFound = (await queue.enqueue('drift.check', { camera: 'missing' })).job;
    expect(await run.runOnce()).toMatchObject({
      jobId: notFound.id,
      outcome: 'failed',
      error: 'NOT_FOUND: no such camera',
    });
    expect((await queue.get(notFound.id)).attempts).toBe(1);
  });

  it('fails a stored payload that no longer parses, without retrying', async () => {
    await handle.db
      .insertInto('jobs')
      .values({
        id: 'job-bad',
        name: 'system.probe',
        payload: '{"durationMs":"soon"}',
        run_at: 0,
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    const report = await worker({ handlers: { 'system.probe': runProbe } }).runOnce();
    expect(report).toMatchObject({ jobId: 'job-bad', outcome: 'failed' });
    expect((await queue.get('job-bad')).error).toContain('invalid payload: durationMs');
  });

  it('cancels a running job: the handler sees the signal, the job ends cancelled', async () => {
    const seen: JobAbortedError[] = [];
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { job } = await queue.enqueue('system.probe', {});
    const run = worker({
      handlers: {
        'system.probe': (_payload, context) => {
          started();
          return waitForAbort(context, seen);
        },
      },
    });
    const outcome = run.runOnce();
    await running;
    await queue.cancel(job.id);
    expect(await outcome).toMatchObject({ outcome: 'cancelled' });
    expect(seen.map((reason) => reason.kind)).toEqual(['cancelled']);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'cancelled',
      cancelRequested: true,
      error: 'cancelled by request',
    });
  });

  it('hears of a cancel made by another process at its next lease renewal', async () => {
    // A second queue on its own connection: no in-process notification reaches the worker.
    const other = await openDatabase(join(dir, 'vl.db'));
    try {
      const remote = new JobQueue(new JobRepository(other.db, other.dialect));
      const seen: JobAbortedError[] = [];
      const { job } = await queue.enqueue('system.probe', {});
      const run = worker({
        handlers: { 'system.probe': (_payload, context) => waitForAbort(context, seen) },
      });
      const outcome = run.runOnce();
      await until(async () => (await queue.get(job.id)).status === 'running', 'the claim');
      await remote.cancel(job.id);
      expect(await outcome).toMatchObject({ outcome: 'cancelled' });
      expect(seen.map((reason) => reason.kind)).toEqual(['cancelled']);
    } finally {
      await other.close();
    }
  });

  it('aborts an attempt past its time limit and counts it as failed', async () => {
    const seen: JobAbortedError[] = [];
    const { job } = await queue.enqueue('system.probe', {});
    const run = worker({
      handlers: { 'system.probe': (_payload, context) => waitForAbort(context, seen) },
      timeoutsMs: { 'system.probe': 30 },
    });
    expect(await run.runOnce()).toMatchObject({ outcome: 'retry', error: 'timed out after 30 ms' });
    expect(seen.map((reason) => reason.kind)).toEqual(['timeout']);
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 1 });
  });

  it('abandons a handler that ignores its aborted signal after the grace period', async () => {
    const { job } = await queue.enqueue('system.probe', {});
    const run = worker({
      handlers: { 'system.probe': () => new Promise(() => undefined) },
      timeoutsMs: { 'system.probe': 10 },
      abortGraceMs: 10,
    });
    expect(await run.runOnce()).toMatchObject({
      outcome: 'retry',
      error: 'timed out after 10 ms',
    });
    expect((await queue.get(job.id)).status).toBe('queued');
  });

  it('stops touching a job whose lease another worker took', async () => {
    const seen: JobAbortedError[] = [];
    const { job } = await queue.enqueue('system.probe', {});
    const run = worker({
      handlers: { 'system.probe': (_payload, context) => waitForAbort(context, seen) },
    });
    const outcome = run.runOnce();
    await until(async () => (await queue.get(job.id)).status === 'running', 'the claim');
    // What a second worker's claim of an expired lease looks like in the table.
    await handle.db
      .updateTable('jobs')
      .set({ lease_owner: 'worker-b', attempts: 2 })
      .where('id', '=', job.id)
      .execute();
    expect(await outcome).toMatchObject({ outcome: 'lost' });
    expect(seen.map((reason) => reason.kind)).toEqual(['lease_lost']);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'running',
      leaseOwner: 'worker-b',
      error: null,
    });
  });

  it('polls, wakes on an in-process enqueue, and runs jobs one at a time by default', async () => {
    let concurrent = 0;
    let most = 0;
    const run = worker({
      handlers: {
        'system.probe': async (payload, context) => {
          concurrent += 1;
          most = Math.max(most, concurrent);
          try {
            return await runProbe(payload, context);
          } finally {
            concurrent -= 1;
          }
        },
      },
    });
    run.start();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await queue.enqueue('system.probe', { durationMs: 5, steps: 1 })).job.id);
    }
    for (const id of ids) {
      expect((await queue.waitFor(id, { timeoutMs: 10_000, pollMs: 5 })).status).toBe('succeeded');
    }
    expect(most).toBe(1);
  });

  it('runs up to `concurrency` jobs at once', async () => {
    let concurrent = 0;
    let most = 0;
    const run = worker({
      concurrency: 3,
      handlers: {
        'system.probe': async (payload, context) => {
          concurrent += 1;
          most = Math.max(most, concurrent);
          try {
            return await runProbe(payload, context);
          } finally {
            concurrent -= 1;
          }
        },
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await queue.enqueue('system.probe', { durationMs: 60, steps: 1 })).job.id);
    }
    run.start();
    for (const id of ids) {
      expect((await queue.waitFor(id, { timeoutMs: 10_000, pollMs: 5 })).status).toBe('succeeded');
    }
    expect(most).toBe(3);
  });

  it('announces itself while running and leaves when stopped', async () => {
    const run = worker({ id: 'worker-seen', handlers: { 'system.probe': runProbe } });
    expect(await queue.liveWorkers()).toEqual([]);
    run.start();
    const seen = await until(async () => {
      const live = await queue.liveWorkers('system.probe');
      return live.length > 0 && live;
    }, 'the heartbeat');
    expect(seen).toMatchObject([
      { id: 'worker-seen', pid: process.pid, jobNames: ['system.probe'], concurrency: 1 },
    ]);
    expect(await queue.liveWorkers('drift.check')).toEqual([]);
    await run.stop();
    expect(await queue.liveWorkers()).toEqual([]);
  });

  it('stop() lets a job finish within the grace period', async () => {
    const { job } = await queue.enqueue('system.probe', { durationMs: 40, steps: 2 });
    const run = worker({ handlers: { 'system.probe': runProbe } });
    run.start();
    await until(async () => (await queue.get(job.id)).status === 'running', 'the claim');
    await run.stop({ graceMs: 10_000 });
    expect((await queue.get(job.id)).status).toBe('succeeded');
  });

  it('stop() releases a job that does not finish in time, without counting the attempt', async () => {
    const seen: JobAbortedError[] = [];
    const { job } = await queue.enqueue('system.probe', {});
    const run = worker({
      handlers: { 'system.probe': (_payload, context) => waitForAbort(context, seen) },
    });
    run.start();
    await until(async () => (await queue.get(job.id)).status === 'running', 'the claim');
    await run.stop({ graceMs: 10 });
    expect(seen.map((reason) => reason.kind)).toEqual(['shutdown']);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'queued',
      attempts: 0,
      leaseOwner: null,
    });
  });
});
