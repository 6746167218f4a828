/**
 * End to end with real processes: N = 4 `visionloop worker` processes (the worker command run
 * from source through tsx) claiming small jobs from one PostgreSQL, while the test SIGKILLs a
 * worker in the middle of a job four times (a seeded choice of victim) and starts a
 * replacement each time.
 *
 * Every job must end `succeeded` exactly once (none lost), and no attempt of a job may have
 * been started by two workers (no double work): the workers' own logs (`job … started
 * job=<id> attempt=<n>`, `job … succeeded job=<id>`) and the jobs' rows are compared.
 *
 * Needs PostgreSQL (VISIONLOOP_TEST_POSTGRES=1 or VISIONLOOP_TEST_DATABASE_URL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/services/jobs/job-queue.js';
import { JobRepository } from '../../src/repositories/job.repository.js';
import { Rng } from '../../src/synth/rng.js';
import {
  openPostgresTestDatabase,
  postgresTestUrl,
  type TestDatabase,
} from '../helpers/database.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKERS = 4;
const JOBS = 24;
const KILLS = 4;

const ENTRY = `
import { Command } from 'commander';
const { registerWorkerCommands } = await import('./src/cli/worker.command.ts');
const program = new Command().name('visionloop');
registerWorkerCommands(program);
await program.parseAsync(process.argv.slice(1), { from: 'user' });
`;

interface Worker {
  child: ChildProcess;
  log: () => string;
  exited: Promise<unknown>;
}

const postgres = postgresTestUrl();
if (postgres === undefined) {
  console.warn(
    '\n*** N=4 worker test SKIPPED: no PostgreSQL. Set VISIONLOOP_TEST_POSTGRES=1. ***\n',
  );
}

describe.skipIf(postgres === undefined)('4 workers on PostgreSQL with SIGKILLs', () => {
  let database: TestDatabase;
  let dataDir: string;
  const workers: Worker[] = [];

  function startWorker(): Worker {
    const env: Record<string, string | undefined> = {
      ...process.env,
      VISIONLOOP_LOG_LEVEL: 'info',
      VISIONLOOP_WORKER_POLL_SECONDS: '0.2',
    };
    delete env.DATABASE_URL;
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', '--input-type=module', '-e', ENTRY, '--', 'worker'],
        ...['--database-url', database.url, '--data-dir', dataDir],
        ...['--lease-seconds', '2', '--jobs', 'system.probe', '--no-schedules'],
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    const worker: Worker = {
      child,
      log: () => log,
      exited: new Promise((resolve) => child.once('exit', resolve)),
    };
    workers.push(worker);
    return worker;
  }

  beforeAll(async () => {
    database = await openPostgresTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'visionloop-workers-pg-'));
  });

  afterAll(async () => {
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGKILL');
      }
    }
    await Promise.all(workers.map((worker) => worker.exited));
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await database?.cleanup();
  });

  it('runs every job to success exactly once, with no attempt started twice', async () => {
    const queue = new JobQueue(new JobRepository(database.db, database.dialect));
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      // Small jobs: 0.6 s each in 6 steps; attempts enough that four kills cannot exhaust one.
      const { job } = await queue.enqueue(
        'system.probe',
        { durationMs: 600, steps: 6 },
        { maxAttempts: 10 },
      );
      ids.push(job.id);
    }
    const live = new Set<Worker>();
    for (let i = 0; i < WORKERS; i++) live.add(startWorker());

    const rng = new Rng(19);
    const everything = () => workers.map((worker) => worker.log()).join('\n');
    let kills = 0;
    const killed = new Set<Worker>();
    // Generous: four tsx-started workers on a loaded 2-core machine start slowly.
    const deadline = Date.now() + 400_000;
    for (;;) {
      const views = await Promise.all(ids.map((id) => queue.get(id)));
      const done = views.filter((view) => view.status === 'succeeded').length;
      if (done === JOBS) break;
      if (Date.now() > deadline) {
        throw new Error(`only ${done}/${JOBS} jobs succeeded\n${everything()}`);
      }
      if (kills < KILLS) {
        // A victim in the middle of a job: its lease owner, found through the job rows.
        const running = views.filter(
          (view) =>
            view.status === 'running' &&
            ((view.progress as { fraction?: number } | null)?.fraction ?? 0) > 0.1,
        );
        const pick = running[Math.floor(rng.next() * running.length)];
        const victim = [...live].find(
          (worker) =>
            pick?.leaseOwner && worker.log().includes(`worker ${pick.leaseOwner} started`),
        );
        if (victim !== undefined) {
          victim.child.kill('SIGKILL');
          await victim.exited;
          killed.add(victim);
          live.delete(victim);
          live.add(startWorker());
          kills++;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(kills).toBe(KILLS);

    const log = everything();
    const started = [...log.matchAll(/job system\.probe started job=(\S+) attempt=(\d+)/g)].map(
      (match) => `${match[1]}#${match[2]}`,
    );
    const succeeded = [...log.matchAll(/job system\.probe succeeded job=(\S+)/g)].map(
      (match) => match[1] ?? '',
    );
    // No attempt of any job was started by two workers.
    expect(new Set(started).size).toBe(started.length);
    // No job succeeded twice, and only our jobs did.
    expect(new Set(succeeded).size).toBe(succeeded.length);
    expect(succeeded.filter((id) => !ids.includes(id))).toEqual([]);

    const views = await Promise.all(ids.map((id) => queue.get(id)));
    // Every job succeeded once, by one worker: its success line is missing only when that
    // worker was SIGKILLed between committing the success and writing the line (a 0.6-s job
    // can finish between the poll that picks the victim and the kill).
    for (const view of views.filter((v) => !succeeded.includes(v.id))) {
      const last = new RegExp(`started job=${view.id} attempt=${view.attempts}(\\s|$)`, 'm');
      const ranLast = workers.filter((worker) => last.test(worker.log()));
      expect({ job: view.id, ranByKilledWorker: ranLast.some((w) => killed.has(w)) }).toEqual({
        job: view.id,
        ranByKilledWorker: true,
      });
    }
    expect(ids.length - succeeded.length).toBeLessThanOrEqual(KILLS);
    for (const view of views) {
      expect(view).toMatchObject({ status: 'succeeded', leaseOwner: null });
      // The successful attempt is the last one the row counts.
      expect((view.result as { attempt: number }).attempt).toBe(view.attempts);
    }
    // The killed workers' jobs were taken over: at least one job needed a second attempt.
    // Every started attempt is one the row counts (a worker killed between its claim and its
    // first log line leaves a counted attempt without a log line, never the reverse).
    const retried = views.filter((view) => view.attempts > 1).length;
    expect(retried).toBeGreaterThanOrEqual(1);
    const attemptsOf = new Map(views.map((view) => [view.id, view.attempts]));
    for (const entry of started) {
      const [id, attempt] = entry.split('#');
      expect(Number(attempt)).toBeLessThanOrEqual(attemptsOf.get(id ?? '') ?? 0);
    }
    expect(started.length).toBeLessThanOrEqual(views.reduce((sum, view) => sum + view.attempts, 0));
  }, 480_000);
});
