import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../db/database.js';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { ModelRegistryRepository } from '../repositories/model-registry.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import type { ChainConfig } from '../shared/api/inspection-chain.js';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import type { ProductionRef } from '../shared/api/models.js';
import type { Rollout } from '../shared/api/rollouts.js';
import { CANARY_BASELINE_SHADOW_SHARE, DEFAULT_ROLLOUT_RULES } from '../shared/api/rollouts.js';
import type { ModelTask } from '../shared/domain.js';
import { cameraHashUnit } from '../shared/rollout-membership.js';
import { AgentPlanService, NO_RUNNING_ROLLOUTS } from './agent-plan.service.js';
import { InProcessEventBus } from './event-bus.js';
import { InspectionChainService } from './inspection-chain.service.js';
import { ModelCatalog } from './registry/model-catalog.js';

function shaOf(version: string): string {
  let hex = '';
  for (const char of version) hex += char.charCodeAt(0).toString(16);
  return hex.padEnd(64, '0').slice(0, 64);
}

function ref(version: string): ProductionRef {
  return { version, sha256: shaOf(version) };
}

async function model(
  repo: ModelRegistryRepository,
  version: string,
  task: ModelTask,
  alias?: string,
): Promise<void> {
  await repo.insertModel({
    id: `mdl_${version}`,
    version,
    source: 'uploaded',
    artifact_blob: `blob-${version}`,
    artifact_sha256: shaOf(version),
    artifact_bytes: 100,
    weights_blob: null,
    layout: task === 'detect' ? 'yolov8' : task === 'classify' ? 'classify' : 'crop-mask',
    class_names: JSON.stringify(['ok', 'crack']),
    imgsz: 64,
    parent_version: null,
    dataset_id: null,
    trainer_params: null,
    metrics: null,
    training_log_blob: null,
    notes: null,
    created_by: 'test',
    created_at: 1,
    producer: null,
    task,
  });
  if (alias === undefined) return;
  await repo.moveAlias({
    alias,
    expectedVersion: null,
    toVersion: version,
    action: 'promote',
    actor: 'test',
    reason: null,
    at: 2,
    historyId: `hist_${alias}`,
  });
}

function rollout(fields: Partial<Rollout> & Pick<Rollout, 'id' | 'kind'>): Rollout {
  return {
    stage: 'detect',
    candidateVersion: 'det-2',
    baselineVersion: 'det-1',
    cameras: null,
    share: null,
    state: 'running',
    rules: DEFAULT_ROLLOUT_RULES,
    reason: null,
    createdBy: 'tok_admin',
    startedAt: 1_000,
    endedAt: null,
    endReason: null,
    ...fields,
  };
}

const THREE_STAGE: ChainConfig = {
  stages: [
    { stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.3 },
    { stage: 'segment', alias: 'segment-production', padding: 0, minConfidence: 0.3 },
  ],
  vetoClass: 'not_defect',
  mmPerPixel: 0.2,
  maxCrops: 8,
  rules: [{ id: 'big', when: 'area-mm2', gt: 25 }],
};

