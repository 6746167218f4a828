import { describe, expect, it } from 'vitest';
import { agentSettingsSchema } from './agents.js';
import { frameResultSchema } from './ingest.js';
import {
  DEFAULT_SAMPLING_SETTINGS,
  applySamplingUpdate,
  frameSamplingSchema,
  resolveSamplingSettings,
  samplingSettingsSchema,
  samplingSettingsUpdateSchema,
} from './sampling.js';

describe('sampling settings', () => {
  it('has consistent defaults', () => {
    expect(samplingSettingsSchema.parse(DEFAULT_SAMPLING_SETTINGS)).toEqual(
      DEFAULT_SAMPLING_SETTINGS,
    );
  });

  it('refuses a band whose low bound is not below the high one, and empty filters', () => {
    const inverted = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, {
      strategies: { uncertainty: { low: 0.7, high: 0.4 } },
    });
    const result = samplingSettingsSchema.safeParse(inverted);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      'strategies.uncertainty: low (0.7) must be below high (0.4)',
    );
    const emptyFilter = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, {
      strategies: { classFilter: { enabled: true } },
    });
    expect(samplingSettingsSchema.safeParse(emptyFilter).error?.issues[0]?.message).toMatch(
      /list at least one class/,
    );
  });

  it('takes updates field by field and refuses unknown fields', () => {
    const update = samplingSettingsUpdateSchema.parse({
      strategies: { random: { keepProbability: 0.05 } },
      caps: { perHour: 30 },
    });
    const next = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, update);
    expect(next.strategies.random).toEqual({ enabled: true, keepProbability: 0.05 });
    expect(next.caps).toEqual({ ...DEFAULT_SAMPLING_SETTINGS.caps, perHour: 30 });
    expect(next.strategies.uncertainty).toEqual(DEFAULT_SAMPLING_SETTINGS.strategies.uncertainty);
    expect(samplingSettingsUpdateSchema.safeParse({ caps: { perWeek: 3 } }).success).toBe(false);
    expect(
      samplingSettingsUpdateSchema.safeParse({ strategies: { random: { keepProbability: 2 } } })
        .success,
    ).toBe(false);
  });

  it('resolves stored values section by section, keeping what parses', () => {
    expect(resolveSamplingSettings(undefined)).toEqual(DEFAULT_SAMPLING_SETTINGS);
    expect(resolveSamplingSettings('garbage')).toEqual(DEFAULT_SAMPLING_SETTINGS);
    const stored = {
      enabled: false,
      strategies: {
        random: { keepProbability: 0.2 },
        // A section that no longer parses falls back alone.
        uncertainty: { low: 'low' },
        someFutureStrategy: { enabled: true },
      },
      caps: { perMinute: 3, perFortnight: 1 },
    };
    const resolved = resolveSamplingSettings(stored);
    expect(resolved.enabled).toBe(false);
    expect(resolved.strategies.random).toEqual({ enabled: true, keepProbability: 0.2 });
    expect(resolved.strategies.uncertainty).toEqual(
      DEFAULT_SAMPLING_SETTINGS.strategies.uncertainty,
    );
    expect(resolved.caps).toEqual({ ...DEFAULT_SAMPLING_SETTINGS.caps, perMinute: 3 });
    expect(resolved.dedupe).toEqual(DEFAULT_SAMPLING_SETTINGS.dedupe);
  });

  it('lets an agent read settings that carry fields it does not know', () => {
    const parsed = agentSettingsSchema.parse({
      revision: 4,
      uploadFrames: 'none',
      jpegQuality: 80,
      driftActive: true,
      sampling: { ...DEFAULT_SAMPLING_SETTINGS, futureKnob: 1 },
      futureSection: {},
    });
    expect(parsed).toEqual({
      revision: 4,
      uploadFrames: 'none',
      jpegQuality: 80,
      driftActive: true,
      sampling: DEFAULT_SAMPLING_SETTINGS,
    });
  });
});

describe('the sampling mark on a frame result', () => {
  const result = {
    id: 'r-1',
    camera: 'cam-1',
    frameIndex: 1,
    capturedAt: 1,
    width: 640,
    height: 480,
    detections: [
      {
        classId: 1,
        className: 'crack',
        confidence: 0.5,
        box: { x1: 0, y1: 0, x2: 1, y2: 1 },
        classScores: [0.1, 0.5, 0, 0],
      },
    ],
    uncertain: true,
    decision: 'PASS',
    features: {
      brightness: 0,
      contrast: 0,
      sharpness: 0,
      saturation: 0,
      noise: 0,
      colorCast: 0,
      edgeDensity: 0,
    },
    latencies: { queueMs: 0, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, totalMs: 0 },
    modelVersion: 'v1',
    inferred: true,
  };

  it('is optional, and checked when present', () => {
    expect(frameResultSchema.safeParse(result).success).toBe(true);
    const sampling = { reasons: ['low_confidence'], priority: 4.5, phash: '00ff00ff00ff00ff' };
    expect(frameResultSchema.safeParse({ ...result, sampling }).success).toBe(true);
    // A reason a newer agent knows is accepted; a malformed one is not.
    expect(frameSamplingSchema.safeParse({ ...sampling, reasons: ['night_shift'] }).success).toBe(
      true,
    );
    expect(
      frameSamplingSchema.safeParse({ ...sampling, reasons: ['Low Confidence'] }).success,
    ).toBe(false);
    expect(frameSamplingSchema.safeParse({ ...sampling, reasons: [] }).success).toBe(false);
    expect(frameSamplingSchema.safeParse({ ...sampling, phash: '00FF' }).success).toBe(false);
    expect(frameSamplingSchema.safeParse({ ...sampling, extra: 1 }).success).toBe(false);
  });
});
