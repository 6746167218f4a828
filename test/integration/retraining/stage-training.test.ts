/**
 * Retraining a later stage of the chain from reviewed labels, on SQLite with the real trainer
 * (two epochs): synthetic frames imported as reviewed labels, their boxes given a crop class
 * (by size, like the shipped severity classes) and a mask polygon (an octagon inside the box),
 * as the labeling page would store them.
 *
 * - too few labelled crops → the trigger is a 409 that says how many exist and how many are
 *   needed; nothing is queued;
 * - `stage: classify` / `segment` → one training.run job each that snapshots, cuts the crops,
 *   trains, evaluates on the held-out crops and registers a classify / segment model with its
 *   held-out metrics, moves no alias, and records the promote command.
 *
 * Skipped when no Python with PyTorch is installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelDetail } from '../../../src/shared/api/models.js';
import type {
  RetrainingHistoryResponse,
  RetrainingStatus,
} from '../../../src/shared/api/retraining.js';
import { MIN_STAGE_CROPS } from '../../../src/services/dataset/stage-crops.js';
import { databaseTargets } from '../../helpers/database.js';
import {
  addSyntheticLabels,
  openRetrainingServer,
  trainerPython,
  until,
  type RetrainingServer,
} from './fixtures.js';
import { retrainingRequests } from './requests.js';

const python = trainerPython();
const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');

interface StoredBox {
  className: string;
  box: { x1: number; y1: number; x2: number; y2: number };
  polygon?: number[];
  cropClass?: string;
}

/** An octagon inside `box` (its corners cut at a third of the sides). */
function octagon(box: StoredBox['box']): number[] {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  const points: [number, number][] = [
    [1 / 3, 0.05],
    [2 / 3, 0.05],
    [0.95, 1 / 3],
    [0.95, 2 / 3],
    [2 / 3, 0.95],
    [1 / 3, 0.95],
    [0.05, 2 / 3],
    [0.05, 1 / 3],
  ];
  return points.flatMap(([u, v]) => [box.x1 + u * w, box.y1 + v * h]);
}

