/**
 * End to end with real processes: `visionloop worker` (the worker command, run from source
 * through tsx) on a SQLite database, SIGKILLed in the middle of a job.
 *
 * - With attempts left, a new worker takes the job over once the dead one's lease expires,
 *   runs it as attempt 2, and it succeeds.
 * - With none left, the new worker's sweep fails it, naming the lost lease.
 * Either way the job never stays "running". A worker stopped with SIGTERM exits cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { JobRepository } from '../../src/repositories/job.repository.js';
import { JobQueue } from '../../src/services/jobs/job-queue.js';
import type { JobView } from '../../src/shared/api/jobs.js';
import { until } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEASE_SECONDS = 2;

/** `visionloop worker …`: the worker command registered on a program, as main.ts does. */
const ENTRY = `
import { Command } from 'commander';
const { registerWorkerCommands } = await import('./src/cli/worker.command.ts');
const program = new Command().name('visionloop');
registerWorkerCommands(program);
await program.parseAsync(process.argv.slice(1), { from: 'user' });
`;

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Proc>();

function startWorker(dataDir: string): Proc {
  const env: Record<string, string | undefined> = { ...process.env, VISIONLOOP_LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      ENTRY,
      '--',
      'worker',
      '--data-dir',
      dataDir,
      '--lease-seconds',
      String(LEASE_SECONDS),
      '--no-schedules',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const proc: Proc = {
    child,
    stderr: () => err,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(proc);
        resolve({ code, signal });
      });
    }),
  };
  running.add(proc);
  return proc;
}

describe('a worker killed mid-job', () => {
  let dataDir: string;
  let database: DatabaseHandle;
  let queue: JobQueue;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'visionloop-worker-e2e-'));
    database = await openDatabase(join(dataDir, 'visionloop.db'));
    await migrateToLatest(database);
    queue = new JobQueue(new JobRepository(database.db, database.dialect));
  });
  afterEach(async () => {
    for (const proc of running) proc.child.kill('SIGKILL');
    await Promise.all([...running].map((proc) => proc.exited));
  });
  afterAll(async () => {
    await database?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts a worker and waits until it runs `attempt` of `jobId`, between 10% and 90%. */
  async function workerMidJob(
    jobId: string,
    attempt: number,
  ): Promise<{ proc: Proc; job: JobView }> {
    const proc = startWorker(dataDir);
    const job = await until(
      `the worker to be in the middle of ${jobId}`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`worker exited:\n${proc.stderr()}`);
        const view = await queue.get(jobId);
        const fraction = (view.progress as { fraction?: number } | null)?.fraction ?? 0;
        return (
          view.status === 'running' &&
          view.attempts === attempt &&
          fraction > 0.1 &&
          fraction < 0.9 &&
          view
        );
      },
      60_000,
      proc.stderr,
    );
    return { proc, job };
  }

  it('retries its job on a new worker after the lease, or fails it when no attempts are left', async () => {
    // Phase 1: attempts left. Worker A dies mid-job; worker B takes it over and completes it.
    const { job } = await queue.enqueue('system.probe', { durationMs: 3_000, steps: 30 });
    const first = await workerMidJob(job.id, 1);
    expect(first.job.attempts).toBe(1);
    first.proc.child.kill('SIGKILL');
    expect((await first.proc.exited).signal).toBe('SIGKILL');
    expect((await queue.get(job.id)).status).toBe('running');

    const second = await workerMidJob(job.id, 2);
    expect(second.job).toMatchObject({ attempts: 2 });
    expect(second.job.leaseOwner).not.toBe(first.job.leaseOwner);
    const done = await until(
      'the job to finish on the second worker',
      async () => {
        const view = await queue.get(job.id);
        return view.status !== 'running' && view.status !== 'queued' && view;
      },
      60_000,
      second.proc.stderr,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { attempt: 2 },
      leaseOwner: null,
      progress: { fraction: 1 },
    });

    // Phase 2: no attempts left. Worker B dies mid-job; worker C's sweep fails the job.
    const last = (
      await queue.enqueue('system.probe', { durationMs: 3_000, steps: 30 }, { maxAttempts: 1 })
    ).job;
    await until(
      'worker B to be in the middle of the second job',
      async () => {
        const view = await queue.get(last.id);
        const fraction = (view.progress as { fraction?: number } | null)?.fraction ?? 0;
        return view.status === 'running' && fraction > 0.1 && fraction < 0.9;
      },
      60_000,
      second.proc.stderr,
    );
    second.proc.child.kill('SIGKILL');
    await second.proc.exited;

    const third = startWorker(dataDir);
    const failed = await until(
      'the job to be failed by the sweep',
      async () => {
        const view = await queue.get(last.id);
        return view.status === 'failed' && view;
      },
      60_000,
      third.stderr,
    );
    expect(failed).toMatchObject({ attempts: 1, leaseOwner: null });
    expect(failed.error).toContain('stopped renewing its lease');
    expect(failed.error).toContain('no attempts left');

    // A worker asked to stop exits cleanly.
    third.child.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect(third.stderr()).toMatch(/worker \S+ stopped/);
  }, 180_000);
});
