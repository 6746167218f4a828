/**
 * Shadow and canary rollouts on every available dialect (RolloutService on real databases):
 * metrics from constructed prediction_logs and shadow_predictions rows with known counts,
 * the automatic rollback and promotion of `evaluate`, hand promotion and rollback with their
 * alias-history steps, the start rules (task, baseline, one per stage), the registry's task
 * check on the stage aliases, and the `rollout.evaluate` job and schedule.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewPredictionLog, NewShadowPrediction } from '../../../src/db/schema.js';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { createJobSchedules } from '../../../src/jobs/job-schedules.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { ModelRegistryRepository } from '../../../src/repositories/model-registry.repository.js';
import { RolloutRepository } from '../../../src/repositories/rollout.repository.js';
import { InProcessEventBus, type SystemEvent } from '../../../src/services/event-bus.js';
import { ModelRegistryService } from '../../../src/services/registry/index.js';
import { RolloutService } from '../../../src/services/rollout.service.js';
import type { JobContext } from '../../../src/services/jobs/job-context.js';
import type { StartRolloutRequest } from '../../../src/shared/api/rollouts.js';
import type { ModelTask } from '../../../src/shared/domain.js';
import { VisionLoopError } from '../../../src/shared/errors.js';
import { cameraHashUnit } from '../../../src/shared/rollout-membership.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';

const T0 = 1_767_225_600_000;
const FEATURES = JSON.stringify({ brightness: 0.5 });

interface FrameSpec {
  camera: string;
  version: string;
  count: number;
  /** The first `failed` frames FAIL. */
  failed?: number;
  /** The last `uncertain` frames are uncertain. */
  uncertain?: number;
  /** Inference ms of frame i. */
  inferenceMs?: (i: number) => number;
  inferred?: boolean;
  at?: number;
}

let sequence = 0;

function frames(spec: FrameSpec): NewPredictionLog[] {
  const rows: NewPredictionLog[] = [];
  for (let i = 0; i < spec.count; i++) {
    const n = sequence++;
    rows.push({
      id: `p-${String(n).padStart(6, '0')}`,
      agent_id: null,
      camera: spec.camera,
      frame_index: n,
      captured_at: (spec.at ?? T0 + 1000) + i,
      received_at: (spec.at ?? T0 + 1000) + i + 5,
      width: 64,
      height: 48,
      decision: i < (spec.failed ?? 0) ? 'FAIL' : 'PASS',
      uncertain: i >= spec.count - (spec.uncertain ?? 0) ? 1 : 0,
      inferred: spec.inferred === false ? 0 : 1,
      model_version: spec.version,
      detection_count: 0,
      max_confidence: null,
      detections: '[]',
      features: FEATURES,
      queue_ms: 1,
      preprocess_ms: 1,
      inference_ms: spec.inferenceMs?.(i) ?? 10,
      postprocess_ms: 1,
      total_ms: 20,
      frame_blob: null,
    });
  }
  return rows;
}

interface ShadowSpec {
  camera: string;
  version: string;
  production: string;
  count: number;
  failed?: number;
  /** Disagreement of frame i. */
  disagreement?: (i: number) => number;
  inferenceMs?: number;
}

function shadows(spec: ShadowSpec): NewShadowPrediction[] {
  const rows: NewShadowPrediction[] = [];
  for (let i = 0; i < spec.count; i++) {
    const n = sequence++;
    const disagreement = spec.disagreement?.(i) ?? 0;
    rows.push({
      id: `s-${String(n).padStart(6, '0')}`,
      camera: spec.camera,
      captured_at: T0 + 1000 + i,
      model_version: spec.version,
      production_version: spec.production,
      rollout_id: null,
      detections: '[]',
      decision: i < (spec.failed ?? 0) ? 'FAIL' : 'PASS',
      disagreement,
      disagrees: disagreement > 0 ? 1 : 0,
      inference_ms: spec.inferenceMs ?? 12,
      received_at: T0 + 2000 + i,
    });
  }
  return rows;
}

/** The VisionLoopError a call fails with (the test fails when it does not). */
async function rejection(call: Promise<unknown>): Promise<VisionLoopError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

