import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../../shared/errors.js';
import { Rng } from '../../synth/rng.js';
import {
  checkDrift,
  DEFAULT_DRIFT_CONFIG,
  prepareReference,
  resolveDriftConfig,
  type DriftReport,
} from './drift-detector.js';

/** Seeded standard normal draws (Box–Muller). */
function normals(seed: number, n: number, mean = 0, sd = 1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const u = 1 - rng.next();
    const v = rng.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  });
}

/** A reference of `features` independent N(0, 1) features, 300 samples each. */
function reference(features: number, seed = 1) {
  const numeric: Record<string, number[]> = {};
  for (let f = 0; f < features; f++) numeric[`f${f}`] = normals(seed * 100 + f, 300);
  return prepareReference({ id: 'ref-1', description: 'unit test reference', numeric });
}

/** A window of 100 samples in which the first `shifted` features moved by 2 σ. */
function window(features: number, shifted: number, seed = 2) {
  const numeric: Record<string, number[]> = {};
  for (let f = 0; f < features; f++) {
    numeric[`f${f}`] = normals(seed * 100 + f, 100, f < shifted ? 2 : 0);
  }
  return { camera: 'cam-1', startMs: 1000, endMs: 100_000, numeric };
}

function feature(report: DriftReport, name: string) {
  const result = report.features.find((f) => f.feature === name);
  if (!result) throw new Error(`no result for ${name}`);
  return result;
}

describe('checkDrift decisions', () => {
  it('finds no drift between samples of the same distributions', () => {
    const report = checkDrift(reference(8), window(8, 0));
    expect(report.status).toBe('ok');
    expect(report.level).toBe('green');
    expect(report.drifted).toBe(false);
    expect(report.testedFeatures).toBe(8);
    expect(report.driftShare).toBeLessThanOrEqual(0.3);
    expect(report.reason).toMatch(/^no drift: \d of 8 features drifted/);
  });

  it('grades the share: > 0.3 yellow, > 0.7 red, exactly at a threshold stays below', () => {
    const ref = reference(10);
    const levels = [0, 3, 4, 7, 8, 10].map((shifted) => {
      const report = checkDrift(ref, window(10, shifted));
      // Every shifted feature is caught (a 2σ shift on 100 vs 300 samples), no other one.
      expect(report.driftedFeatures).toEqual(Array.from({ length: shifted }, (_, f) => `f${f}`));
      return report.level;
    });
    expect(levels).toEqual(['green', 'green', 'yellow', 'yellow', 'red', 'red']);
  });

  it('reports per feature: statistic, p, magnitude in reference σ, medians, sample sizes', () => {
    const report = checkDrift(reference(2), window(2, 1));
    const moved = feature(report, 'f0');
    expect(moved.drifted).toBe(true);
    expect(moved.method).toBe('exact');
    expect(moved.statistic).toBeGreaterThan(0.6);
    expect(moved.pValue).toBeLessThan(1e-20);
    expect(moved.adjustedPValue).toBe(moved.pValue);
    expect(moved.scaledMagnitude).toBeGreaterThan(1.6);
    expect(moved.scaledMagnitude).toBeLessThan(2.4);
    expect(moved.spreadKind).toBe('iqr');
    expect(moved.currentMedian! - moved.referenceMedian!).toBeGreaterThan(1.5);
    expect([moved.nRef, moved.nCur, moved.droppedRef, moved.droppedCur]).toEqual([300, 100, 0, 0]);
    const still = feature(report, 'f1');
    expect(still.drifted).toBe(false);
    expect(still.scaledMagnitude).toBeLessThan(0.3);
  });

  it('says which reference, which window, how many samples and why', () => {
    const report = checkDrift(reference(8), window(8, 6));
    expect(report.status).toBe('drift');
    expect(report.level).toBe('red');
    expect(report.reference).toEqual({
      id: 'ref-1',
      description: 'unit test reference',
      createdAt: null,
      samples: 300,
    });
    expect(report.window).toEqual({
      camera: 'cam-1',
      startMs: 1000,
      endMs: 100_000,
      framesSeen: null,
      samples: 100,
    });
    expect(report.reason).toMatch(
      /^drift \(red\): 6 of 8 features drifted \(p < 0\.05\), share 0\.75 > 0\.3: f/,
    );
    expect(report.reason).toContain(
      "reference 'ref-1' (300 samples) vs window for camera 'cam-1' (100 samples)",
    );
    expect(report.config).toEqual(DEFAULT_DRIFT_CONFIG);
  });

  it('applies the configured multiple-testing correction before the decision', () => {
    // One feature with a borderline shift: p between 0.05/8 and 0.05.
    const ref = reference(8);
    const current = window(8, 0);
    current.numeric.f0 = normals(702, 100, 0.3);
    const plain = checkDrift(ref, current);
    const p = feature(plain, 'f0').pValue!;
    expect(p).toBeGreaterThan(0.05 / 8);
    expect(p).toBeLessThan(0.05);
    expect(feature(plain, 'f0').drifted).toBe(true);
    const bonferroni = checkDrift(ref, current, { correction: 'bonferroni' });
    expect(feature(bonferroni, 'f0').adjustedPValue).toBeCloseTo(Math.min(1, 8 * p), 12);
    expect(feature(bonferroni, 'f0').drifted).toBe(false);
    expect(bonferroni.reason).toContain('bonferroni-adjusted p < 0.05');
  });

  it('uses the configured thresholds', () => {
    const report = checkDrift(reference(10), window(10, 2), {
      driftShareThreshold: 0.1,
      redShareThreshold: 0.5,
    });
    expect(report.level).toBe('yellow');
    expect(report.drifted).toBe(true);
  });
});

