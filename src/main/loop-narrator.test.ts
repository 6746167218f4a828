import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InProcessEventBus } from '../services/event-bus.js';
import type { AgentRun } from './agent.main.js';
import { LoopNarrator, type LoopNarratorOptions } from './loop-narrator.js';

/** A camera whose stats the test sets: frames captured (the line's clock), the model, rates. */
function fakeCamera() {
  const state = { capturedFrames: 0, modelVersion: 'seed-v1', defectRate: 0.6, frames: 100 };
  const agent = {
    model: { version: 'seed-v1' },
    stats: () => ({
      pipeline: { capturedFrames: state.capturedFrames, modelVersion: state.modelVersion },
      recent: { defectRate: state.defectRate, frames: state.frames, coveredS: 60, windowS: 60 },
    }),
  } as unknown as AgentRun;
  return { state, agent };
}

type Event = {
  id: string;
  jobId: string | null;
  kind: string;
  at: number;
  reason: string | null;
  trigger: string | null;
  modelVersion: string | null;
  details: Record<string, unknown>;
};

describe('LoopNarrator', () => {
  let now: number;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
  });
  afterEach(() => vi.useRealTimers());

  it('tells each step of the loop once, with the time since start', async () => {
    const events = new InProcessEventBus();
    const camera = fakeCamera();
    const history: Event[] = [];
    let pending = 0;
    let status: Record<string, unknown> = { state: 'idle', job: null, stage: null, epoch: null };
    const lines: string[] = [];
    const services = {
      events,
      labeling: {
        stats: () =>
          Promise.resolve({
            counts: { pending, claimed: 0, total: pending + 3 },
            reviewedLabels: 3,
          }),
      },
      retraining: {
        history: () => Promise.resolve({ events: [...history].reverse() }),
        status: () => Promise.resolve(status),
      },
    } as unknown as LoopNarratorOptions['services'];
    const narrator = new LoopNarrator({
      services,
      cameras: [
        { camera: 'synth-line-1', agent: camera.agent, scenario: 'nominal:60,night', fps: 10 },
      ],
      simulatedLabels: () => 1,
      write: (line) => lines.push(line),
      pollMs: 1_000,
      progressEveryMs: 0,
      now: () => now,
    });
    narrator.start();
    const tick = async (seconds: number) => {
      now += seconds * 1000;
      await vi.advanceTimersByTimeAsync(seconds * 1000);
    };

    await tick(1);
    expect(lines).toEqual([]);

    // Night falls after 60 s of the camera's clock (frames / fps), past its transition.
    camera.state.capturedFrames = 1200;
    camera.state.defectRate = 0.02;
    await tick(1);
    expect(lines).toEqual([
      '[00:02] night fell on synth-line-1 (nominal → night, scenario nominal:60,night)',
      '[00:02] defect rate on synth-line-1 fell to 2.0% in the last 60 s (normal 60%): the model no longer sees the defects',
    ]);
    lines.length = 0;

    events.publish({
      type: 'drift',
      at: now,
      camera: 'synth-line-1',
      level: 'red',
      previousLevel: 'green',
      status: 'drift',
      driftShare: 0.8,
      driftedFeatures: ['brightness', 'contrast'],
      reportId: 'r1',
      reason: 'drift',
    });
    // The same level again is no news.
    events.publish({
      type: 'drift',
      at: now,
      camera: 'synth-line-1',
      level: 'red',
      previousLevel: 'red',
      status: 'drift',
      driftShare: 0.9,
      driftedFeatures: ['brightness'],
      reportId: 'r2',
      reason: 'drift',
    });
    pending = 12;
    events.publish({ type: 'labeling', at: now, action: 'approved' } as never);
    await tick(1);
    expect(lines).toEqual([
      '[00:02] drift RED on synth-line-1 (drift share 0.80): brightness, contrast changed — the sampler now queues the newest-looking frames for labeling',
      '[00:03] queue filling: 12 frames waiting for a label (15 queued in all)',
      '[00:03] labels arriving: 1 reviewed this run (1 by the simulated reviewer), 3 ready for training in all',
    ]);
    lines.length = 0;

    history.push({
      id: 'e1',
      jobId: 'job1',
      kind: 'started',
      at: now,
      reason: 'drift with 100 new labels',
      trigger: 'drift',
      modelVersion: null,
      details: {},
    });
    status = {
      state: 'running',
      job: { id: 'job1' },
      stage: 'training',
      epoch: 3,
      epochs: 12,
      loss: 1.5,
      valMap50: 0.41,
      etaSeconds: 90,
    };
    await tick(1);
    expect(lines).toEqual([
      '[00:04] retraining started (trigger: drift — drift with 100 new labels)',
      '[00:04] training: epoch 3/12, loss 1.500, val mAP@0.5 0.410, about 90 s left',
    ]);
    lines.length = 0;

    history.push(
      {
        id: 'e2',
        jobId: 'job1',
        kind: 'registered',
        at: now,
        reason: null,
        trigger: 'drift',
        modelVersion: 'v2',
        details: {
          trainingSeconds: 200,
          metrics: {
            holdouts: { recent: { map50: 0.86 }, nominal: { map50: 0.92 } },
            baseline: { holdouts: { recent: { map50: 0 }, nominal: { map50: 0.939 } } },
          },
        },
      },
      {
        id: 'e3s',
        jobId: 'job1',
        kind: 'promoted',
        at: now,
        reason: 'better on the new frames',
        trigger: 'drift',
        modelVersion: 'v2',
        details: { alias: 'staging' },
      },
      {
        id: 'e3',
        jobId: 'job1',
        kind: 'promoted',
        at: now,
        reason: 'better on the new frames',
        trigger: 'drift',
        modelVersion: 'v2',
        details: { alias: 'production' },
      },
    );
    status = { state: 'completed', job: { id: 'job1' }, stage: null, epoch: null };
    events.publish({
      type: 'model',
      at: now,
      action: 'alias-moved',
      alias: 'production',
      fromVersion: 'seed-v1',
      toVersion: 'v2',
      sha256: null,
      actor: 'retraining',
      reason: null,
    });
    await tick(1);
    camera.state.modelVersion = 'v2';
    camera.state.defectRate = 0.55;
    await tick(1);
    expect(lines).toEqual([
      '[00:04] production moved: seed-v1 → v2 (by retraining) — agents download it and hot-swap',
      '[00:05] version v2 registered after 200 s of training: mAP@0.5 on the new frames 0.860 (production 0.000), on nominal 0.920 (production 0.939)',
      '[00:05] gate passed: v2 — better on the new frames',
      '[00:06] synth-line-1 hot-swapped its model: seed-v1 → v2',
    ]);
    // Recovery is judged once the camera runs the new version: back near the nominal level.
    lines.length = 0;
    await tick(1);
    expect(lines).toEqual([
      '[00:07] defect rate on synth-line-1 recovered: 55% in the last 60 s (normal 60%) with model v2',
    ]);

    // Nothing is said twice.
    lines.length = 0;
    await tick(5);
    expect(lines).toEqual([]);
    narrator.stop();
  });

  it('takes the mean of the nominal windows as the normal level, not the highest one', async () => {
    const events = new InProcessEventBus();
    const camera = fakeCamera();
    const lines: string[] = [];
    const services = {
      events,
      labeling: {
        stats: () =>
          Promise.resolve({ counts: { pending: 0, claimed: 0, total: 0 }, reviewedLabels: 0 }),
      },
      retraining: {
        history: () => Promise.resolve({ events: [] }),
        status: () => Promise.resolve({ state: 'idle', job: null, stage: null, epoch: null }),
      },
    } as unknown as LoopNarratorOptions['services'];
    const narrator = new LoopNarrator({
      services,
      cameras: [
        { camera: 'synth-line-1', agent: camera.agent, scenario: 'nominal:60,night', fps: 10 },
      ],
      write: (line) => lines.push(line),
      pollMs: 1_000,
      progressEveryMs: 0,
      now: () => now,
    });
    narrator.start();
    const tick = async (seconds: number) => {
      now += seconds * 1000;
      await vi.advanceTimersByTimeAsync(seconds * 1000);
    };
    // Nominal windows of 100% and 80%: normal 90% (the highest would say 100%).
    camera.state.defectRate = 1;
    await tick(1);
    camera.state.defectRate = 0.8;
    await tick(1);
    camera.state.capturedFrames = 1200;
    camera.state.defectRate = 0;
    await tick(1);
    expect(lines.at(-1)).toBe(
      '[00:03] defect rate on synth-line-1 fell to 0.0% in the last 60 s (normal 90%): the model no longer sees the defects',
    );
    camera.state.modelVersion = 'v2';
    camera.state.defectRate = 0.7;
    await tick(1);
    // 70% < 80% of normal: not yet.
    expect(lines.some((line) => line.includes('recovered'))).toBe(false);
    camera.state.defectRate = 0.75;
    await tick(1);
    expect(lines.at(-1)).toBe(
      '[00:05] defect rate on synth-line-1 recovered: 75% in the last 60 s (normal 90%) with model v2',
    );
    narrator.stop();
  });
});
