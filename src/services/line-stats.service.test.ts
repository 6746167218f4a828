import { describe, expect, it } from 'vitest';
import type {
  CameraFrameCounts,
  PredictionMetricsRow,
  PredictionWindow,
} from '../repositories/prediction-metrics.repository.js';
import {
  LineStatsService,
  confidenceBin,
  coveredSeconds,
  latencyPercentiles,
  nearestRank,
} from './line-stats.service.js';

const NOW = 1_700_000_000_000;

function row(
  camera: string,
  capturedAt: number,
  inferenceMs: number,
  totalMs: number,
  detections: { className: string; confidence: number }[] | null,
): PredictionMetricsRow {
  return {
    camera,
    capturedAt,
    inferred: detections !== null,
    inferenceMs,
    totalMs,
    detections:
      detections === null
        ? null
        : JSON.stringify(
            detections.map((d) => ({ ...d, classId: 0, box: { x1: 0, y1: 0, x2: 1, y2: 1 } })),
          ),
  };
}

class FakeRepository {
  windows: PredictionWindow[] = [];
  limits: number[] = [];
  constructor(
    private readonly rows: PredictionMetricsRow[],
    private readonly counts: CameraFrameCounts[],
  ) {}

  newest(window: PredictionWindow, limit: number): Promise<PredictionMetricsRow[]> {
    this.windows.push(window);
    this.limits.push(limit);
    const sorted = [...this.rows].sort((a, b) => b.capturedAt - a.capturedAt);
    return Promise.resolve(sorted.slice(0, limit));
  }

  countByCamera(window: PredictionWindow): Promise<CameraFrameCounts[]> {
    this.windows.push(window);
    return Promise.resolve(this.counts);
  }
}

describe('nearestRank', () => {
  it('picks the smallest value with at least p% at or below it', () => {
    const values = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(nearestRank(values, 50)).toBe(100);
    expect(nearestRank(values, 95)).toBe(190);
    expect(nearestRank(values, 99)).toBe(198);
    expect(nearestRank([7], 99)).toBe(7);
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2);
    expect(nearestRank([1, 2, 3, 4], 51)).toBe(3);
    expect(nearestRank([], 50)).toBeNaN();
  });

  it('sorts before ranking and returns null for no values', () => {
    expect(latencyPercentiles([30, 10, 20])).toEqual({ p50: 20, p95: 30, p99: 30 });
    expect(latencyPercentiles([])).toBeNull();
  });
});

describe('confidenceBin', () => {
  it('puts each edge in the bin it starts and 1.0 in the last bin', () => {
    expect(confidenceBin(0)).toBe(0);
    expect(confidenceBin(0.0499)).toBe(0);
    expect(confidenceBin(0.05)).toBe(1);
    expect(confidenceBin(0.15)).toBe(3);
    expect(confidenceBin(0.45)).toBe(9);
    expect(confidenceBin(0.55)).toBe(11);
    expect(confidenceBin(0.7)).toBe(14);
    expect(confidenceBin(0.9999)).toBe(19);
    expect(confidenceBin(1)).toBe(19);
  });
});

