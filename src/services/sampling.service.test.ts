import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeResult } from '../../test/helpers/frame-results.js';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { AgentRepository } from '../repositories/agent.repository.js';
import { PredictionRepository } from '../repositories/prediction.repository.js';
import { SamplingRepository } from '../repositories/sampling.repository.js';
import { ShadowPredictionRepository } from '../repositories/shadow-prediction.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import { DEFAULT_AGENT_SETTINGS } from '../shared/api/agents.js';
import { DEFAULT_SAMPLING_SETTINGS } from '../shared/api/sampling.js';
import type { Detection, FrameResult } from '../shared/domain.js';
import { AgentRegistryService } from './agent-registry.service.js';
import { InProcessEventBus } from './event-bus.js';
import { SamplingService, scaleDetections } from './sampling.service.js';

const crack: Detection = {
  classId: 1,
  className: 'crack',
  confidence: 0.55,
  box: { x1: 100, y1: 40, x2: 200, y2: 120 },
  classScores: [0.2, 0.55, 0, 0],
};

const sampled: FrameResult = makeResult(1, {
  detections: [crack],
  uncertain: true,
  modelVersion: 'seed-3',
  sampling: { reasons: ['low_confidence', 'random'], priority: 4.61, phash: '0123456789abcdef' },
});

describe('SamplingService', () => {
  let database: DatabaseHandle;
  let service: SamplingService;
  let depths: [string, number][];

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    depths = [];
    service = new SamplingService(new SamplingRepository(database.db), {
      now: () => 5_000,
      gauge: { setLabelingQueueDepth: (status, depth) => depths.push([status, depth]) },
    });
    const predictions = new PredictionRepository(database.db, 'sqlite');
    await predictions.insertResults([sampled, makeResult(2)], 'agt-1', 4_000);
  });

  afterEach(async () => {
    await database.close();
  });

  const upload = (id: string, width = 640, height = 480) =>
    service.enqueueUploadedFrame({ id, blob: 'b'.repeat(64), width, height });

  it('turns an uploaded sampled frame into one pending item with reason, model and pre-labels', async () => {
    const outcome = await upload(sampled.id);
    expect(outcome).toMatchObject({ status: 'created', reason: 'low_confidence', priority: 4.61 });
    expect(await upload(sampled.id)).toEqual({ status: 'exists' });
    const items = await database.db.selectFrom('labeling_queue').selectAll().execute();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      prediction_id: sampled.id,
      camera: 'cam-1',
      captured_at: sampled.capturedAt,
      frame_blob: 'b'.repeat(64),
      width: 640,
      height: 480,
      status: 'pending',
      priority: 4.61,
      reason: 'low_confidence',
      model_version: 'seed-3',
      phash: '0123456789abcdef',
      created_at: 5_000,
      updated_at: 5_000,
    });
    expect(JSON.parse(items[0]?.pre_labels ?? '')).toEqual([crack]);
    expect(depths).toEqual([['pending', 1]]);
  });

  it('ignores frames whose result was not sampled, or is unknown', async () => {
    expect(await upload('r-002')).toEqual({ status: 'not_sampled' });
    expect(await upload('r-999')).toEqual({ status: 'not_sampled' });
    const { n } = await database.db
      .selectFrom('labeling_queue')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(n).toBe(0);
    expect(depths).toEqual([]);
  });

  it('queues a committee frame with strategy committee, scored by its shadow', async () => {
    const shadowed: FrameResult = makeResult(3, {
      detections: [crack],
      sampling: {
        reasons: ['low_confidence', 'committee'],
        priority: 5.2,
        phash: 'fedcba9876543210',
      },
      shadow: {
        version: 'cand-2',
        detections: [],
        decision: 'PASS',
        disagreement: 0.75,
        disagrees: true,
        inferenceMs: 3,
      },
    });
    await new PredictionRepository(database.db, 'sqlite').insertResults([shadowed], null, 4_000);
    const withShadows = new SamplingService(new SamplingRepository(database.db), {
      shadows: new ShadowPredictionRepository(database.db),
    });
    expect(
      await withShadows.enqueueUploadedFrame({
        id: shadowed.id,
        blob: 'c'.repeat(64),
        width: 640,
        height: 480,
      }),
    ).toMatchObject({ status: 'created', reason: 'low_confidence' });
    const item = await database.db
      .selectFrom('labeling_queue')
      .select(['strategy', 'strategy_score'])
      .where('prediction_id', '=', shadowed.id)
      .executeTakeFirstOrThrow();
    expect(item).toEqual({ strategy: 'committee', strategy_score: 0.75 });
  });

  it('scales pre-labels to a JPEG stored at another size', async () => {
    await upload(sampled.id, 320, 240);
    const item = await database.db
      .selectFrom('labeling_queue')
      .selectAll()
      .executeTakeFirstOrThrow();
    expect(JSON.parse(item.pre_labels)).toEqual([
      { ...crack, box: { x1: 50, y1: 20, x2: 100, y2: 60 } },
    ]);
    expect(scaleDetections([crack], 1, 1)).toEqual([crack]);
  });
});

describe('agent sampling settings', () => {
  let database: DatabaseHandle;
  let registry: AgentRegistryService;

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    registry = new AgentRegistryService(
      new AgentRepository(database.db),
      new SettingsRepository(database.db),
      new InProcessEventBus(),
      { heartbeatIntervalMs: 10_000, now: () => 1 },
    );
  });

  afterEach(async () => {
    await database.close();
  });

  it('changes single sampling fields and keeps the rest', async () => {
    const next = await registry.updateAgentSettings(
      { sampling: { strategies: { random: { keepProbability: 0.05 } }, caps: { perDay: 50 } } },
      'tok_admin',
    );
    expect(next.revision).toBe(1);
    expect(next.sampling?.strategies.random.keepProbability).toBe(0.05);
    expect(next.sampling?.caps).toEqual({ ...DEFAULT_SAMPLING_SETTINGS.caps, perDay: 50 });
    const again = await registry.updateAgentSettings({ jpegQuality: 60 }, 'tok_admin');
    expect(again.sampling).toEqual(next.sampling);
    expect(await registry.agentSettings()).toEqual(again);
  });

  it('refuses inconsistent sampling settings and stores nothing', async () => {
    await expect(
      registry.updateAgentSettings(
        { sampling: { strategies: { uncertainty: { low: 0.8 } } } },
        'tok_admin',
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('low (0.8) must be below high (0.7)') as string,
    });
    expect(await registry.agentSettings()).toEqual(DEFAULT_AGENT_SETTINGS);
  });

  it('switches the drift boost, bumping the revision only on a change', async () => {
    expect((await registry.setDriftActive(false, 'drift')).revision).toBe(0);
    const on = await registry.setDriftActive(true, 'drift');
    expect(on).toMatchObject({ revision: 1, driftActive: true });
    expect((await registry.setDriftActive(true, 'drift')).revision).toBe(1);
    expect(await registry.setDriftActive(false, 'drift')).toMatchObject({
      revision: 2,
      driftActive: false,
    });
  });

  it('reads settings stored before sampling existed with the sampling defaults', async () => {
    await new SettingsRepository(database.db).insertFirst(
      'agent',
      JSON.stringify({ uploadFrames: 'all', jpegQuality: 70 }),
      1,
      null,
    );
    expect(await registry.agentSettings()).toEqual({
      ...DEFAULT_AGENT_SETTINGS,
      revision: 1,
      uploadFrames: 'all',
      jpegQuality: 70,
    });
  });
});
