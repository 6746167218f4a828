/**
 * The retraining path as a user meets it (issue 15, part B), on SQLite with the real trainer
 * and the real seed model:
 * - replay: the first fine-tune of the shipped seed registers the seed's synthetic training
 *   set as its snapshot (no reviewed labels added) and replays as many of its frames as there
 *   are new reviewed images;
 * - a rejection reads as a rejection: job result, status `rejected` with the gate's reasons in
 *   full, a `rejected` history event; the labels stay available; no cooldown, but no automatic
 *   retraining on the same inputs until something changed;
 * - promoting the rejected candidate needs force and a reason, kept in the alias history.
 *
 * The gate is made to reject deterministically (minRecentGain 1: no candidate can gain more
 * than 100 points), and the training is one epoch, so the suite stays short.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../../src/config/runtime.config.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import {
  evaluatorPort,
  nominalHoldoutPort,
  seedDatasetPort,
  trainerPort,
} from '../../../src/main/job-services.js';
import { SEED_MODEL_DIR } from '../../../src/main/train.main.js';
import { RetrainingRepository } from '../../../src/repositories/retraining.repository.js';
import { SettingsRepository } from '../../../src/repositories/settings.repository.js';
import { RetrainingService } from '../../../src/services/retraining.service.js';
import type { AliasHistoryResponse } from '../../../src/shared/api/models.js';
import { databaseTargets } from '../../helpers/database.js';
import {
  addSyntheticLabels,
  openRetrainingServer,
  trainerPython,
  type RetrainingServer,
} from './fixtures.js';

const python = trainerPython();
const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');
/** Frames of the seed's training set registered as its snapshot (600 in production). */
const SEED_SET_IMAGES = 24;

