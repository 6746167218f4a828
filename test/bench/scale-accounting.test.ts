import { describe, expect, it } from 'vitest';
import {
  accountDelivery,
  estimateFleet,
  fitCpuPerResult,
  offeredPerSecond,
  planCameras,
  ratio,
  saturationPoint,
  type StoredFrame,
} from '../../bench/scale-accounting.js';

/** Every frame 0 … n − 1 of `camera` stored once. */
function complete(camera: string, n: number): StoredFrame[] {
  return Array.from({ length: n }, (_, frameIndex) => ({ camera, frameIndex, copies: 1 }));
}

describe('planCameras', () => {
  it('draws 5–15 FPS per camera from the seed, whole-ms intervals, round-robin replicas', () => {
    const plan = planCameras(32, { seed: 1, replicas: 2 });
    expect(plan).toHaveLength(32);
    for (const camera of plan) {
      expect(Number.isInteger(camera.intervalMs)).toBe(true);
      expect(camera.intervalMs).toBeGreaterThanOrEqual(67);
      expect(camera.intervalMs).toBeLessThanOrEqual(200);
      expect(camera.fps).toBeCloseTo(1000 / camera.intervalMs, 10);
    }
    expect(plan.map((c) => c.home)).toEqual(Array.from({ length: 32 }, (_, i) => i % 2));
    expect(new Set(plan.map((c) => c.camera)).size).toBe(32);
    // Same seed, same load, whatever the number of replicas: the baseline offers what the
    // replicas run gets.
    const single = planCameras(32, { seed: 1, replicas: 1 });
    expect(single.map((c) => c.intervalMs)).toEqual(plan.map((c) => c.intervalMs));
    expect(single.every((c) => c.home === 0)).toBe(true);
    expect(planCameras(32, { seed: 2, replicas: 2 }).map((c) => c.intervalMs)).not.toEqual(
      plan.map((c) => c.intervalMs),
    );
    // Uniform in 5..15: the mean rate of 32 cameras is near 10.
    expect(offeredPerSecond(plan) / 32).toBeGreaterThan(8.5);
    expect(offeredPerSecond(plan) / 32).toBeLessThan(11.5);
  });

  it('refuses a plan without cameras or with an empty rate range', () => {
    expect(() => planCameras(0, { seed: 1, replicas: 2 })).toThrow(/cameras/);
    expect(() => planCameras(4, { seed: 1, replicas: 2, minFps: 10, maxFps: 5 })).toThrow(/minFps/);
  });
});

describe('accountDelivery', () => {
  const sent = [
    { camera: 'cam-0001', generated: 100 },
    { camera: 'cam-0002', generated: 50 },
  ];

  it('counts nothing lost or duplicated when every frame is stored once', () => {
    const account = accountDelivery(sent, [
      ...complete('cam-0001', 100),
      ...complete('cam-0002', 50),
    ]);
    expect(account).toEqual({
      sent: 150,
      stored: 150,
      lost: 0,
      duplicated: 0,
      unexpected: 0,
      camerasWithLoss: [],
    });
  });

  it('counts missing frames as lost and extra copies as duplicated, per camera', () => {
    const stored = [
      ...complete('cam-0001', 100).filter((f) => f.frameIndex !== 7 && f.frameIndex !== 99),
      ...complete('cam-0002', 50).map((f) => (f.frameIndex === 3 ? { ...f, copies: 3 } : f)),
    ];
    const account = accountDelivery(sent, stored);
    expect(account.lost).toBe(2);
    expect(account.duplicated).toBe(2);
    expect(account.stored).toBe(98 + 52);
    expect(account.camerasWithLoss).toEqual(['cam-0001']);
  });

  it('counts a camera with no rows as all lost, and rows nobody sent as unexpected', () => {
    const account = accountDelivery(sent, [
      ...complete('cam-0001', 100),
      { camera: 'cam-0001', frameIndex: 100, copies: 1 },
      { camera: 'cam-9999', frameIndex: 0, copies: 2 },
    ]);
    expect(account.lost).toBe(50);
    expect(account.unexpected).toBe(3);
    expect(account.duplicated).toBe(0);
    expect(account.camerasWithLoss).toEqual(['cam-0002']);
  });
});

