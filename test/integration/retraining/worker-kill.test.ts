/**
 * A worker killed during a training, with real processes: `visionloop worker` (the command,
 * run from source through tsx) on a SQLite database is SIGKILLed while its trainer is past the
 * first epoch.
 *
 * - The dead attempt leaves the registry as it was (no version, no alias move) and its trainer
 *   process does not outlive it (it stops at its next write to the closed pipe).
 * - The job does not stay running: a new worker sweeps the expired lease, runs attempt 2, and
 *   the training completes, registering exactly one candidate (from attempt 2).
 *
 * Skipped when no Python with PyTorch is installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../../src/db/database.js';
import { migrateToLatest } from '../../../src/db/migrate.js';
import type { AppServices } from '../../../src/http/app.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import { TINY_TRAINING, addSyntheticLabels, trainerPython, until } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LEASE_SECONDS = 2;

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

/** Pids of processes whose command line mentions `needle` (the trainer names its run dir). */
function processesMentioning(needle: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'))
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

const python = trainerPython();

describe.skipIf(python === null)('a worker killed during a training', () => {
  let dataDir: string;
  let database: DatabaseHandle;
  let services: AppServices;
  const strays: number[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'vl-retrain-kill-'));
    database = await openDatabase(join(dataDir, 'visionloop.db'));
    await migrateToLatest(database);
    services = createServerServices(database, {
      blobStore: new LocalBlobStore(join(dataDir, 'blobs')),
      heartbeatIntervalMs: 10_000,
      recentWindowMs: 600_000,
      processMetrics: false,
      retrainingWorkDir: join(dataDir, 'retraining'),
    });
    await installProductionFixture(services.models, 'fixture-v1', { confidence: 0 });
    // Attempt 1 would train for minutes: it is killed long before it ends.
    await services.retraining.updateSettings({ ...TINY_TRAINING, epochs: 300 }, 'test');
    await addSyntheticLabels({ services, workDir: dataDir }, 24, 21);
  }, 60_000);
  afterEach(async () => {
    for (const proc of running) proc.child.kill('SIGKILL');
    await Promise.all([...running].map((proc) => proc.exited));
  });
  afterAll(async () => {
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await services?.modelServing.close();
    await database?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('retries the training on a new worker; the dead attempt changes nothing', async () => {
    const { job } = await services.retraining.trigger({ reason: 'kill test' }, 'test');
    const before = await services.models.list({ limit: 100, offset: 0 });

    const first = startWorker(dataDir);
    await until(
      'attempt 1 to be past its first epoch',
      async () => {
        if (first.child.exitCode !== null) throw new Error(`worker exited:\n${first.stderr()}`);
        const status = await services.retraining.status();
        return status.state === 'running' && status.job?.attempts === 1 && (status.epoch ?? 0) >= 1;
      },
      90_000,
    );
    const runDir = join(dataDir, 'retraining', 'runs', `${job.id}-a1`);
    expect(processesMentioning(runDir).length).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    // The job is still "running" under a dead lease; the registry is as it was.
    expect((await services.jobs.get(job.id)).status).toBe('running');
    const after = await services.models.list({ limit: 100, offset: 0 });
    expect(after.total).toBe(before.total);
    expect(after.aliases).toEqual(before.aliases);
    // The orphaned trainer stops at its next write to the dead worker's pipe.
    const orphans = await until(
      'the orphaned trainer to exit',
      () => Promise.resolve(processesMentioning(runDir).length === 0 ? [] : null),
      60_000,
    ).catch(() => processesMentioning(runDir));
    strays.push(...orphans);
    expect(orphans).toEqual([]);

    // Attempt 2 on a new worker, short this time.
    await services.retraining.updateSettings({ epochs: 2 }, 'test');
    const second = startWorker(dataDir);
    const done = await until(
      'the training to finish on the second worker',
      async () => {
        const view = await services.jobs.get(job.id);
        return view.status !== 'running' && view.status !== 'queued' && view;
      },
      120_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${second.stderr()}`);
    });
    expect(done, done.error ?? '').toMatchObject({
      status: 'succeeded',
      attempts: 2,
      leaseOwner: null,
    });
    const final = await services.models.list({ limit: 100, offset: 0 });
    expect(final.total).toBe(before.total + 1);
    const candidate = await services.models.get((done.result as { version: string }).version);
    expect(candidate.trainerParams).toMatchObject({ jobId: job.id, attempt: 2, epochs: 2 });

    const kinds = (await services.retraining.history({ jobId: job.id, limit: 100 })).events
      .map(
        (event) => `${event.kind}${event.kind === 'started' ? String(event.details.attempt) : ''}`,
      )
      .reverse();
    expect(kinds.slice(0, 3)).toEqual(['queued', 'started1', 'snapshot']);
    expect(kinds).toContain('started2');
    expect(kinds.filter((kind) => kind === 'registered')).toHaveLength(1);
    expect(kinds).not.toContain('failed');

    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 240_000);
});
