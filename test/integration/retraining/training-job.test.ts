/**
 * The retraining loop on SQLite with the real trainer (tiny trainings: imgsz 96, one thread):
 *
 * - nothing to train on → a trigger is refused; labels cross the threshold → the policy
 *   evaluator queues exactly one training.run (deduplicated), a trigger meanwhile gets 409;
 * - the job snapshots, trains with epoch progress and ETA in the status, evaluates candidate and
 *   production on the recent and nominal holdouts, registers the candidate with lineage, marks
 *   the labels, passes the gate and moves staging and production; every step is an event;
 * - a second training warm-starts from the first candidate's weights, replays its snapshot, and
 *   the gate's decision matches its metrics;
 * - a training cancelled mid-run ends `cancelled`, leaves the registry as it was, and removes
 *   its scratch directory.
 *
 * Skipped when no Python with PyTorch is installed.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  RetrainingConditionsResponse,
  RetrainingHistoryResponse,
  RetrainingStatus,
} from '../../../src/shared/api/retraining.js';
import { detailText } from '../../../src/cli/models.command.js';
import type { ModelDetailResponse } from '../../../src/shared/api/models.js';
import { eventsTable } from '../../../src/cli/retrain.command.js';
import { readOnnxModelHeader } from '../../../src/vision/onnx-model-file.js';
import { databaseTargets } from '../../helpers/database.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import {
  TINY_TRAINING,
  addSyntheticLabels,
  openRetrainingServer,
  trainerPython,
  until,
  type RetrainingServer,
} from './fixtures.js';
import { retrainingRequests } from './requests.js';

const python = trainerPython();
const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');

describe.skipIf(python === null || sqlite === undefined)('the training.run job', () => {
  let server: RetrainingServer;

  const { get, post } = retrainingRequests(() => server);

  async function waitForJob(
    jobId: string,
    seen: RetrainingStatus[] = [],
  ): Promise<RetrainingStatus> {
    return until(
      `training job ${jobId} to finish`,
      async () => {
        const status = await get<RetrainingStatus>('/api/retraining/status');
        seen.push(status);
        return status.job?.id === jobId &&
          ['completed', 'rejected', 'failed', 'cancelled'].includes(status.state)
          ? status
          : null;
      },
      // Generous: the suites share two cores with everything else running on the machine.
      420_000,
    );
  }

  const deviceEnv = process.env.VISIONLOOP_TRAINER_DEVICE;
  beforeAll(async () => {
    // The trainer process inherits the environment: VISIONLOOP_TRAINER_DEVICE is its --device.
    process.env.VISIONLOOP_TRAINER_DEVICE = 'cpu';
    server = await openRetrainingServer(sqlite!);
    // Production answers nothing (mAP 0 on any holdout): a candidate that learned anything beats it.
    await installProductionFixture(server.services.models, 'fixture-v1', { confidence: 0 });
    const put = await server.app.inject({
      method: 'PUT',
      url: '/api/settings/retraining',
      headers: server.admin,
      payload: TINY_TRAINING,
    });
    expect(put.statusCode, put.body).toBe(200);
  });
  afterAll(() => {
    if (deviceEnv === undefined) delete process.env.VISIONLOOP_TRAINER_DEVICE;
    else process.env.VISIONLOOP_TRAINER_DEVICE = deviceEnv;
    return server?.close();
  });

  it('refuses a trigger with nothing to train on, and a cancel with nothing running', async () => {
    const trigger = await post('/api/retraining/trigger');
    expect(trigger.statusCode).toBe(409);
    expect(trigger.json()).toMatchObject({
      error: {
        code: 'CONFLICT',
        message: expect.stringContaining('no reviewed labels') as unknown,
      },
    });
    const cancel = await post('/api/retraining/cancel');
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json()).toMatchObject({ error: { code: 'RETRAINING_NOT_RUNNING' } });
    expect(await get<RetrainingStatus>('/api/retraining/status')).toMatchObject({
      state: 'idle',
      job: null,
    });
  });

  it('trains, evaluates, registers and promotes once the labels cross the threshold', async () => {
    await addSyntheticLabels(server, 7, 11);
    let conditions = await get<RetrainingConditionsResponse>('/api/retraining/conditions');
    expect(conditions.labels).toEqual({ total: 7, unused: 7, threshold: 8 });
    expect(conditions.automatic.shouldRun).toBe(false);
    expect(conditions.automatic.reasons[0]).toContain('7 of 8 new reviewed labels');
    expect((await server.services.retraining.evaluatePolicy()).job).toBeNull();

    await addSyntheticLabels(server, 73, 12);
    conditions = await get<RetrainingConditionsResponse>('/api/retraining/conditions');
    expect(conditions.labels).toEqual({ total: 80, unused: 80, threshold: 8 });
    expect(conditions.automatic).toMatchObject({ shouldRun: true, trigger: 'labels' });

    const { job } = await server.services.retraining.evaluatePolicy();
    expect(job).toMatchObject({
      name: 'training.run',
      status: 'queued',
      dedupeKey: 'training.run',
    });
    // At most one at a time: the evaluator adds nothing, a trigger is refused.
    expect((await server.services.retraining.evaluatePolicy()).job).toBeNull();
    const busy = await post('/api/retraining/trigger', { reason: 'again' });
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({
      error: {
        code: 'RETRAINING_IN_PROGRESS',
        message: expect.stringContaining(job!.id) as unknown,
      },
    });
    expect(await get<RetrainingStatus>('/api/retraining/status')).toMatchObject({
      state: 'queued',
      trigger: 'labels',
    });

    server.startWorker();
    const seen: RetrainingStatus[] = [];
    const final = await waitForJob(job!.id, seen);
    expect(final, final.error ?? '').toMatchObject({ state: 'completed', decision: 'production' });
    // Epoch progress with an ETA was visible while it trained.
    const training = seen.filter((s) => s.state === 'running' && (s.epoch ?? 0) >= 1);
    expect(training.length).toBeGreaterThan(0);
    expect(training[0]).toMatchObject({ epochs: 15, stage: 'training' });
    expect(training[0]?.etaSeconds).toEqual(expect.any(Number));
    expect(training[0]?.loss).toEqual(expect.any(Number));
    // The device the trainer reported, while it trained; gone once it is done.
    expect(training[0]?.device).toBe('cpu');
    expect(final.device).toBeNull();

    const version = final.candidateVersion!;
    const detail = await server.services.models.get(version);
    expect(detail).toMatchObject({
      source: 'trained',
      parentVersion: 'fixture-v1',
      createdBy: 'retraining',
      hasWeights: true,
      hasTrainingLog: true,
      aliases: expect.arrayContaining(['production', 'staging']) as unknown,
      trainerParams: {
        epochs: 15,
        imgsz: 128,
        warmStartFrom: null,
        jobId: job!.id,
        attempt: 1,
        trigger: 'labels',
        device: 'cpu',
        deviceName: null,
      },
    });
    const metrics = detail.metrics as {
      holdouts: Record<string, { map50: number; images: number } | null>;
      baseline: { version: string; holdouts: Record<string, { map50: number } | null> };
      gate: { decision: string; recentGain: number };
    };
    expect(metrics.holdouts.nominal?.images).toBe(6);
    expect(metrics.holdouts.recent?.images).toBeGreaterThan(0);
    expect(metrics.baseline).toMatchObject({
      version: 'fixture-v1',
      holdouts: { recent: { map50: 0 }, nominal: { map50: 0 } },
    });
    expect(metrics.holdouts.recent!.map50).toBeGreaterThan(0);
    expect(metrics.gate).toMatchObject({ decision: 'production' });
    expect(metrics.gate.recentGain).toBeCloseTo(metrics.holdouts.recent!.map50, 6);
    // Calibrated on the snapshot's val split before evaluation: the registered file carries it.
    const stamped = readOnnxModelHeader(
      new Uint8Array(await server.services.models.readArtifact(version)),
    ).metadata;
    const calibration = (detail.metrics as { calibration: Record<string, unknown> }).calibration;
    expect(calibration).toMatchObject({ split: 'val', fitted: expect.any(Boolean) as unknown });
    expect(calibration.frames as number).toBeGreaterThan(0);
    // Lineage counts the simulated reviewer's labels (these were imported: none).
    expect(detail.trainerParams).toMatchObject({ simulatedLabels: 0, images: 80 });
    expect(Number(stamped.visionloop_temperature)).toBe(calibration.temperature);
    expect(Number(stamped.visionloop_logit_bias)).toBe(calibration.bias);
    expect(calibration.temperature as number).toBeGreaterThan(0);

    // Lineage: the dataset is the snapshot of all 48 labels; the log is the trainer's.
    const dataset = await server.services.datasets.get(detail.datasetId!);
    expect(dataset.counts.images).toBe(80);
    const trainingLog = (await server.services.models.readTrainingLog(version)) ?? '';
    expect(trainingLog).toContain('"event":"epoch"');
    expect(trainingLog).toMatch(/"event":"start".*"device":"cpu","device_name":null/);
    expect((await server.services.models.production())?.version).toBe(version);
    const history = await server.services.models.history('production', 5);
    expect(history.history[0]).toMatchObject({
      fromVersion: 'fixture-v1',
      toVersion: version,
      actor: 'retraining',
    });

    // The drift monitor's training reference: features of the snapshot's training images.
    const references = await server.database.db
      .selectFrom('drift_references')
      .select(['model_version', 'sample_count'])
      .where('kind', '=', 'training')
      .execute();
    expect(references).toEqual([{ model_version: version, sample_count: dataset.counts.train }]);

    // Labels: all used; the train-split ones name the model, the held-out ones do not.
    const labels = await server.database.db
      .selectFrom('reviewed_labels')
      .select(['used_for_training', 'trained_in_model_version'])
      .execute();
    expect(labels.every((row) => row.used_for_training === 1)).toBe(true);
    const trained = labels.filter((row) => row.trained_in_model_version === version).length;
    expect(trained).toBe(dataset.counts.train);
    expect(labels.length - trained).toBe(dataset.counts.val);

    const events = await get<RetrainingHistoryResponse>(`/api/retraining/history?jobId=${job!.id}`);
    expect(
      events.events
        .map((e) => `${e.kind}${e.kind === 'promoted' ? `:${String(e.details.alias)}` : ''}`)
        .reverse(),
    ).toEqual([
      'queued',
      'started',
      'snapshot',
      'evaluating',
      'registered',
      'promoted:staging',
      'promoted:production',
    ]);
    const registered = events.events.find((e) => e.kind === 'registered');
    expect(registered?.modelVersion).toBe(version);
    expect(registered?.details).toMatchObject({ device: 'cpu', deviceName: null });
    // What `visionloop retrain history` prints under the registered row.
    expect(eventsTable(events.events)).toContain('\n    trained on cpu');
    // What `visionloop models show` prints for the new version.
    expect(detailText(await get<ModelDetailResponse>(`/api/models/${version}`))).toContain(
      '\ntrained on    cpu\n',
    );

    conditions = await get<RetrainingConditionsResponse>('/api/retraining/conditions');
    expect(conditions.labels.unused).toBe(0);
    expect(conditions.lastTraining).toMatchObject({ jobId: job!.id, status: 'succeeded' });
    expect(existsSync(join(server.workDir, 'retraining', 'runs', `${job!.id}-a1`))).toBe(false);
  }, 450_000);

  /** Whether the gate rejected the second training (its labels then stay new). */
  let secondRejected = false;

  it('warm-starts the next training from production and replays its snapshot', async () => {
    const first = (await server.services.models.production())!.version;
    const firstDataset = (await server.services.models.get(first)).datasetId;
    await addSyntheticLabels(server, 16, 13);
    const trigger = await post('/api/retraining/trigger', { reason: 'warm start test' });
    expect(trigger.statusCode, trigger.body).toBe(202);
    const { job } = trigger.json<{ job: { id: string } }>();
    const final = await waitForJob(job.id);
    expect(['completed', 'rejected'], final.error ?? '').toContain(final.state);
    secondRejected = final.state === 'rejected';
    const detail = await server.services.models.get(final.candidateVersion!);
    expect(detail).toMatchObject({
      parentVersion: first,
      trainerParams: { warmStartFrom: first, trigger: 'manual' },
    });
    expect(await server.services.models.readTrainingLog(detail.version)).toContain('warm start');
    const dataset = await server.services.datasets.get(detail.datasetId!);
    expect(dataset.parentId).toBe(firstDataset);
    expect(dataset.provenance.reviewedImages).toBe(16);
    // As many earlier images as new ones (replayRatio 1).
    expect(dataset.provenance.replay).toMatchObject({ datasetIds: [firstDataset], sampled: 16 });

    // The gate decided from the stored metrics, and production moved only if it passed.
    const gate = (detail.metrics as { gate: { decision: string; passed: boolean } }).gate;
    expect(final.decision).toBe(gate.decision);
    const production = (await server.services.models.production())!.version;
    expect(production).toBe(gate.decision === 'production' ? detail.version : first);
  }, 450_000);

  it('cancels a running training and leaves the registry as it was', async () => {
    await server.services.retraining.updateSettings({ epochs: 200 }, 'test');
    await addSyntheticLabels(server, 8, 14);
    const models = (await server.services.models.list({ limit: 100, offset: 0 })).total;
    const production = (await server.services.models.production())!.version;
    const trigger = await post('/api/retraining/trigger');
    expect(trigger.statusCode, trigger.body).toBe(202);
    const { job } = trigger.json<{ job: { id: string } }>();
    await until(
      'the training to be past its first epoch',
      async () => {
        const status = await get<RetrainingStatus>('/api/retraining/status');
        return status.state === 'running' && (status.epoch ?? 0) >= 1;
      },
      120_000,
    );
    const cancel = await post('/api/retraining/cancel');
    expect(cancel.statusCode, cancel.body).toBe(200);
    expect(cancel.json()).toMatchObject({ job: { id: job.id, cancelRequested: true } });
    const final = await waitForJob(job.id);
    expect(final).toMatchObject({ state: 'cancelled' });
    expect((await server.services.models.list({ limit: 100, offset: 0 })).total).toBe(models);
    expect((await server.services.models.production())!.version).toBe(production);
    const kinds = (
      await get<RetrainingHistoryResponse>(`/api/retraining/history?jobId=${job.id}`)
    ).events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['cancel_requested', 'cancelled']));
    expect(kinds).not.toContain('registered');
    const runs = join(server.workDir, 'retraining', 'runs');
    expect(readdirSync(runs).filter((name) => name.startsWith(job.id))).toEqual([]);
    // The labels of a cancelled training still count as new (and a rejected one's).
    const conditions = await get<RetrainingConditionsResponse>('/api/retraining/conditions');
    expect(conditions.labels.unused).toBe(8 + (secondRejected ? 16 : 0));
  }, 450_000);
});