describe('AgentPlanService', () => {
  let database: DatabaseHandle;
  let chains: InspectionChainService;
  let catalog: ModelCatalog;
  let running: Rollout[];
  let plans: AgentPlanService;

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    const repo = new ModelRegistryRepository(database.db);
    catalog = new ModelCatalog(repo);
    chains = new InspectionChainService(
      new SettingsRepository(database.db),
      catalog,
      new InProcessEventBus(),
    );
    await model(repo, 'det-1', 'detect', 'production');
    await model(repo, 'det-2', 'detect');
    await model(repo, 'cls-1', 'classify', 'classify-production');
    await model(repo, 'cls-2', 'classify');
    await model(repo, 'seg-1', 'segment', 'segment-production');
    running = [];
    plans = new AgentPlanService(catalog, chains, { running: () => Promise.resolve(running) });
  });
  afterEach(() => database.close());

  it('runs production alone under the default chain when nothing rolls out', async () => {
    const plain = new AgentPlanService(catalog, chains, NO_RUNNING_ROLLOUTS);
    expect(await plain.planFor('line-1')).toEqual({
      detect: ref('det-1'),
      classify: null,
      segment: null,
      chain: DEFAULT_CHAIN,
      shadow: null,
      rollout: null,
    });
  });

  it("resolves the chain's stage aliases for the cameras that run them", async () => {
    await chains.update({ camera: 'line-2', chain: THREE_STAGE }, null);
    expect(await plans.planFor('line-2')).toEqual({
      detect: ref('det-1'),
      classify: ref('cls-1'),
      segment: ref('seg-1'),
      chain: THREE_STAGE,
      shadow: null,
      rollout: null,
    });
    expect((await plans.planFor('line-1')).classify).toBeNull();
  });

  it("gives a detect canary's cameras the candidate, with the baseline as their shadow", async () => {
    running = [rollout({ id: 'ro-1', kind: 'canary', cameras: ['line-2'] })];
    expect(await plans.planFor('line-2')).toEqual({
      detect: ref('det-2'),
      classify: null,
      segment: null,
      chain: DEFAULT_CHAIN,
      shadow: { model: ref('det-1'), share: CANARY_BASELINE_SHADOW_SHARE, rolloutId: 'ro-1' },
      rollout: { id: 'ro-1', role: 'canary' },
    });
    expect(await plans.planFor('line-1')).toEqual({
      detect: ref('det-1'),
      classify: null,
      segment: null,
      chain: DEFAULT_CHAIN,
      shadow: null,
      rollout: { id: 'ro-1', role: 'baseline' },
    });
  });

  it('chooses canary cameras by the stable hash when the canary names a share', async () => {
    const cameras = Array.from({ length: 40 }, (_, i) => `cam-${i}`);
    running = [rollout({ id: 'ro-2', kind: 'canary', share: 0.25 })];
    const inside = cameras.filter((camera) => cameraHashUnit(camera) < 0.25);
    // The hash puts some cameras on each side of a quarter (a fixed, seedless function).
    expect(inside.length).toBeGreaterThan(0);
    expect(inside.length).toBeLessThan(cameras.length);
    for (const camera of cameras) {
      const plan = await plans.planFor(camera);
      const canary = inside.includes(camera);
      expect(plan.detect).toEqual(ref(canary ? 'det-2' : 'det-1'));
      expect(plan.rollout).toEqual({ id: 'ro-2', role: canary ? 'canary' : 'baseline' });
    }
  });

  it("swaps a stage canary's candidate into the stage, leaving detect alone", async () => {
    await chains.update({ camera: null, chain: THREE_STAGE }, null);
    running = [
      rollout({
        id: 'ro-3',
        kind: 'canary',
        stage: 'classify',
        candidateVersion: 'cls-2',
        baselineVersion: 'cls-1',
        cameras: ['line-3'],
      }),
    ];
    const canary = await plans.planFor('line-3');
    expect(canary).toMatchObject({
      detect: ref('det-1'),
      classify: ref('cls-2'),
      segment: ref('seg-1'),
      shadow: null,
      rollout: { id: 'ro-3', role: 'canary' },
    });
    expect(await plans.planFor('line-4')).toMatchObject({
      classify: ref('cls-1'),
      rollout: { id: 'ro-3', role: 'baseline' },
    });
  });

  it('runs a shadow candidate on its share of frames on every camera it names', async () => {
    running = [rollout({ id: 'ro-4', kind: 'shadow', share: 0.3 })];
    // A shadow's share is of frames: a camera whose hash is above it still runs the shadow.
    const high = ['a', 'b', 'c', 'd', 'e', 'f'].find((name) => cameraHashUnit(name) >= 0.3);
    expect(high).toBeDefined();
    for (const camera of ['line-1', high ?? 'a']) {
      expect(await plans.planFor(camera)).toEqual({
        detect: ref('det-1'),
        classify: null,
        segment: null,
        chain: DEFAULT_CHAIN,
        shadow: { model: ref('det-2'), share: 0.3, rolloutId: 'ro-4' },
        rollout: null,
      });
    }
    running = [rollout({ id: 'ro-5', kind: 'shadow', cameras: ['line-1'], share: null })];
    expect((await plans.planFor('line-1')).shadow).toEqual({
      model: ref('det-2'),
      share: 1,
      rolloutId: 'ro-5',
    });
    expect((await plans.planFor('line-2')).shadow).toBeNull();
  });

  it('ignores rollouts that ended, and candidates that are no longer registered', async () => {
    running = [
      rollout({ id: 'ro-6', kind: 'canary', cameras: ['line-1'], state: 'rolled-back' }),
      rollout({ id: 'ro-7', kind: 'shadow', stage: 'detect', state: 'promoted' }),
    ];
    expect(await plans.planFor('line-1')).toMatchObject({
      detect: ref('det-1'),
      shadow: null,
      rollout: null,
    });
    running = [
      rollout({ id: 'ro-8', kind: 'canary', cameras: ['line-1'], candidateVersion: 'gone' }),
    ];
    expect(await plans.planFor('line-1')).toMatchObject({
      detect: ref('det-1'),
      shadow: { model: ref('det-1'), share: CANARY_BASELINE_SHADOW_SHARE, rolloutId: 'ro-8' },
      rollout: { id: 'ro-8', role: 'canary' },
    });
  });

  it('names the camera its canary side before another canary’s baseline side', async () => {
    await chains.update({ camera: null, chain: THREE_STAGE }, null);
    running = [
      rollout({ id: 'ro-d', kind: 'canary', cameras: ['line-1'] }),
      rollout({
        id: 'ro-c',
        kind: 'canary',
        stage: 'classify',
        candidateVersion: 'cls-2',
        baselineVersion: 'cls-1',
        cameras: ['line-2'],
      }),
    ];
    expect((await plans.planFor('line-2')).rollout).toEqual({ id: 'ro-c', role: 'canary' });
    expect((await plans.planFor('line-1')).rollout).toEqual({ id: 'ro-d', role: 'canary' });
    expect((await plans.planFor('line-5')).rollout).toEqual({ id: 'ro-d', role: 'baseline' });
  });
});
