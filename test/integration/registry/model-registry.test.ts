/**
 * The registry service on every available dialect: promotion, rollback and alias history on
 * constructed rows; registration rules (stamped version, idempotence, conflicts, lineage,
 * class check) with a stub inspector; moves made by another process noticed by
 * `syncAliases`; what the deployer is told and what a failing deployer leaves behind.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { ModelRegistryRepository } from '../../../src/repositories/model-registry.repository.js';
import { InProcessEventBus } from '../../../src/services/event-bus.js';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import {
  ModelRegistryService,
  type InspectedModel,
  type ModelDeployer,
  type ModelInspector,
} from '../../../src/services/registry/index.js';
import type { ServingOutcome } from '../../../src/shared/api/models.js';
import { parseModelMetadata } from '../../../src/vision/metadata.js';
import { readOnnxModelHeader } from '../../../src/vision/onnx-model-file.js';
import { databaseTargets } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';
import { buildConstantOutputModel, readModelMetadata } from '../../helpers/onnx-fixtures.js';
import { fixtureDetectorModel } from '../../helpers/registry-fixtures.js';

const CLASSES = ['scratch', 'crack', 'dent', 'stain'];
const T0 = 1_767_225_600_000;

/** Reads what a runtime would report from the bytes, without loading them. */
class StubInspector implements ModelInspector {
  calls = 0;
  inspect(bytes: Uint8Array): Promise<InspectedModel> {
    this.calls++;
    const metadata = parseModelMetadata(readOnnxModelHeader(bytes).metadata);
    return Promise.resolve({
      version: metadata.version ?? 'none',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      task: 'detect',
      layout: 'yolov8',
      classNames: metadata.names,
      inputWidth: 32,
      inputHeight: 32,
    });
  }
}

