import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../../shared/errors.js';
import { Rng } from '../../synth/rng.js';
import {
  DriftWindow,
  featureColumns,
  imageFeatureColumns,
  resolveWindowOptions,
  selectDriftWindow,
} from './window.js';

interface Frame {
  timestampMs: number;
  index: number;
}

/** `count` frames at `fps` starting at `startMs`. */
function stream(count: number, fps: number, startMs = 0): Frame[] {
  return Array.from({ length: count }, (_, index) => ({
    timestampMs: startMs + (index * 1000) / fps,
    index,
  }));
}

describe('selectDriftWindow', () => {
  it('keeps the first frame of every minSpacingMs bucket', () => {
    const frames = stream(150, 15); // 10 s at 15 fps
    const window = selectDriftWindow(frames, { minSpacingMs: 1000, maxSamples: 100 });
    expect(window.samples.map((f) => f.index)).toEqual([0, 15, 30, 45, 60, 75, 90, 105, 120, 135]);
    expect(window.framesInSpan).toBe(150);
    expect(window.startMs).toBe(0);
    expect(window.endMs).toBe(9000);
  });

  it('keeps only the newest maxSamples thinned frames', () => {
    const window = selectDriftWindow(stream(150, 15), { minSpacingMs: 1000, maxSamples: 3 });
    expect(window.samples.map((f) => f.index)).toEqual([105, 120, 135]);
  });

  it('keeps only frames within spanMs before the end', () => {
    const frames = stream(150, 15);
    const window = selectDriftWindow(frames, { minSpacingMs: 1000, spanMs: 3000 }, 9000);
    // Span (6000, 9000]: bucket 6 belongs to frame 90 (t = 6000, outside), so only the first
    // frames of buckets 7, 8 and 9 remain — the same frames a streaming window holds.
    expect(window.samples.map((f) => f.index)).toEqual([105, 120, 135]);
    expect(window.framesInSpan).toBe(45);
  });

  it('ignores frames after the requested end', () => {
    const window = selectDriftWindow(stream(150, 15), { minSpacingMs: 1000 }, 4500);
    expect(window.samples.map((f) => f.index)).toEqual([0, 15, 30, 45, 60]);
  });

  it('sorts unordered input and drops frames without a finite timestamp', () => {
    const frames: Frame[] = [
      { timestampMs: 2500, index: 2 },
      { timestampMs: Number.NaN, index: 99 },
      { timestampMs: 500, index: 0 },
      { timestampMs: 1500, index: 1 },
      { timestampMs: Infinity, index: 98 },
    ];
    const window = selectDriftWindow(frames, { minSpacingMs: 1000 });
    expect(window.samples.map((f) => f.index)).toEqual([0, 1, 2]);
    expect(window.invalidTimestamps).toBe(2);
  });

  it('returns an empty window for no frames', () => {
    const window = selectDriftWindow([], {});
    expect(window.samples).toEqual([]);
    expect(window.startMs).toBeNull();
    expect(window.framesInSpan).toBe(0);
  });

  it('keeps every distinct timestamp when minSpacingMs is 0', () => {
    expect(selectDriftWindow(stream(40, 15), { minSpacingMs: 0 }).samples).toHaveLength(40);
  });
});

describe('DriftWindow (streaming)', () => {
  it('selects the same frames as selectDriftWindow over the whole history', () => {
    const rng = new Rng(42);
    let t = 1_700_000_000_000;
    const frames: Frame[] = [];
    const options = { minSpacingMs: 700, maxSamples: 25, spanMs: 20_000 };
    const window = new DriftWindow<Frame>(options);
    for (let index = 0; index < 2000; index++) {
      // Jittered frame times with occasional gaps, as a real camera delivers them.
      t += rng.next() < 0.02 ? 5000 * rng.next() : 40 + 50 * rng.next();
      const frame = { timestampMs: t, index };
      frames.push(frame);
      window.push(frame);
      if (index % 97 === 0) {
        expect(window.samples().map((f) => f.index)).toEqual(
          selectDriftWindow(frames, options).samples.map((f) => f.index),
        );
      }
    }
    expect(window.size).toBeLessThanOrEqual(25);
  });

  it('ignores frames older than the newest one it has seen', () => {
    const window = new DriftWindow<Frame>({ minSpacingMs: 1000 });
    expect(window.push({ timestampMs: 5000, index: 0 })).toBe(true);
    expect(window.push({ timestampMs: 1000, index: 1 })).toBe(false);
    expect(window.push({ timestampMs: 5500, index: 2 })).toBe(false);
    expect(window.push({ timestampMs: 6000, index: 3 })).toBe(true);
    expect(window.samples().map((f) => f.index)).toEqual([0, 3]);
  });
});

describe('window options', () => {
  it('rejects bad options with INVALID_ARGUMENT', () => {
    for (const options of [
      { maxSamples: 0 },
      { spanMs: 0 },
      { minSpacingMs: -1 },
      { maxSamples: 2.5 },
    ]) {
      let caught: unknown;
      try {
        resolveWindowOptions(options);
      } catch (error) {
        caught = error;
      }
      expect(isVisionLoopError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('featureColumns', () => {
  it('turns rows into columns, with NaN for missing values', () => {
    const rows = [{ a: 1, b: 2 }, { a: 3 }] as { a: number; b?: number }[];
    expect(featureColumns(rows, ['a', 'b'])).toEqual({ a: [1, 3], b: [2, Number.NaN] });
  });

  it('gives the seven image features in FEATURE_NAMES order', () => {
    const row = {
      brightness: 0.5,
      contrast: 0.2,
      sharpness: 900,
      saturation: 0.05,
      noise: 2,
      colorCast: 0.01,
      edgeDensity: 0.07,
    };
    expect(Object.keys(imageFeatureColumns([row, row]))).toEqual([
      'brightness',
      'contrast',
      'sharpness',
      'saturation',
      'noise',
      'colorCast',
      'edgeDensity',
    ]);
  });
});