function close(value: number | null | undefined, expected: number): void {
  expect(value).not.toBeNull();
  expect(value).toBeCloseTo(expected, 9);
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`rollouts on ${target.dialect}`, () => {
    let database: TestDatabase;
    let blobDir: string;
    let models: ModelRegistryRepository;
    let registry: ModelRegistryService;
    let service: RolloutService;
    let events: SystemEvent[];
    let clock: number;

    async function constructed(version: string, task: ModelTask = 'detect'): Promise<void> {
      const sha = createHash('sha256').update(version).digest('hex');
      await models.insertModel({
        id: `id-${version}`,
        version,
        source: 'trained',
        artifact_blob: sha,
        artifact_sha256: sha,
        artifact_bytes: 1000,
        weights_blob: null,
        layout: task === 'detect' ? 'yolov8' : task === 'classify' ? 'classify' : 'crop-mask',
        class_names: JSON.stringify(['scratch', 'crack']),
        imgsz: 320,
        parent_version: null,
        dataset_id: null,
        trainer_params: null,
        metrics: null,
        training_log_blob: null,
        notes: null,
        created_by: 'test',
        created_at: clock,
        task,
      });
    }

    async function insertFrames(...specs: FrameSpec[]): Promise<void> {
      const rows = specs.flatMap(frames);
      for (let i = 0; i < rows.length; i += 200) {
        await database.db
          .insertInto('prediction_logs')
          .values(rows.slice(i, i + 200))
          .execute();
      }
    }

    async function insertShadows(...specs: ShadowSpec[]): Promise<void> {
      const rows = specs.flatMap(shadows);
      await database.db.insertInto('shadow_predictions').values(rows).execute();
    }

    async function history(alias = 'production') {
      return (await registry.history(alias, 50)).history;
    }

    function canary(overrides: Partial<StartRolloutRequest> = {}): StartRolloutRequest {
      return {
        kind: 'canary',
        candidateVersion: 'd2',
        cameras: ['cam-a'],
        rules: { minFrames: 100 },
        reason: 'night-shift retrain',
        ...overrides,
      };
    }

    /** The canary's data: cam-a on d2 (the canary), cam-b and cam-c on d1 (the baseline). */
    async function canaryTraffic(): Promise<void> {
      await insertFrames(
        // Before the rollout started: never counted.
        { camera: 'cam-a', version: 'd1', count: 30, failed: 30, at: T0 - 5000 },
        // cam-a still on the baseline after the start (before its agent swapped): neither side.
        { camera: 'cam-a', version: 'd1', count: 10, failed: 10 },
        // 120 inferred canary frames: 36 FAIL (0.30), 12 uncertain (0.10), 20..29 ms.
        {
          camera: 'cam-a',
          version: 'd2',
          count: 120,
          failed: 36,
          uncertain: 12,
          inferenceMs: (i) => 20 + (i % 10),
        },
        // 20 carried-forward canary frames: counted as frames, not in the rates.
        { camera: 'cam-a', version: 'd2', count: 20, inferred: false, inferenceMs: () => 0 },
        // Baseline: 200 frames, 10 FAIL (0.05), 10 uncertain (0.05), p50 16 ms.
        {
          camera: 'cam-b',
          version: 'd1',
          count: 100,
          failed: 5,
          uncertain: 4,
          inferenceMs: () => 16,
        },
        {
          camera: 'cam-c',
          version: 'd1',
          count: 100,
          failed: 5,
          uncertain: 6,
          inferenceMs: () => 20,
        },
      );
      await insertShadows(
        // The baseline's shadow on the canary camera: 6 of 24 disagree by 0.5 → mean 0.125.
        {
          camera: 'cam-a',
          version: 'd1',
          production: 'd2',
          count: 24,
          disagreement: (i) => (i < 6 ? 0.5 : 0),
        },
        // A shadow on a baseline camera is not the canary's disagreement.
        { camera: 'cam-b', version: 'd1', production: 'd2', count: 5, disagreement: () => 1 },
      );
    }

    beforeEach(async () => {
      database = await target.open();
      blobDir = mkdtempSync(join(tmpdir(), 'visionloop-rollouts-'));
      models = new ModelRegistryRepository(database.db);
      events = [];
      clock = T0;
      const bus = new InProcessEventBus();
      bus.subscribe((event) => events.push(event));
      registry = new ModelRegistryService(
        models,
        new LocalBlobStore(blobDir),
        { inspect: () => Promise.reject(new Error('no registrations in these tests')) },
        bus,
        { now: () => clock },
      );
      service = new RolloutService(new RolloutRepository(database.db), registry, bus, {
        now: () => clock,
      });
      await constructed('d1');
      await constructed('d2');
      await constructed('c1', 'classify');
      await constructed('s1', 'segment');
      clock = T0 - 10_000;
      await registry.promote('d1', 'production', { actor: 'ana', reason: 'seed' });
      clock = T0;
    });
    afterEach(async () => {
      await database.cleanup();
      rmSync(blobDir, { recursive: true, force: true });
    });

    it('measures a canary against the baseline cameras since it started', async () => {
      const rollout = await service.start(canary(), 'ana');
      expect(rollout).toMatchObject({
        kind: 'canary',
        stage: 'detect',
        candidateVersion: 'd2',
        baselineVersion: 'd1',
        cameras: ['cam-a'],
        share: null,
        state: 'running',
        startedAt: T0,
        createdBy: 'ana',
      });
      expect(rollout.rules).toEqual({
        minFrames: 100,
        maxDefectRateDelta: 0.1,
        maxUncertainRateDelta: 0.15,
        maxDisagreement: 0.35,
        maxLatencyRatio: 1.5,
        promoteAfterFrames: null,
      });
      await canaryTraffic();
      clock = T0 + 60_000;
      const metrics = await service.metrics(rollout.id);
      expect(metrics.candidate).toMatchObject({
        cameras: ['cam-a'],
        frames: 140,
        shadowFrames: 24,
        inferenceMsP50: 24,
      });
      close(metrics.candidate.defectRate, 0.3);
      close(metrics.candidate.uncertainRate, 0.1);
      close(metrics.candidate.disagreement, 0.125);
      expect(metrics.baseline).toMatchObject({
        cameras: ['cam-b', 'cam-c'],
        frames: 200,
        disagreement: null,
        shadowFrames: 0,
        inferenceMsP50: 16,
      });
      close(metrics.baseline.defectRate, 0.05);
      close(metrics.baseline.uncertainRate, 0.05);
      expect(metrics.perCamera.map((c) => [c.camera, c.role, c.frames])).toEqual([
        ['cam-a', 'canary', 140],
        ['cam-b', 'baseline', 100],
        ['cam-c', 'baseline', 100],
      ]);
      expect(metrics.perCamera[2]?.inferenceMsP50).toBe(20);
      close(metrics.perCamera[1]?.uncertainRate, 0.04);
      expect(metrics.verdict).toBe('breach');
      expect(metrics.breaches).toHaveLength(1);
      expect(metrics.breaches[0]?.metric).toBe('defectRateDelta');
      close(metrics.breaches[0]?.value, 0.25);
      expect(metrics.at).toBe(T0 + 60_000);
    });

    it('rolls a breaching canary back automatically, with the numbers in the history', async () => {
      const rollout = await service.start(canary(), 'ana');
      await canaryTraffic();
      clock = T0 + 60_000;
      const outcome = await service.evaluate();
      expect(outcome).toEqual({ evaluated: 1, promoted: [], rolledBack: [rollout.id], failed: [] });
      const ended = await service.get(rollout.id);
      expect(ended).toMatchObject({
        state: 'rolled-back',
        endedAt: T0 + 60_000,
        endReason: 'defect rate +0.25 > +0.10 over 140 canary frames',
      });
      const steps = await history();
      expect(steps.map((s) => [s.action, s.fromVersion, s.toVersion, s.actor, s.scope])).toEqual([
        ['canary-rollback', 'd2', 'd1', 'auto', 'cameras cam-a'],
        ['canary', 'd1', 'd2', 'ana', 'cameras cam-a'],
        ['promote', null, 'd1', 'ana', null],
      ]);
      expect(steps[1]?.reason).toBe(
        `canary on cameras cam-a (rollout ${rollout.id}): night-shift retrain`,
      );
      expect(steps[0]?.reason).toContain('defect rate +0.25 > +0.10 over 140 canary frames');
      // production never moved for every camera
      expect((await registry.resolveAlias('production'))?.version).toBe('d1');
      const rolloutEvents = events.filter((e) => e.type === 'rollout');
      expect(rolloutEvents.map((e) => [e.action, e.actor])).toEqual([
        ['started', 'ana'],
        ['rolled-back', 'auto'],
      ]);
      // A second pass finds nothing running.
      expect(await service.evaluate()).toEqual({
        evaluated: 0,
        promoted: [],
        rolledBack: [],
        failed: [],
      });
      await expect(service.rollback(rollout.id, null, 'ana')).rejects.toMatchObject({
        code: 'ROLLOUT_CONFLICT',
      });
    });

    it('waits below minFrames and promotes a clean canary after promoteAfterFrames', async () => {
      const rollout = await service.start(
        canary({ rules: { minFrames: 50, promoteAfterFrames: 80, maxDefectRateDelta: 0.3 } }),
        'ana',
      );
      await insertFrames(
        { camera: 'cam-a', version: 'd2', count: 40, failed: 2 },
        { camera: 'cam-b', version: 'd1', count: 100, failed: 4 },
      );
      expect((await service.metrics(rollout.id)).verdict).toBe('waiting');
      expect((await service.evaluate()).promoted).toEqual([]);
      await insertFrames({ camera: 'cam-a', version: 'd2', count: 20 });
      // 60 frames: healthy, but fewer than promoteAfterFrames.
      expect((await service.metrics(rollout.id)).verdict).toBe('healthy');
      expect((await service.evaluate()).promoted).toEqual([]);
      await insertFrames({ camera: 'cam-a', version: 'd2', count: 20 });
      clock = T0 + 90_000;
      expect(await service.evaluate()).toMatchObject({ promoted: [rollout.id], rolledBack: [] });
      expect(await service.get(rollout.id)).toMatchObject({
        state: 'promoted',
        endReason: '80 canary frames within every threshold (≥ 80)',
      });
      expect((await registry.resolveAlias('production'))?.version).toBe('d2');
      const [latest] = await history();
      expect(latest).toMatchObject({
        action: 'promote',
        fromVersion: 'd1',
        toVersion: 'd2',
        actor: 'auto',
        reason: `rollout ${rollout.id}: 80 canary frames within every threshold (≥ 80)`,
      });
      // The registry's own rollback still works after canary steps: back to d1.
      const undo = await registry.rollback('production', { actor: 'ana' });
      expect(undo).toMatchObject({ changed: true, fromVersion: 'd2', toVersion: 'd1' });
    });

    it('chooses canary cameras by share with a stable hash and names the share', async () => {
      const cameras = ['press', 'paint', 'weld', 'assembly', 'north', 'south'];
      const inCanary = cameras.filter((camera) => cameraHashUnit(camera) < 0.5);
      // FNV-1a of the names: press 0.008, paint 0.393, assembly 0.140, south 0.055 are in.
      expect(inCanary).toEqual(['press', 'paint', 'assembly', 'south']);
      const rollout = await service.start(
        canary({ cameras: undefined, share: 0.5, reason: undefined }),
        'ana',
      );
      await insertFrames(
        ...cameras.map((camera) => ({
          camera,
          version: inCanary.includes(camera) ? 'd2' : 'd1',
          count: 10,
        })),
        // a canary camera's frames on d2 but a baseline camera's on d2 would be neither side
        { camera: cameras.find((c) => !inCanary.includes(c)) ?? '', version: 'd2', count: 7 },
      );
      const metrics = await service.metrics(rollout.id);
      expect(metrics.candidate.cameras).toEqual([...inCanary].sort());
      expect(metrics.candidate.frames).toBe(10 * inCanary.length);
      expect(metrics.baseline.frames).toBe(10 * (cameras.length - inCanary.length));
      const [step] = await history();
      expect(step).toMatchObject({ action: 'canary', scope: null });
      expect(step?.reason).toBe(
        `canary on 50 % of the cameras (by camera-name hash) (rollout ${rollout.id})`,
      );
    });

    it('measures a shadow from its own outputs and never ends it by itself', async () => {
      const rollout = await service.start(
        { kind: 'shadow', candidateVersion: 'd2', share: 0.25, rules: { minFrames: 10 } },
        'bo',
      );
      expect(rollout).toMatchObject({ kind: 'shadow', cameras: null, share: 0.25 });
      await insertFrames(
        { camera: 'cam-a', version: 'd1', count: 50, failed: 5, inferenceMs: () => 10 },
        { camera: 'cam-b', version: 'd1', count: 50, failed: 0, inferenceMs: () => 10 },
      );
      await insertShadows(
        {
          camera: 'cam-a',
          version: 'd2',
          production: 'd1',
          count: 10,
          failed: 8,
          disagreement: () => 0.9,
          inferenceMs: 30,
        },
        { camera: 'cam-b', version: 'd2', production: 'd1', count: 30, inferenceMs: 12 },
        // Another candidate's shadow rows are not this rollout's.
        { camera: 'cam-b', version: 'c1', production: 'd1', count: 9, disagreement: () => 1 },
      );
      const metrics = await service.metrics(rollout.id);
      expect(metrics.candidate).toMatchObject({
        cameras: ['cam-a', 'cam-b'],
        frames: 40,
        shadowFrames: 40,
        uncertainRate: null,
        inferenceMsP50: 12,
      });
      close(metrics.candidate.defectRate, 8 / 40);
      close(metrics.candidate.disagreement, 9 / 40);
      expect(metrics.baseline).toMatchObject({ frames: 100, inferenceMsP50: 10 });
      close(metrics.baseline.defectRate, 0.05);
      expect(metrics.perCamera.map((c) => [c.camera, c.role, c.frames])).toEqual([
        ['cam-a', 'baseline', 50],
        ['cam-a', 'shadow', 10],
        ['cam-b', 'baseline', 50],
        ['cam-b', 'shadow', 30],
      ]);
      close(metrics.perCamera[1]?.disagreement, 0.9);
      // 0.2 − 0.05 = 0.15 > 0.10 and latency 12 / 10 = 1.2 (within 1.5)
      expect(metrics.verdict).toBe('breach');
      expect(metrics.breaches.map((b) => b.metric)).toEqual(['defectRateDelta']);
      expect(await service.evaluate()).toMatchObject({ evaluated: 0, rolledBack: [] });
      expect((await service.get(rollout.id)).state).toBe('running');

      const stopped = await service.rollback(rollout.id, 'seen enough', 'bo');
      expect(stopped).toMatchObject({ state: 'rolled-back', endReason: 'seen enough' });
      // A shadow never touched the alias history.
      expect((await history()).map((s) => s.action)).toEqual(['promote']);
    });

    it('promotes by hand through the registry, once', async () => {
      const rollout = await service.start(canary(), 'ana');
      clock = T0 + 5000;
      const promoted = await service.promote(rollout.id, 'looks right on the line', 'ana');
      expect(promoted).toMatchObject({ state: 'promoted', endReason: 'looks right on the line' });
      expect((await registry.resolveAlias('production'))?.version).toBe('d2');
      await expect(service.promote(rollout.id, null, 'ana')).rejects.toMatchObject({
        code: 'ROLLOUT_CONFLICT',
        message: `rollout ${rollout.id} is not running (it was promoted)`,
      });
      // With the stage free again another rollout may start (d1 is now the candidate).
      const back = await service.start(canary({ candidateVersion: 'd1' }), 'ana');
      expect(back.baselineVersion).toBe('d2');
    });

    it('refuses rollouts that cannot run, naming the problem', async () => {
      {
        const error = await rejection(service.start(canary({ candidateVersion: 'c1' }), 'ana'));
        expect(error.code).toBe('MODEL_TASK_MISMATCH');
        expect(error.message).toContain('c1 is a classify model');
      }
      await expect(
        service.start(canary({ candidateVersion: 'nope' }), 'ana'),
      ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
      {
        const error = await rejection(service.start(canary({ candidateVersion: 'd1' }), 'ana'));
        expect(error.code).toBe('ROLLOUT_CONFLICT');
        expect(error.message).toContain('already points at d1');
      }
      {
        const error = await rejection(
          service.start(canary({ stage: 'classify', candidateVersion: 'c1' }), 'ana'),
        );
        expect(error.code).toBe('ROLLOUT_CONFLICT');
        expect(error.message).toContain("nothing is in 'classify-production'");
      }
      await expect(
        service.start({ kind: 'shadow', stage: 'segment', candidateVersion: 's1' }, 'ana'),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(
        service.start(canary({ cameras: ['cam-a'], share: 0.5 }), 'ana'),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(service.get('ro_missing')).rejects.toMatchObject({ code: 'ROLLOUT_NOT_FOUND' });

      const first = await service.start(canary(), 'ana');
      {
        const error = await rejection(
          service.start({ kind: 'shadow', candidateVersion: 'd2' }, 'bo'),
        );
        expect(error.code).toBe('ROLLOUT_CONFLICT');
        expect(error.message).toContain(first.id);
      }
      // Stages are independent: a classify canary runs beside the detect one.
      await constructed('c2', 'classify');
      await registry.promote('c1', 'classify-production', { actor: 'ana' });
      const classify = await service.start(
        canary({ stage: 'classify', candidateVersion: 'c2' }),
        'ana',
      );
      expect(classify).toMatchObject({ stage: 'classify', baselineVersion: 'c1' });
      expect((await service.running()).map((r) => r.id)).toEqual([first.id, classify.id]);
      expect((await service.list()).map((r) => r.id)).toHaveLength(2);
    });

    it('keeps each stage alias to models of its task', async () => {
      await expect(registry.promote('c1', 'production', { actor: 'ana' })).rejects.toMatchObject({
        code: 'MODEL_TASK_MISMATCH',
        message:
          "c1 is a classify model; 'production' serves the detect stage and takes detect models only",
      });
      await expect(
        registry.promote('d2', 'classify-production', { actor: 'ana' }),
      ).rejects.toMatchObject({ code: 'MODEL_TASK_MISMATCH' });
      await expect(
        registry.promote('c1', 'segment-production', { actor: 'ana' }),
      ).rejects.toMatchObject({ code: 'MODEL_TASK_MISMATCH' });
      expect(await registry.promote('s1', 'segment-production', { actor: 'ana' })).toMatchObject({
        changed: true,
        toVersion: 's1',
      });
      // Other aliases take any task.
      expect(await registry.promote('c1', 'staging', { actor: 'ana' })).toMatchObject({
        changed: true,
      });
      expect((await registry.resolveAlias('production'))?.version).toBe('d1');
    });

    it('schedules and runs rollout.evaluate only while a canary runs', async () => {
      const schedules = createJobSchedules({
        drift: {
          checkIntervalMs: () => Promise.resolve(1),
          scheduledChecks: () => Promise.resolve([]),
        },
        retraining: {
          policyIntervalMs: () => Promise.resolve(1),
          scheduledTrainings: () => Promise.resolve([]),
        },
        retention: { intervalMs: () => 1, scheduledRuns: () => Promise.resolve([]) },
        rollouts: service,
      });
      const entry = schedules.find((s) => s.key === 'rollout.evaluate');
      expect(await entry?.everyMs()).toBe(15_000);
      expect(await entry?.jobs(T0)).toEqual([]);
      await service.start({ kind: 'shadow', candidateVersion: 'd2' }, 'bo');
      expect(await entry?.jobs(T0)).toEqual([]);
      await service.rollback((await service.running())[0]?.id ?? '', null, 'bo');
      const rollout = await service.start(canary(), 'ana');
      expect(await entry?.jobs(T0)).toEqual([
        { name: 'rollout.evaluate', payload: {}, dedupeKey: 'rollout.evaluate' },
      ]);

      await canaryTraffic();
      const handlers = createJobHandlers({
        drift: { runCheck: () => Promise.reject(new Error('unused')) },
        retraining: { runTraining: () => Promise.reject(new Error('unused')) },
        retention: { run: () => Promise.reject(new Error('unused')) },
        rollouts: service,
      });
      const logged: string[] = [];
      const context = {
        log: (_level: string, message: string) => logged.push(message),
      } as unknown as JobContext;
      const result = await handlers['rollout.evaluate']({}, context);
      expect(result).toEqual({ evaluated: 1, promoted: [], rolledBack: [rollout.id], failed: [] });
      expect(logged).toEqual(['rollout rolled back']);

      const without = createJobHandlers({
        drift: { runCheck: () => Promise.reject(new Error('unused')) },
        retraining: { runTraining: () => Promise.reject(new Error('unused')) },
        retention: { run: () => Promise.reject(new Error('unused')) },
      });
      await expect(without['rollout.evaluate']({}, context)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
      });
    });
  });
}
