import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelEvent } from '../shared/api/events.js';
import type { ModelInfo } from '../vision/detector.js';
import { ModelUpdater, type SwapTarget } from './model-updater.js';
import type { SwapResult } from '../inference/swappable-detector.js';
import type { ModelSource } from './uplink/model-client.js';

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const FILES = {
  v1: Buffer.from('model one'),
  v2: Buffer.from('model two'),
  v3: Buffer.from('model three'),
};
type Version = keyof typeof FILES;
const ref = (version: Version) => ({ version, sha256: sha(FILES[version]) });

function info(version: string, sha256: string, path: string): ModelInfo {
  return {
    path,
    sha256,
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

/** Swaps by reading the file and naming the model after its bytes, as a runtime would. */
class FakeTarget implements SwapTarget {
  model: ModelInfo;
  swapped: string[] = [];

  constructor(start: Version) {
    this.model = info(start, ref(start).sha256, `/seed/${start}.onnx`);
  }

  swapTo(path: string, check?: (model: ModelInfo) => void): Promise<SwapResult> {
    const bytes = readBytes(path);
    const version = (Object.keys(FILES) as Version[]).find((v) => FILES[v].equals(bytes));
    const next = info(version ?? 'unknown', sha(bytes), path);
    check?.(next);
    const previous = this.model;
    this.model = next;
    this.swapped.push(next.version);
    return Promise.resolve({ model: next, previous, loadMs: 1 });
  }
}

function readBytes(path: string): Buffer {
  return readFileSync(path);
}

class FakeSource implements ModelSource {
  downloads: string[] = [];
  /** Bytes served per version (a test can serve the wrong ones). */
  served: Record<string, Buffer> = { ...FILES };
  events: ModelEvent[] = [];

  async *modelEvents(_agentId: string, signal: AbortSignal): AsyncIterable<ModelEvent> {
    for (const event of this.events) yield await Promise.resolve(event);
    // A live stream stays open until the agent stops.
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }

  downloadArtifact(version: string, expectedSha256: string, destination: string): Promise<void> {
    this.downloads.push(version);
    const bytes = this.served[version];
    if (bytes === undefined) return Promise.reject(new Error(`404 ${version}`));
    if (sha(bytes) !== expectedSha256) return Promise.reject(new Error('SHA256_MISMATCH'));
    writeFileSync(destination, bytes);
    return Promise.resolve();
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-updater-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function updater(source: ModelSource, target: SwapTarget, now = () => 0) {
  return new ModelUpdater(
    { source, detector: target, modelsDir: dir, agentId: () => null, now },
    { retryAfterMs: 1000 },
  );
}

describe('ModelUpdater', () => {
  it('downloads an announced production model, swaps to it, and ignores repeats', async () => {
    const source = new FakeSource();
    const target = new FakeTarget('v1');
    const run = updater(source, target);
    run.offer(ref('v1'));
    await run.idle();
    expect(source.downloads).toEqual([]);
    run.offer(ref('v2'));
    run.offer(ref('v2'));
    await run.idle();
    run.offer(ref('v2'));
    await run.idle();
    expect(source.downloads).toEqual(['v2']);
    expect(target.swapped).toEqual(['v2']);
    expect(run.stats()).toMatchObject({ swaps: 1, runningVersion: 'v2', lastError: null });
    expect(existsSync(join(dir, `${ref('v2').sha256}.onnx`))).toBe(true);
  });

  it('uses a verified cached copy and keeps only the running and the previous model', async () => {
    const source = new FakeSource();
    const target = new FakeTarget('v1');
    const run = updater(source, target);
    for (const version of ['v2', 'v3', 'v2'] as const) {
      run.offer(ref(version));
      await run.idle();
    }
    // v2 was still cached (the previous model) when it came back: no second download.
    expect(source.downloads).toEqual(['v2', 'v3']);
    expect(target.swapped).toEqual(['v2', 'v3', 'v2']);
    expect(readdirSync(dir).sort()).toEqual(
      [`${ref('v2').sha256}.onnx`, `${ref('v3').sha256}.onnx`].sort(),
    );
  });

  it('refuses a download whose sha256 is not the announced one and keeps the running model', async () => {
    const source = new FakeSource();
    source.served.v2 = Buffer.from('tampered');
    const target = new FakeTarget('v1');
    let clock = 0;
    const run = updater(source, target, () => clock);
    run.offer(ref('v2'));
    await run.idle();
    expect(target.model.version).toBe('v1');
    expect(run.stats().lastError).toMatch(/SHA256_MISMATCH/);
    // Not retried before retryAfterMs, then retried.
    run.offer(ref('v2'));
    await run.idle();
    expect(source.downloads).toEqual(['v2']);
    source.served.v2 = FILES.v2;
    clock = 1001;
    run.offer(ref('v2'));
    await run.idle();
    expect(target.model.version).toBe('v2');
  });

  it('re-downloads a corrupt cached file instead of loading it', async () => {
    writeFileSync(join(dir, `${ref('v2').sha256}.onnx`), 'bit rot');
    const source = new FakeSource();
    const target = new FakeTarget('v1');
    const run = updater(source, target);
    run.offer(ref('v2'));
    await run.idle();
    expect(source.downloads).toEqual(['v2']);
    expect(target.model.sha256).toBe(ref('v2').sha256);
  });

  it('follows production events from the event stream once the agent has an id', async () => {
    const source = new FakeSource();
    const event = (alias: string, version: Version): ModelEvent => ({
      type: 'model',
      at: 1,
      action: 'alias-moved',
      alias,
      fromVersion: null,
      toVersion: version,
      sha256: ref(version).sha256,
      actor: 'admin',
      reason: null,
    });
    source.events = [event('staging', 'v3'), event('production', 'v2')];
    const target = new FakeTarget('v1');
    let agentId: string | null = null;
    const run = new ModelUpdater({
      source,
      detector: target,
      modelsDir: dir,
      agentId: () => agentId,
    });
    run.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.swapped).toEqual([]);
    agentId = 'agent-1';
    for (let i = 0; i < 100 && target.swapped.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await run.idle();
    expect(target.swapped).toEqual(['v2']);
    await run.stop();
  });
});