describe('saturationPoint', () => {
  it('is the first step where ingest falls under 0.9 × offered', () => {
    const result = saturationPoint([
      { cameras: 32, offeredPerSecond: 320, ingestedPerSecond: 250, ackP99Ms: 300 },
      { cameras: 8, offeredPerSecond: 80, ingestedPerSecond: 80, ackP99Ms: 40 },
      { cameras: 16, offeredPerSecond: 160, ingestedPerSecond: 158, ackP99Ms: 60 },
    ]);
    expect(result.cameras).toBe(32);
    expect(result.reason).toMatch(/ratio 0\.781 < 0\.9/);
  });

  it('is the first step whose ack p99 exceeds the batch interval', () => {
    const result = saturationPoint([
      { cameras: 8, offeredPerSecond: 80, ingestedPerSecond: 80, ackP99Ms: 40 },
      { cameras: 16, offeredPerSecond: 160, ingestedPerSecond: 160, ackP99Ms: 1250 },
    ]);
    expect(result).toEqual({
      cameras: 16,
      reason: "ack p99 1250 ms > 1000 ms (the agents' batch interval)",
    });
  });

  it('is null when every step tracked the load', () => {
    const result = saturationPoint([
      { cameras: 8, offeredPerSecond: 80, ingestedPerSecond: 79, ackP99Ms: 40 },
      { cameras: 32, offeredPerSecond: 320, ingestedPerSecond: 300, ackP99Ms: 900 },
    ]);
    expect(result.cameras).toBeNull();
    expect(result.reason).toMatch(/^not reached up to 32 cameras/);
  });
});

describe('ratio and estimateFleet', () => {
  it('divides by a positive baseline only', () => {
    expect(ratio(150, 100)).toBe(1.5);
    expect(ratio(150, 0)).toBeNull();
    expect(ratio(null, 100)).toBeNull();
  });

  it('scales rows, bytes, requests and cores linearly from the per-result costs', () => {
    const estimate = estimateFleet({
      cameras: 1000,
      fps: 10,
      bytesPerRow: 1500,
      jpegBytes: 40_000,
      uncertainShare: 0.06,
      sampledPerCameraPerDay: 1000,
      serverCpuSecondsPer1000: 0.2,
      postgresCpuSecondsPer1000: 0.1,
    });
    expect(estimate.resultsPerSecond).toBe(10_000);
    expect(estimate.rowsPerDay).toBe(864_000_000);
    expect(estimate.rowBytesPerDay).toBe(1_296_000_000_000);
    expect(estimate.ingestRequestsPerSecond).toBe(1000);
    expect(estimate.heartbeatsPerSecond).toBe(200);
    expect(estimate.jpegBytesPerDayUncertain).toBeCloseTo(864_000_000 * 0.06 * 40_000, 0);
    expect(estimate.jpegBytesPerDaySampledOnly).toBe(40_000_000_000);
    // 10,000 results/s × 0.2 s per 1000 = 2 cores; at half use on 2-core replicas: 2 replicas.
    expect(estimate.serverCores).toBe(2);
    expect(estimate.replicas).toBe(2);
    expect(estimate.postgresCores).toBe(1);
    expect(
      estimateFleet({
        cameras: 1000,
        fps: 10,
        bytesPerRow: 1500,
        jpegBytes: 40_000,
        uncertainShare: 0.06,
        sampledPerCameraPerDay: 1000,
        serverCpuSecondsPer1000: 0.9,
        postgresCpuSecondsPer1000: null,
      }),
    ).toMatchObject({ serverCores: 9, replicas: 9, postgresCores: null });
  });
});

describe('fitCpuPerResult', () => {
  it('separates the per-result cost from the idle cost across loads', () => {
    // 0.05 idle cores + 0.4 CPU seconds per 1000 results.
    const points = [53, 107, 212].map((r) => ({ resultsPerSecond: r, cores: 0.05 + r * 0.0004 }));
    expect(fitCpuPerResult(points)).toEqual({
      secondsPer1000: 0.4,
      idleCores: 0.05,
      method: 'least-squares',
    });
  });

  it('falls back to the average cost from one load or a fit with a negative intercept', () => {
    expect(fitCpuPerResult([{ resultsPerSecond: 100, cores: 0.1 }])).toEqual({
      secondsPer1000: 1,
      idleCores: 0,
      method: 'through-origin',
    });
    const noisy = fitCpuPerResult([
      { resultsPerSecond: 100, cores: 0.01 },
      { resultsPerSecond: 200, cores: 0.3 },
    ]);
    expect(noisy).toEqual({ secondsPer1000: 1.0333, idleCores: 0, method: 'through-origin' });
    expect(fitCpuPerResult([])).toBeNull();
  });
});
