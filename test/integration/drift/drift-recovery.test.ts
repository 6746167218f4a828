/**
 * Drift after a hot swap (docs/drift.md, "After a swap"), on real SQLite through the server:
 * the seed runs on `nominal` (green), night falls (red: the seed sees nothing and the image
 * features move), then production moves to a version trained on night and the agent swaps.
 * The next check must not stay red (it compares the new version with its own post-swap
 * baseline, collecting until full), and once the line runs on night with the recovered model
 * the camera reads green — night compared with night by the version that was trained on it.
 *
 * Frames are SynthCamera frames measured by computeFeatures (320×240, one per 10 s bucket);
 * detections come from the ground truth (the seed finds nothing at night), no model runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import type { DriftCameraStatus, DriftCheckResponse } from '../../../src/shared/api/drift.js';
import type { FrameFeatures, FrameResult } from '../../../src/shared/domain.js';
import { SynthCamera, parseScenario } from '../../../src/synth/index.js';
import { computeFeatures } from '../../../src/vision/features.js';
import { databaseTargets } from '../../helpers/database.js';
import { openTestServer, type TestServer } from '../server/fixtures.js';

const T0 = 1_767_225_600_000;
const BUCKET_MS = 10_000;
const FPS = 15;
const CAMERA = 'line-swap';
const N = 20;

interface Measured {
  features: FrameFeatures;
  objects: { className: string; box: { x1: number; y1: number; x2: number; y2: number } }[];
}

function measure(preset: string, samples: number, firstSample: number): Measured[] {
  const camera = new SynthCamera({
    scenario: parseScenario(preset),
    seed: 31,
    fps: FPS,
    width: 320,
    height: 240,
  });
  return Array.from({ length: samples }, (_, i) => {
    const frame = camera.frame((firstSample + i) * (BUCKET_MS / 1000) * FPS);
    return { features: computeFeatures(frame.image), objects: frame.objects };
  });
}

/** One result per bucket by `modelVersion`; `blind` models find nothing (the seed at night). */
function results(
  measured: readonly Measured[],
  firstBucket: number,
  modelVersion: string,
  blind = false,
): FrameResult[] {
  return measured.map((m, i) => {
    const bucket = firstBucket + i;
    const detections = blind
      ? []
      : m.objects.map((object, k) => ({
          classId: 0,
          className: object.className,
          confidence: 0.75 + ((bucket * 7 + k * 3) % 20) / 100,
          box: object.box,
        }));
    return {
      id: `${CAMERA}-${modelVersion}-${bucket}`,
      camera: CAMERA,
      frameIndex: bucket * 150,
      capturedAt: T0 + bucket * BUCKET_MS,
      width: 320,
      height: 240,
      detections,
      uncertain: false,
      decision: detections.length > 0 ? ('FAIL' as const) : ('PASS' as const),
      features: m.features,
      latencies: { queueMs: 1, preprocessMs: 1, inferenceMs: 5, postprocessMs: 1, totalMs: 8 },
      modelVersion,
      inferred: true,
    };
  });
}

const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');

describe.skipIf(sqlite === undefined || !sqlite.available)('drift after a hot swap', () => {
  let server: TestServer;
  let worker: JobWorker;
  let clock = T0;
  let nominal: Measured[];
  let night: Measured[];
  const levels: string[] = [];

  beforeAll(async () => {
    nominal = measure('nominal', 2 * N, 0);
    night = measure('night', 3 * N, 2 * N);
    server = await openTestServer(sqlite!, { now: () => clock });
    server.services.events.subscribe((event: SystemEvent) => {
      if (event.type === 'drift') levels.push(event.level);
    });
    worker = new JobWorker(server.services.jobs, {
      handlers: createJobHandlers(server.services),
      pollMinMs: 5,
      pollMaxMs: 50,
      sweepEveryMs: 0,
      unref: true,
    });
    worker.start();
    const response = await server.app.inject({
      method: 'PUT',
      url: '/api/settings/drift',
      headers: server.auth('admin'),
      payload: { baselineSamples: N, windowSamples: N, minSamples: N },
    });
    expect(response.statusCode, response.body).toBe(200);
  });
  afterAll(async () => {
    await worker?.stop({ graceMs: 1000 });
    await server?.close();
  });

  async function ingest(frames: FrameResult[]): Promise<void> {
    const response = await server.app.inject({
      method: 'POST',
      url: '/api/ingest',
      headers: server.auth('agent'),
      payload: { results: frames },
    });
    expect(response.statusCode, response.body).toBe(200);
    clock = Math.max(clock, ...frames.map((f) => f.capturedAt + 1_000));
  }

  async function check(): Promise<DriftCameraStatus> {
    const response = await server.app.inject({
      method: 'POST',
      url: `/api/metrics/drift/check?camera=${CAMERA}&wait=true&timeoutSeconds=30`,
      headers: server.auth('admin'),
    });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json<DriftCheckResponse>().cameras[0];
    expect(report).toBeDefined();
    return report!;
  }

  it('goes green → red on night → collecting after the swap → green on night', async () => {
    // The seed on nominal: its baseline, then a green window.
    await ingest(results(nominal.slice(0, N), 0, 'seed-1'));
    await ingest(results(nominal.slice(N), N, 'seed-1'));
    expect(await check()).toMatchObject({ level: 'green', modelVersion: 'seed-1' });

    // Night falls: the seed sees nothing and the image features move.
    await ingest(results(night.slice(0, N), 2 * N, 'seed-1', true));
    const drifted = await check();
    expect(drifted).toMatchObject({ level: 'red', modelVersion: 'seed-1', status: 'drift' });

    // Production moves to a version trained on night; the agent swaps. The next check is not
    // red: the new version is compared with its own post-swap traffic, collected first.
    await ingest(results(night.slice(N, N + 5), 3 * N, 'retrain-1'));
    const swapped = await check();
    expect(swapped.level).not.toBe('red');
    expect(swapped).toMatchObject({
      status: 'no_reference',
      level: 'unknown',
      modelVersion: 'retrain-1',
      baseline: { state: 'collecting', samples: 5, needed: N },
    });
    expect(swapped.reason).toContain('collecting the baseline of model retrain-1 (5 of 20');
    expect(swapped.reason).toContain('after the swap from seed-1');

    // The line keeps running on night with the recovered model: green.
    await ingest(results(night.slice(N + 5, 2 * N), 3 * N + 5, 'retrain-1'));
    await ingest(results(night.slice(2 * N), 4 * N, 'retrain-1'));
    const recovered = await check();
    expect(recovered).toMatchObject({
      status: 'ok',
      level: 'green',
      drifted: false,
      modelVersion: 'retrain-1',
      reference: { kind: 'baseline', modelVersion: 'retrain-1', samples: N },
      baseline: { state: 'ready' },
    });
    expect(recovered.driftShare).toBeLessThanOrEqual(0.3);
    // The level events a dashboard and the agents' drift-boost sampling follow.
    expect(levels.slice(-3)).toEqual(['red', 'unknown', 'green']);
  });
});
