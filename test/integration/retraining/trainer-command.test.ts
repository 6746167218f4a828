/**
 * Bring your own trainer (docs/retraining.md): the training job runs a configured trainer
 * command (VISIONLOOP_TRAINER_COMMAND) held to the trainer process contract of DESIGN.md §4.
 *
 * - The built-in trainer behind a wrapper script, configured as the command: a real second
 *   invocation that trains, and whose candidate is evaluated and registered like any other.
 * - Each breach of the contract — a stdout line that is not a JSON event, a `done` without a
 *   model.onnx, a non-zero exit — fails the job with an error that names the breach, and leaves
 *   the registry and the labels as they were.
 *
 * SQLite; the real training is skipped when no Python with PyTorch is installed.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../../src/config/runtime.config.js';
import type { AppServices } from '../../../src/http/app.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { createRetrainingService } from '../../../src/main/job-services.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { TRAINER_ROOT } from '../../../src/repositories/trainer-process.js';
import type { RetrainingService } from '../../../src/services/retraining.service.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import { TINY_TRAINING, addSyntheticLabels, trainerPython } from './fixtures.js';

const python = trainerPython();
const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');

describe.skipIf(sqlite === undefined)('a configured trainer command', () => {
  let database: TestDatabase;
  let services: AppServices;
  let worker: JobWorker;
  let workDir: string;
  /** The retraining service the worker's training.run handler uses. */
  let current: RetrainingService | null = null;

  /** A shell script in the scratch directory, executable. */
  function script(name: string, body: string): string {
    const path = join(workDir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  function retrainingWith(command: string): RetrainingService {
    return createRetrainingService(database, {
      jobs: services.jobs,
      models: services.models,
      datasets: services.datasets,
      runtime: loadRuntimeConfig({ VISIONLOOP_TRAINER_COMMAND: command }),
      workDir: join(workDir, 'retraining'),
    });
  }

  async function train(command: string) {
    current = retrainingWith(command);
    const { job } = await services.jobs.enqueue(
      'training.run',
      { trigger: 'manual' },
      { dedupeKey: 'training.run', maxAttempts: 1 },
    );
    return services.jobs.waitFor(job.id, { timeoutMs: 600_000 });
  }

  async function registry() {
    const list = await services.models.list({ limit: 100, offset: 0 });
    return {
      total: list.total,
      versions: list.models.map((m) => m.version),
      aliases: list.aliases,
    };
  }

  beforeAll(async () => {
    database = await sqlite!.open();
    workDir = mkdtempSync(join(tmpdir(), 'vl-trainer-command-'));
    services = createServerServices(database, {
      blobStore: new LocalBlobStore(join(workDir, 'blobs')),
      heartbeatIntervalMs: 10_000,
      recentWindowMs: 600_000,
      processMetrics: false,
      retrainingWorkDir: join(workDir, 'retraining'),
    });
    worker = new JobWorker(services.jobs, {
      handlers: {
        'training.run': (payload, context) => {
          if (current === null) throw new Error('no retraining service');
          return current.runTraining(payload, context);
        },
      },
      pollMinMs: 20,
      pollMaxMs: 100,
      unref: true,
    });
    worker.start();
    // Production answers nothing: a candidate that learned anything beats it.
    await installProductionFixture(services.models, 'fixture-v1', { confidence: 0 });
    await services.retraining.updateSettings(TINY_TRAINING, 'test');
    await addSyntheticLabels({ services, workDir }, 12, 41);
  }, 120_000);
  afterAll(async () => {
    await worker?.stop({ graceMs: 0 });
    await services?.modelServing.close();
    await database?.cleanup();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const breaches = [
    {
      what: 'a stdout line that is not a JSON event',
      body: [
        `echo '{"event":"start"}'`,
        `echo 'epoch 1/15 loss 3.2'`,
        // Left running: the job stops it at the first bad line.
        'exec sleep 60',
      ].join('\n'),
      error:
        'broke the process contract: stdout line 2 is not a JSON event object ({"event": …}): ' +
        'epoch 1/15 loss 3.2 (progress goes to stdout as JSON lines; human logs belong on stderr)',
    },
    {
      what: 'a done event without a model',
      body: [`echo '{"event":"start"}'`, `echo '{"event":"done","metrics":{},"elapsed_s":1}'`].join(
        '\n',
      ),
      error: 'reported done but wrote no model: ',
    },
    {
      what: 'a non-zero exit',
      body: [`echo '{"event":"start"}'`, `echo 'CUDA out of memory' >&2`, 'exit 3'].join('\n'),
      error: 'exited with code 3: CUDA out of memory',
    },
  ];

  for (const [index, breach] of breaches.entries()) {
    it(`fails the job on ${breach.what}, leaving the registry and the labels as they were`, async () => {
      const command = script(`breach-${index}.sh`, breach.body);
      const before = await registry();
      const unused = (await services.retraining.conditions()).labels.unused;
      const done = await train(command);
      expect(done.status).toBe('failed');
      expect(done.error).toContain(`TRAINER_FAILED`);
      expect(done.error).toContain(`the trainer (${command}) `);
      expect(done.error).toContain(breach.error);
      expect(await registry()).toEqual(before);
      expect((await services.retraining.conditions()).labels.unused).toBe(unused);
    }, 120_000);
  }

  it.skipIf(python === null)(
    'trains with the built-in trainer behind a wrapper script and registers the candidate',
    async () => {
      const calls = join(workDir, 'wrapper-calls.txt');
      const wrapper = script(
        'wrapper.sh',
        [
          `echo "$@" >> '${calls}'`,
          `PYTHONPATH='${TRAINER_ROOT}'`,
          'export PYTHONPATH',
          `exec '${python}' -m visionloop_trainer "$@"`,
        ].join('\n'),
      );
      const before = await registry();
      const done = await train(wrapper);
      expect(done.status, done.error ?? '').toBe('succeeded');
      // One real invocation, with the contract's arguments.
      const invocations = readFileSync(calls, 'utf8').trim().split('\n');
      expect(invocations).toHaveLength(1);
      expect(invocations[0]).toMatch(/^train --data \S+ --out \S+ .*--epochs 15 .*--imgsz 128/);
      const after = await registry();
      expect(after.total).toBe(before.total + 1);
      const version = after.versions.find((v) => !before.versions.includes(v))!;
      const model = await services.models.get(version);
      expect(model).toMatchObject({
        source: 'trained',
        parentVersion: 'fixture-v1',
        hasWeights: true,
      });
      // The trainer's metrics.json and weights.pt came through.
      expect(model.metrics).toMatchObject({ trainer: expect.any(Object) as unknown });
      // The gate decided as for any candidate: a promoted one used the labels, a rejected one not.
      const decision = (done.result as { decision?: unknown } | null)?.decision;
      expect(['production', 'staging', 'rejected']).toContain(decision);
      expect((await services.retraining.conditions()).labels.unused).toBe(
        decision === 'rejected' ? 12 : 0,
      );
    },
    // Generous: the suites share two cores with everything else running on the machine.
    600_000,
  );
});