class RecordingDeployer implements ModelDeployer {
  deployed: string[] = [];
  fail: string | null = null;
  throwInstead = false;
  deploy(version: string): Promise<ServingOutcome> {
    if (this.throwInstead) return Promise.reject(new Error('worker pool exhausted'));
    this.deployed.push(version);
    return Promise.resolve({
      swapped: this.fail === null,
      version: this.fail === null ? version : null,
      previousVersion: null,
      loadMs: 1,
      error: this.fail === null ? null : { code: 'MODEL_LOAD_FAILED', message: this.fail },
    });
  }
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`model registry on ${target.dialect}`, () => {
    let database: TestDatabase;
    let blobDir: string;
    let repository: ModelRegistryRepository;
    let events: SystemEvent[];
    let gauge: Map<string, string | null>;
    let deployer: RecordingDeployer;
    let inspector: StubInspector;
    let clock: number;

    function service(
      options: { deploymentClasses?: () => Promise<readonly string[] | null> } = {},
    ): ModelRegistryService {
      const bus = new InProcessEventBus();
      bus.subscribe((event) => events.push(event));
      return new ModelRegistryService(repository, new LocalBlobStore(blobDir), inspector, bus, {
        now: () => clock,
        gauge: { setModelAlias: (alias, version) => gauge.set(alias, version) },
        deployer,
        ...options,
      });
    }

    /** A registry row written straight to the table: constructed data, no model file. */
    async function constructed(version: string, metrics: Record<string, unknown> | null = null) {
      const sha = createHash('sha256').update(version).digest('hex');
      await repository.insertModel({
        id: `id-${version}`,
        version,
        source: 'trained',
        artifact_blob: sha,
        artifact_sha256: sha,
        artifact_bytes: 1000,
        weights_blob: null,
        layout: 'yolov8',
        class_names: JSON.stringify(CLASSES),
        imgsz: 320,
        parent_version: null,
        dataset_id: null,
        trainer_params: null,
        metrics: metrics === null ? null : JSON.stringify(metrics),
        training_log_blob: null,
        notes: null,
        created_by: 'test',
        created_at: clock++,
      });
    }

    beforeEach(async () => {
      database = await target.open();
      blobDir = mkdtempSync(join(tmpdir(), 'visionloop-registry-'));
      repository = new ModelRegistryRepository(database.db);
      events = [];
      gauge = new Map();
      deployer = new RecordingDeployer();
      inspector = new StubInspector();
      clock = T0;
    });
    afterEach(async () => {
      await database.cleanup();
      rmSync(blobDir, { recursive: true, force: true });
    });

    it('promotes, records who moved what when and why, and rolls back in one call', async () => {
      for (const version of ['v1', 'v2', 'v3']) await constructed(version);
      const registry = service();
      clock = T0;
      const first = await registry.promote('v1', 'production', { actor: 'ana', reason: 'seed' });
      expect(first).toMatchObject({ changed: true, fromVersion: null, toVersion: 'v1' });
      expect(first.serving).toMatchObject({ swapped: true, version: 'v1' });
      clock = T0 + 1000;
      await registry.promote('v2', 'production', { actor: 'bo', reason: 'better on night' });
      clock = T0 + 2000;
      await registry.promote('v3', 'staging', { actor: 'bo' });
      const same = await registry.promote('v2', 'production', { actor: 'bo' });
      expect(same).toMatchObject({ changed: false, entry: null, serving: null });

      clock = T0 + 3000;
      const back = await registry.rollback('production', { actor: 'cy', reason: 'false rejects' });
      expect(back).toMatchObject({ changed: true, fromVersion: 'v2', toVersion: 'v1' });
      expect(back.entry).toMatchObject({
        action: 'rollback',
        actor: 'cy',
        reason: 'false rejects',
      });

      const history = await registry.history('production', 10);
      expect(history.current).toBe('v1');
      expect(
        history.history.map((e) => [e.action, e.fromVersion, e.toVersion, e.actor, e.reason, e.at]),
      ).toEqual([
        ['rollback', 'v2', 'v1', 'cy', 'false rejects', T0 + 3000],
        ['promote', 'v1', 'v2', 'bo', 'better on night', T0 + 1000],
        ['promote', null, 'v1', 'ana', 'seed', T0],
      ]);
      // A second rollback goes forward again (as `kubectl rollout undo`).
      const forward = await registry.rollback('production', { actor: 'cy' });
      expect(forward).toMatchObject({ fromVersion: 'v1', toVersion: 'v2' });
      expect(forward.entry?.reason).toBe('rollback from v1');

      expect(deployer.deployed).toEqual(['v1', 'v2', 'v1', 'v2']);
      expect(gauge).toEqual(
        new Map([
          ['production', 'v2'],
          ['staging', 'v3'],
        ]),
      );
      const moves = events.filter((e) => e.type === 'model');
      expect(moves.map((e) => (e.type === 'model' ? `${e.alias}:${e.toVersion}` : ''))).toEqual([
        'production:v1',
        'production:v2',
        'staging:v3',
        'production:v1',
        'production:v2',
      ]);
      const list = await registry.list({ limit: 10, offset: 0 });
      expect(list.models.map((m) => [m.version, m.aliases])).toEqual([
        ['v3', ['staging']],
        ['v2', ['production']],
        ['v1', []],
      ]);
    });

    it('refuses a rollback with no previous version, an unknown alias and bad names', async () => {
      await constructed('v1');
      const registry = service();
      await registry.promote('v1', 'staging', { actor: 'ana' });
      await expect(registry.rollback('staging', { actor: 'ana' })).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(
          /alias 'staging' has no previous version to roll back to: it has pointed at v1 since ana set it/,
        ) as unknown,
      });
      await expect(registry.rollback('canary', { actor: 'ana' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(registry.promote('v1', 'Latest', { actor: 'ana' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(registry.promote('v1', 'v2', { actor: 'ana' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(registry.promote('nope', 'staging', { actor: 'ana' })).rejects.toMatchObject({
        code: 'MODEL_NOT_FOUND',
      });
      expect((await registry.history('staging', 10)).history).toHaveLength(1);
    });

    it('keeps the history a consistent chain when promotions race', async () => {
      const versions = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
      for (const version of versions) await constructed(version);
      const registry = service();
      await Promise.all(
        versions.map((version) => registry.promote(version, 'canary', { actor: version })),
      );
      const { current, history } = await registry.history('canary', 20);
      expect(history).toHaveLength(versions.length);
      const chain = [...history].reverse();
      expect(chain[0]?.fromVersion).toBeNull();
      chain.forEach((entry, i) => {
        if (i > 0) expect(entry.fromVersion).toBe(chain[i - 1]?.toVersion);
      });
      expect(current).toBe(chain.at(-1)?.toVersion);
      expect(new Set(chain.map((e) => e.toVersion))).toEqual(new Set(versions));
    });

    it('notices moves made by another process and deploys the new production', async () => {
      await constructed('v1');
      await constructed('v2');
      const server = service();
      const worker = service();
      await worker.promote('v1', 'production', { actor: 'bootstrap' });
      deployer.deployed = [];
      events = [];
      await server.start();
      expect(deployer.deployed).toEqual(['v1']);
      expect(events).toEqual([]);
      await worker.promote('v2', 'production', { actor: 'training', reason: 'gate passed' });
      deployer.deployed = [];
      events = [];
      expect(await server.syncAliases()).toEqual(['production']);
      expect(deployer.deployed).toEqual(['v2']);
      expect(events).toEqual([
        expect.objectContaining({
          type: 'model',
          action: 'alias-moved',
          alias: 'production',
          fromVersion: 'v1',
          toVersion: 'v2',
          actor: 'training',
          reason: 'gate passed',
        }),
      ]);
      expect(await server.syncAliases()).toEqual([]);
    });

    it('keeps an alias move when this server cannot serve the new model, and says so', async () => {
      await constructed('v1');
      await constructed('v2');
      const registry = service();
      await registry.promote('v1', 'production', { actor: 'ana' });
      deployer.fail = 'out of memory';
      const failed = await registry.promote('v2', 'production', { actor: 'ana' });
      expect(failed.serving?.error).toEqual({
        code: 'MODEL_LOAD_FAILED',
        message: 'out of memory',
      });
      deployer.throwInstead = true;
      const thrown = await registry.rollback('production', { actor: 'ana' });
      expect(thrown.serving?.error?.message).toBe('worker pool exhausted');
      expect((await registry.history('production', 5)).current).toBe('v1');
    });

    it('shows metrics side by side with production', async () => {
      await constructed('v1', { holdouts: { nominal: { map50: 0.8 }, recent: { map50: 0.4 } } });
      await constructed('v2', {
        holdouts: { nominal: { map50: 0.79 }, recent: { map50: 0.65 } },
        epochs: 20,
      });
      const registry = service();
      await registry.promote('v1', 'production', { actor: 'ana' });
      const detail = await registry.detail('v2');
      expect(detail.production?.version).toBe('v1');
      expect(
        detail.comparison.map((row) => [
          row.metric,
          row.value,
          row.production,
          row.delta === null ? null : Math.round(row.delta * 1000) / 1000,
        ]),
      ).toEqual([
        ['holdouts.nominal.map50', 0.79, 0.8, -0.01],
        ['holdouts.recent.map50', 0.65, 0.4, 0.25],
        ['epochs', 20, null, null],
      ]);
    });

    it('registers with the version stamped into the file, once, with its lineage', async () => {
      const registry = service();
      const seed = fixtureDetectorModel({ version: 'seed-v1' });
      const first = await registry.register({
        artifact: seed,
        weights: new Uint8Array([1, 2, 3]),
        source: 'seed',
        actor: 'bootstrap',
      });
      expect(first.created).toBe(true);
      // Already named seed-v1: stored byte for byte.
      expect(first.model.sha256).toBe(createHash('sha256').update(seed).digest('hex'));
      expect(first.model).toMatchObject({
        version: 'seed-v1',
        hasWeights: true,
        classNames: CLASSES,
      });

      const trained = fixtureDetectorModel({ version: 'from-trainer', classId: 1 });
      const registered = await registry.register({
        artifact: trained,
        version: 'v2',
        source: 'trained',
        parentVersion: 'seed-v1',
        datasetId: 'sha256:feed',
        trainerParams: { epochs: 20, imgsz: 320 },
        metrics: { map50: 0.7 },
        trainingLog: 'epoch 1/20 loss 3.2\n',
        actor: 'training',
      });
      expect(registered.model).toMatchObject({
        version: 'v2',
        parentVersion: 'seed-v1',
        datasetId: 'sha256:feed',
        trainerParams: { epochs: 20, imgsz: 320 },
        metrics: { map50: 0.7 },
        hasTrainingLog: true,
        hasWeights: false,
        createdBy: 'training',
      });
      const stored = await registry.readArtifact('v2');
      expect(readModelMetadata(stored).visionloop_version).toBe('v2');
      expect(registered.model.metadata.visionloop_version).toBe('v2');
      expect(await registry.readTrainingLog('v2')).toBe('epoch 1/20 loss 3.2\n');

      // The same version and artifact again (a retried job): nothing new.
      const calls = inspector.calls;
      const again = await registry.register({
        artifact: trained,
        version: 'v2',
        source: 'trained',
        actor: 'x',
      });
      expect(again.created).toBe(false);
      expect(inspector.calls).toBe(calls);
      await expect(
        registry.register({
          artifact: fixtureDetectorModel({ classId: 2 }),
          version: 'v2',
          source: 'uploaded',
          actor: 'x',
        }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      await expect(
        registry.register({
          artifact: trained,
          version: 'v3',
          parentVersion: 'v0',
          source: 'trained',
          actor: 'x',
        }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: "the parent version 'v0' is not registered",
      });
      expect((await registry.list({ limit: 10, offset: 0 })).total).toBe(2);
    });

    it("checks classes against production's, else the configured list, else the synthetic line's", async () => {
      const configured = service({ deploymentClasses: () => Promise.resolve(['bolt', 'nut']) });
      await expect(
        configured.register({
          artifact: fixtureDetectorModel({ version: 'x1' }),
          source: 'uploaded',
          actor: 'a',
        }),
      ).rejects.toMatchObject({
        code: 'MODEL_CLASSES_MISMATCH',
        message: expect.stringContaining(
          '(the configured class list): the model has 4 classes, the deployment 2',
        ) as unknown,
      });
      const registry = service();
      await expect(
        registry.register({
          artifact: fixtureDetectorModel({
            version: 'x2',
            classes: ['scratch', 'dent', 'crack', 'stain'],
          }),
          source: 'uploaded',
          actor: 'a',
        }),
      ).rejects.toMatchObject({
        code: 'MODEL_CLASSES_MISMATCH',
        message: expect.stringContaining(
          "class 1 is 'dent' in the model and 'crack' in the deployment",
        ) as unknown,
      });
      expect(inspector.calls).toBe(0);
      await constructed('v1');
      await registry.promote('v1', 'production', { actor: 'a' });
      await expect(
        configured.register({
          artifact: fixtureDetectorModel({ version: 'x3' }),
          source: 'uploaded',
          actor: 'a',
        }),
      ).resolves.toMatchObject({ created: true });
      await expect(
        registry.register({
          artifact: fixtureDetectorModel({ version: 'x4', classes: ['bolt', 'nut'] }),
          source: 'uploaded',
          actor: 'a',
        }),
      ).rejects.toMatchObject({
        code: 'MODEL_CLASSES_MISMATCH',
        message: expect.stringContaining('(those of production, v1)') as unknown,
      });
    });

    it('refuses files that are not ONNX and models without class names', async () => {
      const registry = service();
      await expect(
        registry.register({
          artifact: new TextEncoder().encode('hello'),
          source: 'uploaded',
          actor: 'a',
        }),
      ).rejects.toMatchObject({ code: 'MODEL_NOT_ONNX' });
      const withoutNames = buildConstantOutputModel({
        outputDims: [1, 8, 21],
        outputValues: new Float32Array(8 * 21),
        metadata: { visionloop_version: 'u1', imgsz: '[32, 32]' },
      });
      await expect(
        registry.register({ artifact: withoutNames, source: 'uploaded', actor: 'a' }),
      ).rejects.toMatchObject({
        code: 'MODEL_METADATA_INVALID',
        message: expect.stringContaining('the model has no class names') as unknown,
      });
      await expect(
        registry.register({
          artifact: buildConstantOutputModel({
            outputDims: [1, 8, 21],
            outputValues: new Float32Array(8 * 21),
            metadata: { names: "{0: 'scratch', 1: }" },
          }),
          source: 'uploaded',
          actor: 'a',
        }),
      ).rejects.toMatchObject({ code: 'MODEL_METADATA_INVALID' });
      expect((await registry.list({ limit: 10, offset: 0 })).total).toBe(0);
    });
  });
}