describe('LineStatsService', () => {
  // Camera a: 200 inferred frames with inference 1..200 ms (newest has 200 ms... stored in a
  // scrambled order) and total = 2 × inference. Camera b: 2 inferred + 2 carried-forward frames.
  const rowsA = Array.from({ length: 200 }, (_, i) => {
    const inference = ((i * 37) % 200) + 1; // a permutation of 1..200
    return row('a', NOW - 1000 - i * 10, inference, inference * 2, []);
  });
  const rowsB = [
    row('b', NOW - 500, 7, 40, [
      { className: 'scratch', confidence: 0.15 },
      { className: 'crack', confidence: 0.55 },
      { className: 'scratch', confidence: 1 },
    ]),
    row('b', NOW - 600, 3, 20, [{ className: 'dent', confidence: 0.05 }]),
    row('b', NOW - 700, 0, 1, null),
    row('b', NOW - 800, 0, 2, null),
  ];
  const counts: CameraFrameCounts[] = [
    { camera: 'b', frames: 4, failed: 1, uncertain: 2, inferred: 2, firstCapturedAt: NOW - 800 },
    {
      camera: 'a',
      frames: 200,
      failed: 50,
      uncertain: 0,
      inferred: 200,
      firstCapturedAt: NOW - 2990,
    },
  ];

  it('computes rates, percentiles, histogram and class counts per camera and overall', async () => {
    const repo = new FakeRepository([...rowsA, ...rowsB], counts);
    const service = new LineStatsService(repo, { now: () => NOW });
    const metrics = await service.summary({ window: 60 });

    expect(metrics.window).toEqual({ seconds: 60, from: NOW - 60_000, to: NOW });
    expect(repo.windows).toEqual([
      { from: NOW - 60_000, camera: undefined },
      { from: NOW - 60_000, camera: undefined },
    ]);
    expect(metrics.sample).toEqual({
      rows: 204,
      limit: 20_000,
      complete: true,
      oldestCapturedAt: NOW - 1000 - 199 * 10,
    });
    expect(metrics.cameras.map((c) => c.camera)).toEqual(['a', 'b']);

    const [a, b] = metrics.cameras;
    expect(a).toMatchObject({
      camera: 'a',
      frames: 200,
      inferredFrames: 200,
      defectRate: 0.25,
      uncertainRate: 0,
      sampledFrames: 200,
      latencyMs: {
        inference: { p50: 100, p95: 190, p99: 198 },
        total: { p50: 200, p95: 380, p99: 396 },
      },
      classCounts: {},
    });
    // a's frames cover the last 2.99 s of the 60 s window: the rate divides by that.
    expect(a?.coveredSeconds).toBeCloseTo(2.99, 12);
    expect(a?.fps).toBeCloseTo(200 / 2.99, 12);
    expect(a?.confidenceHistogram.counts).toEqual(new Array(20).fill(0));

    // b: inference over the 2 inferred frames [3, 7]; total over all 4 [1, 2, 20, 40].
    expect(b).toMatchObject({
      frames: 4,
      inferredFrames: 2,
      defectRate: 0.25,
      uncertainRate: 0.5,
      latencyMs: {
        inference: { p50: 3, p95: 7, p99: 7 },
        total: { p50: 2, p95: 40, p99: 40 },
      },
      classCounts: { crack: 1, dent: 1, scratch: 2 },
    });
    // b's first frame is 0.8 s old: the rate divides by the 1 s floor.
    expect(b?.coveredSeconds).toBe(1);
    expect(b?.inferredFps).toBeCloseTo(2 / 1, 12);
    const expectedB = new Array<number>(20).fill(0);
    expectedB[1] = 1; // 0.05
    expectedB[3] = 1; // 0.15
    expectedB[11] = 1; // 0.55
    expectedB[19] = 1; // 1.0
    expect(b?.confidenceHistogram.counts).toEqual(expectedB);
    expect(b?.confidenceHistogram.edges).toHaveLength(21);
    expect(b?.confidenceHistogram.edges[3]).toBe(0.15);
    // The band 0.4–0.7 is marked; one detection (0.55) lies inside it.
    expect(b?.confidenceHistogram.uncertainBand).toEqual({ low: 0.4, high: 0.7 });
    expect(b?.confidenceHistogram.inBand).toBe(1);
    expect(a?.confidenceHistogram.inBand).toBe(0);

    // Overall: 204 frames, 51 FAIL, 2 uncertain; inference over 202 values {1..200, 3, 7}.
    expect(metrics.overall.frames).toBe(204);
    expect(metrics.overall.defectRate).toBeCloseTo(51 / 204, 12);
    expect(metrics.overall.uncertainRate).toBeCloseTo(2 / 204, 12);
    expect(metrics.overall.coveredSeconds).toBeCloseTo(2.99, 12);
    expect(metrics.overall.fps).toBeCloseTo(204 / 2.99, 12);
    // sorted: 1,2,3,3,4,5,6,7,7,8,…; rank ceil(0.5·202)=101 → value 99.
    expect(metrics.overall.latencyMs.inference).toEqual({ p50: 99, p95: 190, p99: 198 });
    expect(metrics.overall.confidenceHistogram.counts).toEqual(expectedB);
    expect(metrics.overall.classCounts).toEqual({ crack: 1, dent: 1, scratch: 2 });
  });

  it('measures a line that started 18 s ago at its real rate, not over the 60 s window', async () => {
    // The case: a camera at 14.7 FPS for 18 s, read over the whole 60 s window.
    const frames = 265;
    const rows = Array.from({ length: frames }, (_, i) =>
      row('cam', NOW - 18_000 + Math.round((i * 1000) / 14.7), 10, 20, []),
    );
    const service = new LineStatsService(
      new FakeRepository(rows, [
        {
          camera: 'cam',
          frames,
          failed: 0,
          uncertain: 0,
          inferred: frames,
          firstCapturedAt: NOW - 18_000,
        },
      ]),
      { now: () => NOW },
    );
    const metrics = await service.summary({ window: 60 });
    expect(metrics.overall.coveredSeconds).toBe(18);
    expect(metrics.overall.fps).toBeCloseTo(14.72, 2);
    expect(metrics.cameras[0]?.fps).toBeCloseTo(14.72, 2);
    // A full window divides by the window: the first frame older than the window start is not
    // in it, so the span stops at 60 s.
    expect(
      (
        await new LineStatsService(
          new FakeRepository(rows, [
            {
              camera: 'cam',
              frames: 900,
              failed: 0,
              uncertain: 0,
              inferred: 900,
              firstCapturedAt: NOW - 60_000,
            },
          ]),
          { now: () => NOW },
        ).summary({ window: 60 })
      ).overall.fps,
    ).toBe(15);
  });

  it('never divides by less than 1 s nor by more than the window, whatever the clocks say', () => {
    expect(coveredSeconds(null, NOW, 60)).toBe(60);
    expect(coveredSeconds(NOW - 18_000, NOW, 60)).toBe(18);
    expect(coveredSeconds(NOW - 100, NOW, 60)).toBe(1);
    // An agent whose clock runs ahead of the server's.
    expect(coveredSeconds(NOW + 5000, NOW, 60)).toBe(1);
    expect(coveredSeconds(NOW - 90_000, NOW, 60)).toBe(60);
  });

  it('reads at most the sample limit, newest first, and says the sample is partial', async () => {
    const repo = new FakeRepository([...rowsA, ...rowsB], counts);
    const service = new LineStatsService(repo, { now: () => NOW, sampleLimit: 3 });
    const metrics = await service.summary({ camera: 'b' });

    expect(repo.limits).toEqual([3]);
    expect(repo.windows[0]).toEqual({ from: NOW - 300_000, camera: 'b' });
    expect(metrics.camera).toBe('b');
    expect(metrics.sample).toEqual({
      rows: 3,
      limit: 3,
      complete: false,
      oldestCapturedAt: NOW - 700,
    });
    // Counts stay exact; distributions come from the 3 newest rows (b's 3 newest).
    expect(metrics.overall.frames).toBe(204);
    expect(metrics.overall.sampledFrames).toBe(3);
    expect(metrics.overall.latencyMs.total).toEqual({ p50: 20, p95: 40, p99: 40 });
  });

  it('answers an empty window with zeros and nulls', async () => {
    const service = new LineStatsService(new FakeRepository([], []), { now: () => NOW });
    const metrics = await service.summary();
    expect(metrics.window.seconds).toBe(300);
    expect(metrics.cameras).toEqual([]);
    expect(metrics.sample).toEqual({
      rows: 0,
      limit: 20_000,
      complete: true,
      oldestCapturedAt: null,
    });
    expect(metrics.overall).toMatchObject({
      frames: 0,
      fps: 0,
      defectRate: null,
      uncertainRate: null,
      latencyMs: { inference: null, total: null },
      classCounts: {},
    });
  });

  it('skips detections it cannot parse instead of failing the dashboard', async () => {
    const broken: PredictionMetricsRow = { ...row('c', NOW - 1, 5, 9, []), detections: '{nope' };
    const service = new LineStatsService(
      new FakeRepository(
        [broken],
        [
          {
            camera: 'c',
            frames: 1,
            failed: 0,
            uncertain: 0,
            inferred: 1,
            firstCapturedAt: NOW - 1,
          },
        ],
      ),
      { now: () => NOW },
    );
    const metrics = await service.summary();
    expect(metrics.overall.latencyMs.inference).toEqual({ p50: 5, p95: 5, p99: 5 });
    expect(metrics.overall.confidenceHistogram.counts.reduce((s, n) => s + n, 0)).toBe(0);
  });
});