describe.skipIf(python === null || sqlite === undefined)('replay, rejection and override', () => {
  let server: RetrainingServer;
  let retraining: RetrainingService;
  let worker: JobWorker;
  let candidate: string;

  beforeAll(async () => {
    server = await openRetrainingServer(sqlite!);
    const { services } = server;
    const runtime = loadRuntimeConfig();
    const workDir = join(server.workDir, 'retraining-test');
    retraining = new RetrainingService(
      new RetrainingRepository(server.database.db),
      new SettingsRepository(server.database.db),
      services.jobs,
      {
        datasets: services.datasets,
        models: services.models,
        trainer: trainerPort(runtime),
        evaluator: evaluatorPort(runtime),
        nominal: nominalHoldoutPort(workDir),
        seedDataset: seedDatasetPort(workDir, services.datasets, services.models, SEED_SET_IMAGES),
        workDir,
      },
    );
    worker = new JobWorker(services.jobs, {
      handlers: { 'training.run': (payload, context) => retraining.runTraining(payload, context) },
      pollMinMs: 50,
      pollMaxMs: 200,
      unref: true,
    });
    worker.start();
    const seed = await services.models.bootstrapSeed(
      readFileSync(join(SEED_MODEL_DIR, 'model.onnx')),
      readFileSync(join(SEED_MODEL_DIR, 'weights.pt')),
    );
    expect(seed).toBe('seed-v1');
    await retraining.updateSettings(
      {
        labelThreshold: 8,
        cooldownMinutes: 30,
        epochs: 1,
        batch: 8,
        threads: 1,
        // The suite shares the machine with other suites: normal priority keeps it short.
        nice: 0,
        seed: 1,
        nominalHoldoutImages: 6,
        autoPromote: true,
        replayRatio: 1,
        // No candidate gains more than 100 points: the gate rejects, whatever was learnt.
        minRecentGain: 1,
      },
      'test',
    );
  });
  afterAll(async () => {
    await worker?.stop({ graceMs: 0 });
    await server?.close();
  });

  it('replays the seed training set, and a rejection reads as a rejection', async () => {
    await addSyntheticLabels(server, 16, 71, 'night');
    const { job } = await retraining.trigger({ reason: 'night labels are in' }, 'test admin');
    const done = await server.services.jobs.waitFor(job.id, { timeoutMs: 280_000 });
    expect(done, done.error ?? '').toMatchObject({
      status: 'succeeded',
      result: { decision: 'rejected', passed: false },
    });
    candidate = (done.result as { version: string }).version;

    // Replay: the seed's training set became its snapshot, without adding reviewed labels.
    const seed = await server.services.models.get('seed-v1');
    expect(seed.datasetId).not.toBeNull();
    const seedSet = await server.services.datasets.get(seed.datasetId!);
    expect(seedSet.counts.images).toBe(SEED_SET_IMAGES);
    expect(seedSet.provenance).toMatchObject({ kind: 'import', reviewedImages: 0 });
    const history = (await retraining.history({ jobId: job.id, limit: 50 })).events;
    const snapshot = history.find((event) => event.kind === 'snapshot');
    expect(snapshot?.details).toMatchObject({
      freshLabels: 16,
      parentDatasetId: seed.datasetId,
      replay: { datasetIds: [seed.datasetId], sampled: 16, candidates: SEED_SET_IMAGES },
    });
    expect(snapshot?.reason).toMatch(
      /^16 earlier images replayed from seed-v1's training set \(24 synthetic nominal frames of the seed recipe \(data seed 1\); dataset [0-9a-f]{12}\) beside 16 new reviewed images$/,
    );
    const trainedOn = await server.services.datasets.get(
      (done.result as { datasetId: string }).datasetId,
    );
    expect(trainedOn.counts.images).toBe(32);
    expect(trainedOn.parentId).toBe(seed.datasetId);

    // A rejection everywhere: status, history (the gate's reasons in full), registry.
    const status = await retraining.status();
    expect(status).toMatchObject({
      state: 'rejected',
      decision: 'rejected',
      candidateVersion: candidate,
      stage: 'rejected',
      replay: snapshot?.reason,
    });
    expect(status.gateReasons?.at(-1)).toBe('rejected: production stays as it is');
    const rejected = history.find((event) => event.kind === 'rejected');
    expect(rejected?.reason).toBe(status.gateReasons?.join('; '));
    expect(history.some((event) => event.kind === 'promoted')).toBe(false);
    expect((await server.services.models.production())?.version).toBe('seed-v1');

    // Its labels stay available; no cooldown, but not the same inputs again.
    const conditions = await retraining.conditions();
    expect(conditions.labels).toEqual({ total: 16, unused: 16, threshold: 8 });
    const byName = new Map(conditions.automatic.conditions.map((c) => [c.name, c]));
    expect(byName.get('labels')?.holds).toBe(true);
    expect(byName.get('cooldown')).toMatchObject({ holds: true });
    expect(byName.get('cooldown')?.detail).toContain('rejected by the gate');
    expect(byName.get('inputs')).toMatchObject({ holds: false });
    expect(byName.get('inputs')?.detail).toContain(
      `the same inputs as the rejected training ${job.id}`,
    );
    expect(conditions.automatic.shouldRun).toBe(false);
    expect(conditions.automatic.cooldownUntil).toBeNull();
    expect((await retraining.evaluatePolicy()).job).toBeNull();
    // A person may still retrain on the same inputs.
    expect(conditions.manual.shouldRun).toBe(true);
  }, 300_000);

  it('lets the next training start once new labels or settings arrive', async () => {
    await addSyntheticLabels(server, 2, 72, 'night');
    let conditions = await retraining.conditions();
    let inputs = conditions.automatic.conditions.find((c) => c.name === 'inputs');
    expect(inputs?.holds).toBe(true);
    expect(inputs?.detail).toContain(
      '2 new reviewed labels since the rejected training (18 in all)',
    );
    expect(conditions.automatic).toMatchObject({ shouldRun: true, trigger: 'labels' });

    // Settings are inputs too (the labels alone would do here; the detail names both).
    await retraining.updateSettings({ epochs: 2 }, 'test');
    conditions = await retraining.conditions();
    inputs = conditions.automatic.conditions.find((c) => c.name === 'inputs');
    expect(inputs?.detail).toContain('setting epochs is 2 (was 1)');
    await retraining.updateSettings({ enabled: false }, 'test');
  });

  it('promotes a rejected candidate only with force and a reason, kept in the alias history', async () => {
    const promote = (payload: Record<string, unknown>) =>
      server.app.inject({
        method: 'POST',
        url: `/api/models/${candidate}/promote`,
        headers: server.admin,
        payload,
      });
    const refused = await promote({ alias: 'production' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({
      error: {
        code: 'GATE_REJECTED',
        message: expect.stringContaining('rejected: production stays as it is') as unknown,
      },
    });
    const noReason = await promote({ alias: 'production', force: true });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect((await server.services.models.production())?.version).toBe('seed-v1');

    const forced = await promote({ alias: 'production', force: true, reason: 'night trial' });
    expect(forced.statusCode, forced.body).toBe(200);
    expect((await server.services.models.production())?.version).toBe(candidate);
    const history = await server.app.inject({
      method: 'GET',
      url: '/api/models/aliases/production/history',
      headers: server.viewer,
    });
    const [latest] = history.json<AliasHistoryResponse>().history;
    expect(latest).toMatchObject({
      toVersion: candidate,
      fromVersion: 'seed-v1',
      actor: 'test admin',
    });
    expect(latest?.reason).toMatch(
      /^gate override: night trial \(the gate rejected it: .*rejected: production stays as it is\)$/,
    );
  });
});
