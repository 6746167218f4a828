import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../db/database.js';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { ModelRegistryRepository } from '../repositories/model-registry.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import type { ChainConfig } from '../shared/api/inspection-chain.js';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import type { ModelTask } from '../shared/domain.js';
import { InProcessEventBus } from './event-bus.js';
import type { SystemEvent } from './event-bus.js';
import {
  INSPECTION_CHAIN_SETTINGS_KEY,
  InspectionChainService,
} from './inspection-chain.service.js';
import { ModelCatalog } from './registry/model-catalog.js';

/** Registers a model row of `task` and points `alias` at it (no file: the chain never loads it). */
async function stageModel(
  repo: ModelRegistryRepository,
  version: string,
  task: ModelTask,
  alias: string,
): Promise<void> {
  await repo.insertModel({
    id: `mdl_${version}`,
    version,
    source: 'uploaded',
    artifact_blob: `blob-${version}`,
    artifact_sha256: version
      .padEnd(64, '0')
      .slice(0, 64)
      .replace(/[^0-9a-f]/g, 'a'),
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
  const current = await repo.findAlias(alias);
  await repo.moveAlias({
    alias,
    expectedVersion: current?.version ?? null,
    toVersion: version,
    action: 'promote',
    actor: 'test',
    reason: null,
    at: 2,
    historyId: `hist_${alias}_${version}`,
  });
}

const CLASSIFY_CHAIN: ChainConfig = {
  stages: [{ stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.3 }],
  vetoClass: 'not_defect',
  mmPerPixel: null,
  maxCrops: 8,
  rules: [{ id: 'severe', when: 'severity', gte: 2 }],
};

describe('InspectionChainService', () => {
  let database: DatabaseHandle;
  let repo: ModelRegistryRepository;
  let events: SystemEvent[];
  let clock: number;
  let service: InspectionChainService;

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    repo = new ModelRegistryRepository(database.db);
    events = [];
    clock = 5_000;
    const bus = new InProcessEventBus();
    bus.subscribe((event) => events.push(event), ['chain']);
    service = new InspectionChainService(
      new SettingsRepository(database.db),
      new ModelCatalog(repo),
      bus,
      { now: () => clock },
    );
    await stageModel(repo, 'det-1', 'detect', 'production');
    await stageModel(repo, 'cls-1', 'classify', 'classify-production');
    await stageModel(repo, 'seg-1', 'segment', 'segment-production');
  });
  afterEach(() => database.close());

  it('starts with the default chain (detect alone) and no overrides', async () => {
    expect(await service.get()).toEqual({ default: DEFAULT_CHAIN, cameras: {}, updatedAt: null });
    expect(await service.chainFor('line-1')).toEqual(DEFAULT_CHAIN);
  });

  it("sets a camera's chain, which only that camera runs, and announces it", async () => {
    const answer = await service.update({ camera: 'line-2', chain: CLASSIFY_CHAIN }, 'tok_admin');
    expect(answer).toEqual({
      default: DEFAULT_CHAIN,
      cameras: { 'line-2': CLASSIFY_CHAIN },
      updatedAt: 5_000,
    });
    expect(await service.chainFor('line-2')).toEqual(CLASSIFY_CHAIN);
    expect(await service.chainFor('line-1')).toEqual(DEFAULT_CHAIN);
    expect(events).toEqual([{ type: 'chain', at: 5_000, camera: 'line-2', actor: 'tok_admin' }]);
    const row = await new SettingsRepository(database.db).get(INSPECTION_CHAIN_SETTINGS_KEY);
    expect(row?.revision).toBe(1);
    expect(row?.updated_by).toBe('tok_admin');
  });

  it('changes the default for every camera without an override, and resets it on null', async () => {
    const full: ChainConfig = {
      ...CLASSIFY_CHAIN,
      stages: [
        ...CLASSIFY_CHAIN.stages,
        { stage: 'segment', alias: 'segment-production', padding: 0, minConfidence: 0.3 },
      ],
      mmPerPixel: 0.25,
      rules: [{ id: 'big', when: 'area-mm2', gt: 40 }],
    };
    await service.update({ camera: 'line-2', chain: CLASSIFY_CHAIN }, null);
    clock = 6_000;
    await service.update({ camera: null, chain: full }, null);
    expect(await service.chainFor('line-9')).toEqual(full);
    expect(await service.chainFor('line-2')).toEqual(CLASSIFY_CHAIN);
    clock = 7_000;
    const reset = await service.update({ camera: null, chain: null }, null);
    expect(reset.default).toEqual(DEFAULT_CHAIN);
    expect(reset.updatedAt).toBe(7_000);
    expect(events.map((event) => (event.type === 'chain' ? event.camera : 'x'))).toEqual([
      'line-2',
      null,
      null,
    ]);
  });

  it("removes a camera's override, and says so when there is none", async () => {
    await service.update({ camera: 'line-2', chain: CLASSIFY_CHAIN }, null);
    const removed = await service.update({ camera: 'line-2', chain: null }, null);
    expect(removed.cameras).toEqual({});
    expect(await service.chainFor('line-2')).toEqual(DEFAULT_CHAIN);
    await expect(service.update({ camera: 'line-2', chain: null }, null)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: "camera 'line-2' has no chain of its own; it runs the default chain",
    });
    expect(events).toHaveLength(2);
  });

  it('rejects an alias pointing at a model of another task, naming alias, version and tasks', async () => {
    const wrong: ChainConfig = {
      ...CLASSIFY_CHAIN,
      stages: [{ stage: 'classify', alias: 'segment-production', padding: 0, minConfidence: 0.2 }],
    };
    await expect(service.update({ camera: null, chain: wrong }, null)).rejects.toMatchObject({
      code: 'MODEL_TASK_MISMATCH',
      httpStatus: 422,
      message:
        "chain.stages.0.alias: alias 'segment-production' points at seg-1, a segment model; the classify stage needs a classify model",
    });
    expect(events).toEqual([]);
    expect((await service.get()).updatedAt).toBeNull();
  });

  it('rejects an alias that does not exist yet', async () => {
    const missing: ChainConfig = {
      ...CLASSIFY_CHAIN,
      stages: [{ stage: 'classify', alias: 'severity-v2', padding: 0, minConfidence: 0.2 }],
    };
    await expect(service.update({ camera: 'line-1', chain: missing }, null)).rejects.toMatchObject({
      code: 'CHAIN_INVALID',
      httpStatus: 400,
      message:
        "chain.stages.0.alias: alias 'severity-v2' does not exist; register a classify model and point 'severity-v2' at it first",
    });
  });

  it('rejects a chain that fails the schema, naming the field', async () => {
    const noSegment = { ...CLASSIFY_CHAIN, rules: [{ id: 'big', when: 'area-px', gt: 10 }] };
    await expect(
      service.update({ camera: 'line-1', chain: noSegment }, null),
    ).rejects.toMatchObject({
      code: 'CHAIN_INVALID',
      message: "body.chain.rules.0.when: 'area-px' needs a segment stage",
    });
    await expect(
      service.update({ camera: 'line-1', chain: { ...CLASSIFY_CHAIN, maxCrops: 0 } }, null),
    ).rejects.toMatchObject({ code: 'CHAIN_INVALID', message: /^body\.chain\.maxCrops: / });
  });

  it('keeps concurrent changes to different cameras (compare-and-set on the revision)', async () => {
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((camera) =>
        service.update({ camera: `line-${camera}`, chain: CLASSIFY_CHAIN }, null),
      ),
    );
    expect(Object.keys((await service.get()).cameras).sort()).toEqual([
      'line-a',
      'line-b',
      'line-c',
      'line-d',
    ]);
    const row = await new SettingsRepository(database.db).get(INSPECTION_CHAIN_SETTINGS_KEY);
    expect(row?.revision).toBe(4);
  });
});
