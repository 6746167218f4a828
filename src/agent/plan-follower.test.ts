import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFakeUplinkServer,
  type FakeUplinkServer,
} from '../../test/helpers/fake-uplink-server.js';
import { QuarterSegmenter, WidthClassifier } from '../../test/helpers/fake-stage-models.js';
import type { SwapResult } from '../inference/swappable-detector.js';
import { DEFAULT_CHAIN, type AgentModelPlan } from '../shared/api/inspection-chain.js';
import type { Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import { InspectionChainRunner } from './inspection-chain.js';
import type { SwapTarget } from './model-updater.js';
import { PlanFollower } from './plan-follower.js';
import { ShadowRunner } from './shadow-runner.js';
import { ModelClient } from './uplink/model-client.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const FILES: Record<string, Buffer> = {
  'det-v1': Buffer.from('detector one'),
  'det-v2': Buffer.from('detector two'),
  'det-v3': Buffer.from('detector three'),
  'cls-v1': Buffer.from('classifier one'),
  'seg-v1': Buffer.from('segmenter one'),
};
const ref = (version: string) => ({ version, sha256: sha(FILES[version]!) });
const versionOf = (path: string) =>
  Object.keys(FILES).find((v) => FILES[v]!.equals(readFileSync(path))) ?? 'unknown';

function info(path: string): ModelInfo {
  const version = versionOf(path);
  return {
    path,
    sha256: sha(readFileSync(path)),
    version,
    inputName: 'images',
    outputName: 'output0',
    inputWidth: 4,
    inputHeight: 4,
    stride: 32,
    classNames: ['scratch'],
    layout: 'yolov8',
    metadata: {},
  };
}

class FakeServing implements SwapTarget {
  model: ModelInfo = {
    path: '/seed/det-v1.onnx',
    sha256: ref('det-v1').sha256,
    version: 'det-v1',
    inputName: 'images',
    outputName: 'output0',
    inputWidth: 4,
    inputHeight: 4,
    stride: 32,
    classNames: ['scratch'],
    layout: 'yolov8',
    metadata: {},
  };
  swapped: string[] = [];
  swapTo(path: string, check?: (model: ModelInfo) => void): Promise<SwapResult> {
    const next = info(path);
    check?.(next);
    const previous = this.model;
    this.model = next;
    this.swapped.push(next.version);
    return Promise.resolve({ model: next, previous, loadMs: 1 });
  }
}

/** A detector that loads by reading the file (a stand-in for the ONNX one in its worker). */
class FileDetector implements Detector {
  static disposed = 0;
  private loaded: ModelInfo | null = null;
  get model(): ModelInfo {
    if (this.loaded === null) throw new Error('no model yet');
    return this.loaded;
  }
  load(path: string): Promise<ModelInfo> {
    this.loaded = info(path);
    return Promise.resolve(this.loaded);
  }
  detect(): Promise<DetectorOutput> {
    return Promise.resolve({
      detections: [],
      timings: { preprocessMs: 0, inferenceMs: 1, postprocessMs: 0 },
    });
  }
  dispose(): Promise<void> {
    FileDetector.disposed++;
    return Promise.resolve();
  }
}

/** Stage fakes that take their version from the file they load. */
class FileClassifier extends WidthClassifier {
  override load(path: string) {
    this.info = { ...this.info, path, version: versionOf(path), sha256: sha(readFileSync(path)) };
    return Promise.resolve(this.info);
  }
}
class FileSegmenter extends QuarterSegmenter {
  override load(path: string) {
    this.info = { ...this.info, path, version: versionOf(path), sha256: sha(readFileSync(path)) };
    return Promise.resolve(this.info);
  }
}

/** Loads only after the other slots finished (and pruned the cache): a big model, a slow disk. */
class SlowFileClassifier extends FileClassifier {
  override async load(path: string) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    return super.load(path);
  }
}

const chain = {
  ...DEFAULT_CHAIN,
  stages: [
    { stage: 'classify' as const, alias: 'classify-production', padding: 0.1, minConfidence: 0.3 },
    { stage: 'segment' as const, alias: 'segment-production', padding: 0, minConfidence: 0.3 },
  ],
  rules: [{ id: 'severe', when: 'severity' as const, gte: 2 }],
};

function plan(overrides: Partial<AgentModelPlan> = {}): AgentModelPlan {
  return {
    detect: ref('det-v2'),
    classify: ref('cls-v1'),
    segment: ref('seg-v1'),
    chain,
    shadow: { model: ref('det-v3'), share: 0.25, rolloutId: 'r-1' },
    rollout: { id: 'r-1', role: 'baseline' },
    ...overrides,
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

let dir: string;
let server: FakeUplinkServer;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-plan-'));
  server = await startFakeUplinkServer();
  for (const [version, bytes] of Object.entries(FILES)) server.artifacts.set(version, bytes);
});
afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function setup(createClassifier: () => FileClassifier = () => new FileClassifier()) {
  const serving = new FakeServing();
  const runner = new InspectionChainRunner();
  const shadow = new ShadowRunner();
  const logs: string[] = [];
  const follower = new PlanFollower(
    {
      source: new ModelClient({ baseUrl: server.url, token: 't' }),
      detector: serving,
      modelsDir: join(dir, 'models'),
      agentId: () => 'agent-1',
      log: (_level, message) => logs.push(message),
      chain: runner,
      shadow,
      createClassifier,
      createSegmenter: () => new FileSegmenter(),
      createShadowDetector: () => new FileDetector(),
    },
    { reconnectBaseMs: 20, reconnectCapMs: 50 },
  );
  return { serving, runner, shadow, follower, logs };
}