describe('checkDrift on categorical features (class mix)', () => {
  const ref = prepareReference({
    id: 'baseline',
    numeric: {},
    categorical: { classMix: { scratch: 120, crack: 80, dent: 60, stain: 40 } },
  });

  it('tests the class mix with chi-square', () => {
    const same = checkDrift(ref, {
      numeric: {},
      categorical: { classMix: { scratch: 30, crack: 22, dent: 14, stain: 9 } },
    });
    const mix = feature(same, 'classMix');
    expect(mix.test).toBe('chi-square');
    expect(mix.dof).toBe(3);
    expect(mix.pValue).toBeCloseTo(0.9614235825229961, 12); // SciPy fixture "4 classes similar"
    expect(same.status).toBe('ok');
    const shifted = checkDrift(ref, {
      numeric: {},
      categorical: { classMix: { scratch: 10, crack: 25, dent: 30, stain: 35 } },
    });
    expect(feature(shifted, 'classMix').pValue).toBeCloseTo(2.5099598727796184e-9, 18);
    expect(shifted.level).toBe('red');
  });

  it('handles a class seen only in the window and one absent from both', () => {
    const report = checkDrift(
      prepareReference({
        id: 'baseline',
        numeric: {},
        categorical: { classMix: { scratch: 50, crack: 0, dent: 20, stain: 10 } },
      }),
      {
        numeric: {},
        categorical: { classMix: { scratch: 12, crack: 0, dent: 8, stain: 5, rust: 9 } },
      },
    );
    const mix = feature(report, 'classMix');
    expect(mix.dof).toBe(3);
    expect(mix.note).toContain('absent from both: crack');
    expect(mix.drifted).toBe(true);
  });

  it('does not test the class mix of a window with too few frames, however many detections', () => {
    // 12 frames (below minSamples 20) holding 75 detections of a very different mix: the
    // per-frame features cannot be tested yet, so neither is the class mix — no lone feature
    // can make a share of 1.
    const withFrames = prepareReference({
      id: 'baseline',
      numeric: { brightness: normals(5, 40, 0.5, 0.05) },
      categorical: { classMix: { scratch: 120, crack: 80, dent: 60, stain: 40 } },
    });
    const few = checkDrift(withFrames, {
      numeric: { brightness: normals(6, 12, 0.5, 0.05) },
      categorical: { classMix: { scratch: 10, crack: 25, dent: 30, stain: 10 } },
    });
    expect(feature(few, 'classMix')).toMatchObject({
      status: 'insufficient_data',
      note: 'window has 12 frames, 20 needed',
    });
    expect(few.status).toBe('insufficient_data');
    expect(few.driftShare).toBeNull();
    const enough = checkDrift(withFrames, {
      numeric: { brightness: normals(6, 24, 0.5, 0.05) },
      categorical: { classMix: { scratch: 10, crack: 25, dent: 30, stain: 10 } },
    });
    expect(feature(enough, 'classMix').status).toBe('tested');
  });

  it('marks too few counts as insufficient data', () => {
    const report = checkDrift(ref, { numeric: {}, categorical: { classMix: { scratch: 3 } } });
    expect(feature(report, 'classMix').status).toBe('insufficient_data');
    expect(report.status).toBe('insufficient_data');
  });
});

