/**
 * How a training.run attempt ends when its trainer fails or an earlier attempt already
 * registered the candidate, with a scripted trainer and evaluator (no Python): a failed
 * trainer leaves the registry and the labels as they were and records why; a retried attempt
 * that finds its candidate registered does not train again, marks the labels and applies the
 * stored gate. SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerServices } from '../../../src/main/server.main.js';
import type { AppServices } from '../../../src/http/app.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { SettingsRepository } from '../../../src/repositories/settings.repository.js';
import { candidateVersionOf, type TrainerPort } from '../../../src/services/retraining-run.js';
import { RetrainingRepository } from '../../../src/repositories/retraining.repository.js';
import { RetrainingService } from '../../../src/services/retraining.service.js';
import { VisionLoopError } from '../../../src/shared/errors.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import { fixtureDetectorModel, installProductionFixture } from '../../helpers/registry-fixtures.js';
import { addSyntheticLabels } from './fixtures.js';

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`training.run outcomes on ${target.dialect}`, () => {
    let database: TestDatabase;
    let services: AppServices;
    let retraining: RetrainingService;
    let worker: JobWorker;
    let workDir: string;
    let trainerCalls = 0;
    let trainer: TrainerPort['train'] = () => Promise.reject(new Error('not scripted'));

    beforeAll(async () => {
      database = await target.open();
      workDir = mkdtempSync(join(tmpdir(), 'vl-retraining-outcomes-'));
      services = createServerServices(database, {
        blobStore: new LocalBlobStore(join(workDir, 'blobs')),
        heartbeatIntervalMs: 10_000,
        recentWindowMs: 600_000,
        processMetrics: false,
      });
      retraining = new RetrainingService(
        new RetrainingRepository(database.db),
        new SettingsRepository(database.db),
        services.jobs,
        {
          datasets: services.datasets,
          models: services.models,
          trainer: {
            train: (request, options) => {
              trainerCalls++;
              return trainer(request, options);
            },
          },
          evaluator: {
            evaluate: () => Promise.resolve({ map50: 0.5, map50_95: 0.3, images: 3, objects: 4 }),
          },
          nominal: { ensure: () => Promise.resolve({ dir: workDir, split: 'train' }) },
          workDir: join(workDir, 'retraining'),
        },
      );
      worker = new JobWorker(services.jobs, {
        handlers: {
          'training.run': (payload, context) => retraining.runTraining(payload, context),
        },
        pollMinMs: 20,
        pollMaxMs: 100,
        unref: true,
      });
      worker.start();
      await installProductionFixture(services.models, 'fixture-v1');
      await addSyntheticLabels({ services, workDir }, 12, 41);
      // Five of them as if the demo's simulated reviewer had given them.
      const robot = await services.auth.createToken(
        { name: 'simulated-reviewer', scope: 'labeler' },
        null,
      );
      const five = await database.db
        .selectFrom('reviewed_labels')
        .select('id')
        .orderBy('id')
        .limit(5)
        .execute();
      await database.db
        .updateTable('reviewed_labels')
        .set({ labeled_by: robot.id })
        .where(
          'id',
          'in',
          five.map((row) => row.id),
        )
        .execute();
    });
    afterAll(async () => {
      await worker?.stop({ graceMs: 0 });
      await services?.modelServing.close();
      await database?.cleanup();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    async function unusedLabels(): Promise<number> {
      return (await retraining.conditions()).labels.unused;
    }

    it('a failed trainer changes nothing and says why', async () => {
      trainer = () =>
        Promise.reject(new VisionLoopError('TRAINER_FAILED', 'the trainer failed: out of memory'));
      const before = await services.models.list({ limit: 100, offset: 0 });
      const { job } = await services.jobs.enqueue(
        'training.run',
        { trigger: 'manual' },
        { dedupeKey: 'training.run', maxAttempts: 1 },
      );
      const done = await services.jobs.waitFor(job.id, { timeoutMs: 30_000 });
      expect(done).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('out of memory') as unknown,
      });
      expect(trainerCalls).toBe(1);
      const after = await services.models.list({ limit: 100, offset: 0 });
      expect(after.total).toBe(before.total);
      expect(after.aliases).toEqual(before.aliases);
      expect(await unusedLabels()).toBe(12);
      const events = (await retraining.history({ jobId: job.id, limit: 50 })).events;
      expect(events.map((e) => e.kind).reverse()).toEqual(['started', 'snapshot', 'failed']);
      // The history says how many of the snapshot's labels were simulated.
      expect(events.find((e) => e.kind === 'snapshot')?.details).toMatchObject({
        simulatedLabels: 5,
        counts: { images: 12, simulatedLabels: 5 },
      });
      // A user's own model without a snapshot: nothing to replay, and the history says so.
      expect(events.find((e) => e.kind === 'snapshot')?.reason).toBe(
        'no replay: production fixture-v1 was uploaded without a dataset snapshot, and no ' +
          'earlier reviewed labels were trained into it; the candidate sees only the 12 new ' +
          'images and may forget what production knew',
      );
      expect(events[0]).toMatchObject({
        reason: 'TRAINER_FAILED: the trainer failed: out of memory',
        details: { attempt: 1, maxAttempts: 1, willRetry: false },
      });
      expect(await retraining.status()).toMatchObject({
        state: 'failed',
        replay: expect.stringMatching(/^no replay: production fixture-v1 was uploaded/) as unknown,
      });
    });

    it('a retried attempt whose candidate is registered applies the stored gate without training', async () => {
      trainerCalls = 0;
      const { job } = await services.jobs.enqueue(
        'training.run',
        { trigger: 'labels' },
        { dedupeKey: 'training.run', runAt: Date.now() + 60_000 },
      );
      // What the dead first attempt left: its snapshot and its registered candidate.
      const { dataset } = await services.datasets.createSnapshot({}, null);
      const version = candidateVersionOf(job.id);
      await services.models.register({
        artifact: fixtureDetectorModel({ version }),
        source: 'trained',
        parentVersion: 'fixture-v1',
        datasetId: dataset.id,
        metrics: { gate: { decision: 'staging', passed: true, reasons: ['better on recent'] } },
        actor: 'retraining',
      });
      await database.db.updateTable('jobs').set({ run_at: 0 }).where('id', '=', job.id).execute();
      const done = await services.jobs.waitFor(job.id, { timeoutMs: 30_000 });
      expect(done, done.error ?? '').toMatchObject({
        status: 'succeeded',
        result: { version, decision: 'staging', passed: true },
      });
      expect(trainerCalls).toBe(0);
      expect((await services.models.resolveAlias('staging'))?.version).toBe(version);
      expect((await services.models.production())?.version).toBe('fixture-v1');
      expect(await unusedLabels()).toBe(0);
      const kinds = (await retraining.history({ jobId: job.id, limit: 50 })).events
        .map((e) => e.kind)
        .reverse();
      expect(kinds).toEqual(['started', 'registered', 'promoted']);
    });
  });
}