describe('PlanFollower', () => {
  it('follows a plan event: detector, stage models, chain and shadow', async () => {
    server.plan = plan();
    const { serving, runner, shadow, follower } = setup();
    follower.start();
    await until(
      () => shadow.model !== null && runner.active && serving.swapped.length > 0,
      'the plan',
    );
    await follower.idle();
    expect(serving.swapped).toEqual(['det-v2']);
    expect(runner.config).toEqual(chain);
    expect(runner.stageModels.classifier?.info.version).toBe('cls-v1');
    expect(runner.stageModels.segmenter?.info.version).toBe('seg-v1');
    expect(shadow.model?.version).toBe('det-v3');
    expect(shadow.share).toBe(0.25);
    expect(server.artifactDownloads.sort()).toEqual(['cls-v1', 'det-v2', 'det-v3', 'seg-v1']);
    expect(follower.stats()).toMatchObject({
      plansReceived: 1,
      runningVersion: 'det-v2',
      rollout: { id: 'r-1', role: 'baseline' },
      shadow: { runningVersion: 'det-v3', share: 0.25 },
      eventStreamConnected: true,
    });
    await follower.stop();
  });

  it('keeps a model file that is still loading when another slot prunes the cache', async () => {
    server.plan = plan();
    const { runner, follower, logs } = setup(() => new SlowFileClassifier());
    follower.start();
    await until(() => runner.stageModels.classifier?.info.version === 'cls-v1', 'the classifier');
    await follower.idle();
    expect(logs.filter((line) => line.includes('could not switch'))).toEqual([]);
    await follower.stop();
  });

  it('changes the shadow share in place, replaces the detector on a canary plan, stops the shadow on null', async () => {
    server.plan = plan();
    const { serving, shadow, follower, runner } = setup();
    follower.start();
    await until(() => shadow.model !== null && serving.swapped.length > 0, 'the first plan');
    await follower.idle();
    const disposedBefore = FileDetector.disposed;
    server.pushPlan(plan({ shadow: { model: ref('det-v3'), share: 0.75, rolloutId: 'r-1' } }));
    await until(() => shadow.share === 0.75, 'the new share');
    // The canary side runs the candidate as its detector; the shadow ends.
    server.pushPlan(
      plan({ detect: ref('det-v3'), shadow: null, rollout: { id: 'r-1', role: 'canary' } }),
    );
    await until(() => serving.swapped.length === 2 && shadow.model === null, 'the canary plan');
    await follower.idle();
    expect(serving.swapped).toEqual(['det-v2', 'det-v3']);
    expect(shadow.selects(0)).toBe(false);
    expect(FileDetector.disposed).toBe(disposedBefore + 1);
    expect(follower.stats().rollout).toEqual({ id: 'r-1', role: 'canary' });
    // A null stage model keeps the one that runs.
    server.pushPlan(plan({ classify: null, segment: null, shadow: null }));
    await until(() => follower.stats().plansReceived === 4, 'the fourth plan');
    await follower.idle();
    expect(runner.stageModels.classifier?.info.version).toBe('cls-v1');
    await follower.stop();
  });

  it('without plans follows production events as the model updater did; a plan then takes over', async () => {
    server.production = ref('det-v2');
    const { serving, runner, follower } = setup();
    follower.start();
    await until(() => serving.swapped.length === 1, 'the production model');
    await follower.idle();
    expect(follower.stats().plansReceived).toBe(0);
    expect(runner.config).toEqual(DEFAULT_CHAIN);
    // A heartbeat with a plan: from now on production events are ignored.
    follower.offerHeartbeat({
      production: ref('det-v2'),
      plan: plan({ detect: ref('det-v1'), shadow: null }),
    });
    await follower.idle();
    server.pushModelEvent({
      type: 'model',
      at: 1,
      action: 'alias-moved',
      alias: 'production',
      fromVersion: 'det-v1',
      toVersion: 'det-v3',
      sha256: ref('det-v3').sha256,
      actor: 'admin',
      reason: null,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await follower.idle();
    expect(serving.swapped).toEqual(['det-v2', 'det-v1']);
    expect(runner.config.rules).toEqual(chain.rules);
    await follower.stop();
  });

  it('keeps the running models when a download fails and says why', async () => {
    server.artifacts.delete('cls-v1');
    server.plan = plan({ shadow: null });
    const { runner, follower, logs } = setup();
    follower.start();
    await until(() => runner.stageModels.segmenter !== null, 'the segmenter');
    await until(() => follower.stats().classify.lastError !== null, 'the classify failure');
    expect(runner.stageModels.classifier).toBeNull();
    expect(logs.some((l) => /could not switch to classify model cls-v1/.test(l))).toBe(true);
    await follower.stop();
  });
});