describe('checkDrift on bad input', () => {
  it('no reference yet → no_reference, never a throw', () => {
    const report = checkDrift(null, window(3, 0));
    expect(report.status).toBe('no_reference');
    expect(report.level).toBe('unknown');
    expect(report.drifted).toBe(false);
    expect(report.driftShare).toBeNull();
    expect(report.reason).toBe(
      "no reference for camera 'cam-1' yet: nothing to compare the window with",
    );
    const empty = checkDrift(prepareReference({ id: 'empty', numeric: {} }), window(3, 0));
    expect(empty.status).toBe('no_reference');
  });

  it('an empty window → insufficient_data', () => {
    const empties: Record<string, number[]>[] = [{}, { f0: [], f1: [] }];
    for (const numeric of empties) {
      const report = checkDrift(reference(2), { numeric });
      expect(report.status).toBe('insufficient_data');
      expect(report.level).toBe('unknown');
      expect(report.testedFeatures).toBe(0);
      expect(report.reason).toMatch(/^insufficient data: no feature has 20 finite samples/);
    }
  });

  it('drops NaN and ±Infinity samples, counts them, and tests the rest', () => {
    const current = window(2, 0);
    current.numeric.f0 = [...current.numeric.f0!.slice(0, 30), Number.NaN, Infinity, -Infinity];
    const report = checkDrift(reference(2), current);
    const f0 = feature(report, 'f0');
    expect(f0.status).toBe('tested');
    expect([f0.nCur, f0.droppedCur]).toEqual([30, 3]);
    expect(report.status).toBe('ok');
  });

  it('a feature with too few finite values is insufficient_data and left out of the share', () => {
    const current = window(4, 2);
    current.numeric.f3 = Array.from({ length: 100 }, (_, i) => (i < 10 ? 0.5 : Number.NaN));
    const report = checkDrift(reference(4), current);
    const f3 = feature(report, 'f3');
    expect(f3.status).toBe('insufficient_data');
    expect(f3.note).toBe('window has 10 finite values, 20 needed');
    expect([f3.pValue, f3.drifted, f3.droppedCur]).toEqual([null, false, 90]);
    expect(report.testedFeatures).toBe(3);
    expect(report.driftShare).toBeCloseTo(2 / 3, 15);
    expect(report.reason).toContain('1 not tested (too few samples)');
  });

  it('constant features: equal constants give p = 1, different ones drift', () => {
    const ref = prepareReference({
      id: 'constant',
      numeric: { same: Array(50).fill(0.25), moved: Array(50).fill(0.25) },
    });
    const report = checkDrift(ref, {
      numeric: { same: Array(30).fill(0.25), moved: Array(30).fill(0.75) },
    });
    const same = feature(report, 'same');
    expect([same.statistic, same.pValue, same.drifted, same.scaledMagnitude]).toEqual([
      0,
      1,
      false,
      0,
    ]);
    const moved = feature(report, 'moved');
    expect(moved.statistic).toBe(1);
    expect(moved.pValue).toBeLessThan(1e-15);
    expect(moved.drifted).toBe(true);
    expect(moved.wasserstein).toBeCloseTo(0.5, 15);
    expect(moved.scaledMagnitude).toBeNull();
    expect(moved.note).toContain('reference is constant');
  });

  it('features missing on one side are reported, not tested', () => {
    const report = checkDrift(reference(2), {
      numeric: { f0: normals(5, 50), extra: normals(6, 50) },
    });
    expect(feature(report, 'f1').note).toBe('not in the window');
    expect(feature(report, 'extra').note).toBe('not in the reference');
    expect(report.testedFeatures).toBe(1);
  });

  it('a broken reference (all NaN) is insufficient, not a crash', () => {
    const ref = prepareReference({ id: 'broken', numeric: { f0: [Number.NaN, Number.NaN] } });
    const report = checkDrift(ref, { numeric: { f0: normals(7, 50) } });
    expect(report.status).toBe('insufficient_data');
    expect(feature(report, 'f0').droppedRef).toBe(2);
  });
});

describe('drift config', () => {
  it('lists every problem of an invalid configuration at once', () => {
    let caught: unknown;
    try {
      resolveDriftConfig({ alpha: 0, minSamples: 0, redShareThreshold: 0.1 });
    } catch (error) {
      caught = error;
    }
    expect(isVisionLoopError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    const message = (caught as Error).message;
    expect(message).toContain('alpha');
    expect(message).toContain('minSamples');
    expect(message).toContain('redShareThreshold');
  });
});