describe.skipIf(python === null || sqlite === undefined)('a stage training.run job', () => {
  let server: RetrainingServer;

  const { get, post } = retrainingRequests(() => server);

  /** Gives every box of the reviewed labels a crop class and (every other box) a polygon. */
  async function labelStages(): Promise<{ classified: number; outlined: number }> {
    const { db } = server.database;
    const rows = await db.selectFrom('reviewed_labels').select(['id', 'labels']).execute();
    let classified = 0;
    let outlined = 0;
    let index = 0;
    for (const row of rows) {
      const boxes = JSON.parse(row.labels) as StoredBox[];
      const updated = boxes.map((box) => {
        const area = (box.box.x2 - box.box.x1) * (box.box.y2 - box.box.y1);
        classified++;
        const withClass = { ...box, cropClass: area < 900 ? 'minor' : 'major' };
        // Every other box has no polygon: those are skipped (and counted) by segment.
        if (index++ % 2 === 1) return withClass;
        outlined++;
        return { ...withClass, polygon: octagon(box.box) };
      });
      await db
        .updateTable('reviewed_labels')
        .set({ labels: JSON.stringify(updated) })
        .where('id', '=', row.id)
        .execute();
    }
    return { classified, outlined };
  }

  async function runStage(stage: 'classify' | 'segment'): Promise<ModelDetail> {
    const trigger = await post('/api/retraining/trigger', { stage, reason: `retrain ${stage}` });
    expect(trigger.statusCode, trigger.body).toBe(202);
    const jobId = trigger.json<{ job: { id: string } }>().job.id;
    server.startWorker();
    const status = await until(
      `${stage} training job ${jobId}`,
      async () => {
        const s = await get<RetrainingStatus>('/api/retraining/status');
        return s.job?.id === jobId && ['completed', 'failed', 'rejected'].includes(s.state)
          ? s
          : null;
      },
      90_000,
    );
    expect(status.error).toBeNull();
    expect(status.state).toBe('completed');
    expect(status.decision).toBe('registered');
    const version = status.candidateVersion;
    expect(version).not.toBeNull();
    const history = await get<RetrainingHistoryResponse>(
      `/api/retraining/history?jobId=${jobId}&limit=50`,
    );
    const kinds = history.events.map((e) => e.kind).reverse();
    expect(kinds).toEqual(['queued', 'started', 'snapshot', 'evaluating', 'registered']);
    const registered = history.events.find((e) => e.kind === 'registered');
    expect(registered?.reason).toContain(
      `visionloop models promote ${version} --alias ${stage}-production`,
    );
    // The device the trainer reported (forced to the CPU below): in the event and the lineage.
    expect(registered?.details).toMatchObject({ device: 'cpu', deviceName: null });
    const model = (await get<{ model: ModelDetail }>(`/api/models/${version}`)).model;
    expect(model.trainerParams).toMatchObject({ device: 'cpu', deviceName: null });
    return model;
  }

  const deviceEnv = process.env.VISIONLOOP_TRAINER_DEVICE;
  beforeAll(async () => {
    // The trainer inherits the environment: pin the device so the records are known.
    process.env.VISIONLOOP_TRAINER_DEVICE = 'cpu';
    server = await openRetrainingServer(sqlite!);
    await server.services.retraining.updateSettings(
      { epochs: 2, threads: 1, nice: 0, seed: 3 },
      null,
    );
  }, 60_000);

  afterAll(async () => {
    if (deviceEnv === undefined) delete process.env.VISIONLOOP_TRAINER_DEVICE;
    else process.env.VISIONLOOP_TRAINER_DEVICE = deviceEnv;
    await server?.close();
  });

  it('refuses a stage training without enough labelled crops, naming the counts', async () => {
    await addSyntheticLabels(server, 40, 11);
    const response = await post('/api/retraining/trigger', { stage: 'classify' });
    expect(response.statusCode).toBe(409);
    const { error } = response.json<{ error: { code: string; message: string } }>();
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toMatch(
      new RegExp(
        `0 reviewed boxes with a crop class exist, at least ${MIN_STAGE_CROPS} are needed`,
      ),
    );
    const bad = await post('/api/retraining/trigger', { stage: 'track' });
    expect(bad.statusCode).toBe(400);
  }, 60_000);

  it('trains, evaluates and registers a classify model that no alias serves', async () => {
    const counts = await labelStages();
    expect(counts.classified).toBeGreaterThanOrEqual(MIN_STAGE_CROPS);
    const model = await runStage('classify');
    expect(model.task).toBe('classify');
    expect(model.classNames).toEqual(['not_defect', 'minor', 'major', 'critical']);
    expect(model.aliases).toEqual([]);
    const metrics = model.metrics as Record<string, unknown>;
    const val = metrics.val as Record<string, unknown>;
    expect(val.accuracy).toBeTypeOf('number');
    expect(Object.keys(val.per_class as object)).toEqual(
      expect.arrayContaining(['minor', 'major']),
    );
    const heldOut = metrics.heldOut as { crops: number; images: number };
    expect(heldOut.crops).toBeGreaterThan(0);
    const params = model.trainerParams as { stage: string; crops: { skippedBoxes: number } };
    expect(params.stage).toBe('classify');
    expect(params.crops.skippedBoxes).toBe(0);
  }, 120_000);

  it('trains a segment model from the polygons, skipping boxes without one', async () => {
    const model = await runStage('segment');
    expect(model.task).toBe('segment');
    const val = (model.metrics as { val: Record<string, unknown> }).val;
    expect(val.mean_iou).toBeTypeOf('number');
    expect(val.area_error_pct_median).toBeTypeOf('number');
    expect(val.defect_crops).toBe((model.metrics as { heldOut: { crops: number } }).heldOut.crops);
    const params = model.trainerParams as {
      crops: { skippedBoxes: number; train: { count: number } };
    };
    expect(params.crops.skippedBoxes).toBeGreaterThan(0);
    expect(params.crops.train.count).toBeGreaterThan(0);
  }, 120_000);
});
