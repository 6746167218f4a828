/**
 * The drift decision for one camera window against one reference (issue 6), as a pure function
 * the DriftService calls: per numeric feature a two-sample KS test plus the Wasserstein-1
 * distance scaled by the reference's spread; per categorical feature (the class mix) a
 * chi-square test; an optional multiple-testing correction; then the share of drifted features
 * decides the window and its level. Every outcome, including bad input, is a report with a
 * human-readable reason — nothing here throws on data, only on an invalid configuration.
 *
 * Over 500 lines on purpose: one decision procedure, a third of it the report's types; the
 * statistics themselves are apart (ks.ts, wasserstein.ts, chi-square.ts, multiple-testing.ts).
 *
 * Bad input (see docs/drift.md): NaN and ±Infinity samples are dropped and counted per feature;
 * a feature with fewer than `minSamples` finite values on either side (or a categorical feature
 * with fewer than `minSamples` counts, or on a side with fewer than `minSamples` frames) is
 * `insufficient_data` and left out of the share; a
 * window where no feature could be tested is `insufficient_data`; no reference (or an empty one)
 * is `no_reference`. Constant features need no special case: KS gives D = 0, p = 1 for equal
 * constants and a small exact p for different ones; the magnitude is null when the reference
 * has no spread.
 *
 * Pure: no I/O, no clock, no randomness.
 */
import { VisionLoopError } from '../../shared/errors.js';
import { chiSquareHomogeneity } from './chi-square.js';
import { categoricalShares, sharedHistogram, type FeatureDistribution } from './distribution.js';
import { ksTwoSampleSorted, type KsMethod } from './ks.js';
import { adjustPValues, P_VALUE_CORRECTIONS, type PValueCorrection } from './multiple-testing.js';
import {
  quantileSorted,
  referenceSpread,
  wassersteinSorted,
  type SpreadKind,
} from './wasserstein.js';

export interface DriftConfig {
  /** A feature drifts when its (adjusted) p-value is below this (default 0.05). */
  alpha: number;
  /** The window drifts (level yellow) when the share of drifted features exceeds this (0.3). */
  driftShareThreshold: number;
  /** Level red when the share exceeds this (0.7). */
  redShareThreshold: number;
  /** Correction applied to the p-values of the tested features before comparing with alpha. */
  correction: PValueCorrection;
  /** Fewest finite values (or counts) per side for a feature to be tested (default 20). */
  minSamples: number;
  /** KS p-value method; 'auto' follows SciPy (exact up to 10 000 samples per side). */
  ksMethod: 'auto' | KsMethod;
  /** Yates' correction for a two-category chi-square (default true, as SciPy). */
  yatesCorrection: boolean;
}

export const DEFAULT_DRIFT_CONFIG: Readonly<DriftConfig> = Object.freeze({
  alpha: 0.05,
  driftShareThreshold: 0.3,
  redShareThreshold: 0.7,
  correction: 'none',
  minSamples: 20,
  ksMethod: 'auto',
  yatesCorrection: true,
});

/** Samples of one side: numeric features as columns, categorical ones as counts per category. */
export interface DriftSamples {
  numeric: Readonly<Record<string, ArrayLike<number>>>;
  /** e.g. { classMix: { scratch: 31, crack: 4, dent: 0, stain: 12 } } */
  categorical?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface DriftReferenceInput extends DriftSamples {
  /** Stable id of the reference, e.g. 'model:v7:training' or 'model:v7:baseline:cam-1'. */
  id: string;
  /** For people: what the reference was built from. */
  description?: string;
  /** When it was built, epoch ms. */
  createdAt?: number;
}

interface PreparedNumericFeature {
  /** Finite values, ascending. */
  sorted: Float64Array;
  nonFinite: number;
  spread: number;
  spreadKind: SpreadKind;
}

/** A reference ready for repeated checks: sorted once, NaN/Inf dropped, spreads computed. */
export interface DriftReference {
  id: string;
  description: string | null;
  createdAt: number | null;
  /** Rows the reference was built from (the longest feature column, before dropping). */
  samples: number;
  numeric: ReadonlyMap<string, PreparedNumericFeature>;
  categorical: ReadonlyMap<string, Readonly<Record<string, number>>>;
}

export interface DriftWindowInput extends DriftSamples {
  camera?: string;
  /** Time of the oldest and newest frame in the window, epoch ms. */
  startMs?: number | null;
  endMs?: number | null;
  /** Frames the window was thinned from (before subsampling), for the report. */
  framesSeen?: number;
}

export type FeatureTestStatus = 'tested' | 'insufficient_data';

export interface FeatureDriftResult {
  feature: string;
  kind: 'numeric' | 'categorical';
  test: 'ks' | 'chi-square';
  status: FeatureTestStatus;
  /** KS D (0..1) or the chi-square statistic; null when not tested. */
  statistic: number | null;
  pValue: number | null;
  /** After the configured correction (equal to pValue for 'none'). */
  adjustedPValue: number | null;
  drifted: boolean;
  /** 'exact' | 'asymp' for KS, 'chi-square' for categorical; null when not tested. */
  method: KsMethod | 'chi-square' | null;
  /** Wasserstein-1 distance in the feature's unit (numeric only). */
  wasserstein: number | null;
  /** wasserstein / reference spread: how many reference σ̂ the distribution moved. */
  scaledMagnitude: number | null;
  /** The reference spread σ̂ used for scaling and how it was measured. */
  spread: number | null;
  spreadKind: SpreadKind | null;
  referenceMedian: number | null;
  currentMedian: number | null;
  /** Chi-square degrees of freedom (categorical only). */
  dof: number | null;
  /** Finite values (numeric) or total counts (categorical) used on each side. */
  nRef: number;
  nCur: number;
  /** Non-finite values dropped on each side. */
  droppedRef: number;
  droppedCur: number;
  /** Why a feature was not tested, or a caveat about its test. */
  note: string | null;
  /**
   * Both sides' distributions on shared bins (categories), for charts; absent when a side has
   * no values (and in reports stored before it existed).
   */
  distribution?: FeatureDistribution | null;
}

export type DriftStatus = 'ok' | 'drift' | 'insufficient_data' | 'no_reference';
/** Dashboard level; 'unknown' when nothing could be compared. */
export type DriftLevel = 'green' | 'yellow' | 'red' | 'unknown';

export interface DriftReport {
  status: DriftStatus;
  level: DriftLevel;
  drifted: boolean;
  /** Drifted ÷ tested features; null when none was tested. */
  driftShare: number | null;
  driftedFeatures: string[];
  testedFeatures: number;
  reference: {
    id: string;
    description: string | null;
    createdAt: number | null;
    samples: number;
  } | null;
  window: {
    camera: string | null;
    startMs: number | null;
    endMs: number | null;
    framesSeen: number | null;
    /** Rows in the window (the longest feature column, before dropping). */
    samples: number;
  };
  features: FeatureDriftResult[];
  config: DriftConfig;
  reason: string;
}

/** Validates a partial configuration over the defaults (INVALID_ARGUMENT naming each problem). */
export function resolveDriftConfig(config: Partial<DriftConfig> = {}): DriftConfig {
  const resolved: DriftConfig = { ...DEFAULT_DRIFT_CONFIG, ...config };
  const problems: string[] = [];
  if (!(resolved.alpha > 0 && resolved.alpha < 1)) problems.push('alpha must be in (0, 1)');
  if (!(resolved.driftShareThreshold >= 0 && resolved.driftShareThreshold < 1)) {
    problems.push('driftShareThreshold must be in [0, 1)');
  }
  if (!(
    resolved.redShareThreshold >= resolved.driftShareThreshold && resolved.redShareThreshold < 1
  )) {
    problems.push('redShareThreshold must be in [driftShareThreshold, 1)');
  }
  if (!P_VALUE_CORRECTIONS.includes(resolved.correction)) {
    problems.push(`correction must be one of ${P_VALUE_CORRECTIONS.join(', ')}`);
  }
  if (!Number.isInteger(resolved.minSamples) || resolved.minSamples < 1) {
    problems.push('minSamples must be an integer ≥ 1');
  }
  if (!['auto', 'exact', 'asymp'].includes(resolved.ksMethod)) {
    problems.push('ksMethod must be auto, exact or asymp');
  }
  if (problems.length > 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `invalid drift config: ${problems.join('; ')}`);
  }
  return resolved;
}

/** Finite values of a column, sorted ascending, and how many were dropped. */
function cleanColumn(values: ArrayLike<number> | undefined): {
  sorted: Float64Array;
  nonFinite: number;
} {
  if (values === undefined) return { sorted: new Float64Array(0), nonFinite: 0 };
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) out[n++] = v;
  }
  const sorted = n === out.length ? out : out.slice(0, n);
  sorted.sort();
  return { sorted, nonFinite: values.length - n };
}

function longestColumn(samples: DriftSamples): number {
  let rows = 0;
  for (const column of Object.values(samples.numeric)) rows = Math.max(rows, column.length);
  return rows;
}

/** Prepares a reference for repeated checks (sorts once). Never throws on data. */
export function prepareReference(input: DriftReferenceInput): DriftReference {
  const numeric = new Map<string, PreparedNumericFeature>();
  for (const [name, values] of Object.entries(input.numeric)) {
    const { sorted, nonFinite } = cleanColumn(values);
    const spread =
      sorted.length > 0 ? referenceSpread(sorted) : { value: 0, kind: 'none' as const };
    numeric.set(name, { sorted, nonFinite, spread: spread.value, spreadKind: spread.kind });
  }
  const categorical = new Map<string, Readonly<Record<string, number>>>();
  for (const [name, counts] of Object.entries(input.categorical ?? {})) {
    categorical.set(name, { ...counts });
  }
  return {
    id: input.id,
    description: input.description ?? null,
    createdAt: input.createdAt ?? null,
    samples: longestColumn(input),
    numeric,
    categorical,
  };
}

function untested(
  feature: string,
  kind: 'numeric' | 'categorical',
  note: string,
  counts: { nRef: number; nCur: number; droppedRef: number; droppedCur: number },
): FeatureDriftResult {
  return {
    feature,
    kind,
    test: kind === 'numeric' ? 'ks' : 'chi-square',
    status: 'insufficient_data',
    statistic: null,
    pValue: null,
    adjustedPValue: null,
    drifted: false,
    method: null,
    wasserstein: null,
    scaledMagnitude: null,
    spread: null,
    spreadKind: null,
    referenceMedian: null,
    currentMedian: null,
    dof: null,
    ...counts,
    note,
  };
}

function testNumeric(
  feature: string,
  reference: PreparedNumericFeature | undefined,
  values: ArrayLike<number> | undefined,
  config: DriftConfig,
): FeatureDriftResult {
  const current = cleanColumn(values);
  const counts = {
    nRef: reference?.sorted.length ?? 0,
    nCur: current.sorted.length,
    droppedRef: reference?.nonFinite ?? 0,
    droppedCur: current.nonFinite,
  };
  if (reference === undefined) return untested(feature, 'numeric', 'not in the reference', counts);
  if (values === undefined) return untested(feature, 'numeric', 'not in the window', counts);
  const distribution = sharedHistogram(reference.sorted, current.sorted);
  if (counts.nRef < config.minSamples || counts.nCur < config.minSamples) {
    const side = counts.nRef < config.minSamples ? 'reference' : 'window';
    const n = Math.min(counts.nRef, counts.nCur);
    return {
      ...untested(
        feature,
        'numeric',
        `${side} has ${n} finite values, ${config.minSamples} needed`,
        counts,
      ),
      distribution,
    };
  }
  const ks = ksTwoSampleSorted(reference.sorted, current.sorted, { method: config.ksMethod });
  const wasserstein = wassersteinSorted(reference.sorted, current.sorted);
  const constantReference = reference.spreadKind === 'none';
  const scaledMagnitude = constantReference
    ? wasserstein === 0
      ? 0
      : null
    : wasserstein / reference.spread;
  return {
    feature,
    kind: 'numeric',
    test: 'ks',
    status: 'tested',
    statistic: ks.statistic,
    pValue: ks.pValue,
    adjustedPValue: ks.pValue,
    drifted: false,
    method: ks.method,
    wasserstein,
    scaledMagnitude,
    spread: constantReference ? null : reference.spread,
    spreadKind: reference.spreadKind,
    referenceMedian: quantileSorted(reference.sorted, 0.5),
    currentMedian: quantileSorted(current.sorted, 0.5),
    dof: null,
    ...counts,
    note: constantReference
      ? 'reference is constant: no spread to scale the Wasserstein distance'
      : null,
    distribution,
  };
}

function testCategorical(
  feature: string,
  reference: Readonly<Record<string, number>> | undefined,
  current: Readonly<Record<string, number>> | undefined,
  config: DriftConfig,
): FeatureDriftResult {
  // Categories: the reference's, then any new ones in the window. Bad counts count as dropped.
  const categories = [...new Set([...Object.keys(reference ?? {}), ...Object.keys(current ?? {})])];
  let droppedRef = 0;
  let droppedCur = 0;
  const clean = (value: number | undefined, side: 'ref' | 'cur'): number => {
    if (value === undefined) return 0;
    if (Number.isFinite(value) && value >= 0) return value;
    if (side === 'ref') droppedRef++;
    else droppedCur++;
    return 0;
  };
  const refCounts = categories.map((c) => clean(reference?.[c], 'ref'));
  const curCounts = categories.map((c) => clean(current?.[c], 'cur'));
  const nRef = refCounts.reduce((a, b) => a + b, 0);
  const nCur = curCounts.reduce((a, b) => a + b, 0);
  const counts = { nRef, nCur, droppedRef, droppedCur };
  const distribution = categoricalShares(categories, refCounts, curCounts);
  if (reference === undefined) {
    return untested(feature, 'categorical', 'not in the reference', counts);
  }
  if (current === undefined) return untested(feature, 'categorical', 'not in the window', counts);
  if (nRef < config.minSamples || nCur < config.minSamples) {
    const side = nRef < config.minSamples ? 'reference' : 'window';
    return {
      ...untested(
        feature,
        'categorical',
        `${side} has ${Math.min(nRef, nCur)} counts, ${config.minSamples} needed`,
        counts,
      ),
      distribution,
    };
  }
  const chi = chiSquareHomogeneity(refCounts, curCounts, {
    yatesCorrection: config.yatesCorrection,
  });
  const notes: string[] = [];
  if (chi.droppedCategories.length > 0) {
    notes.push(`absent from both: ${chi.droppedCategories.map((i) => categories[i]).join(', ')}`);
  }
  if (chi.dof > 0 && chi.minExpected < 5) {
    notes.push(`smallest expected count ${chi.minExpected.toFixed(1)} < 5: approximate p-value`);
  }
  return {
    feature,
    kind: 'categorical',
    test: 'chi-square',
    status: 'tested',
    statistic: chi.statistic,
    pValue: chi.pValue,
    adjustedPValue: chi.pValue,
    drifted: false,
    method: 'chi-square',
    wasserstein: null,
    scaledMagnitude: null,
    spread: null,
    spreadKind: null,
    referenceMedian: null,
    currentMedian: null,
    dof: chi.dof,
    ...counts,
    note: notes.length > 0 ? notes.join('; ') : null,
    distribution,
  };
}

function formatP(p: number): string {
  if (p === 0) return '0';
  return p >= 0.001 ? p.toPrecision(2) : p.toExponential(1);
}

function describeFeature(result: FeatureDriftResult): string {
  const p = result.adjustedPValue ?? Number.NaN;
  const parts = [`p=${formatP(p)}`];
  if (result.scaledMagnitude !== null) parts.push(`${result.scaledMagnitude.toFixed(2)}σ`);
  if (result.referenceMedian !== null && result.currentMedian !== null) {
    parts.push(
      `median ${result.referenceMedian.toPrecision(3)}→${result.currentMedian.toPrecision(3)}`,
    );
  }
  return `${result.feature} (${parts.join(', ')})`;
}

function levelOf(share: number, config: DriftConfig): DriftLevel {
  if (share > config.redShareThreshold) return 'red';
  if (share > config.driftShareThreshold) return 'yellow';
  return 'green';
}

/**
 * Compares a camera's current window with a reference and decides. `reference` null (the camera
 * or model has none yet) gives a `no_reference` report. Throws only for an invalid `config`.
 */
export function checkDrift(
  reference: DriftReference | null,
  window: DriftWindowInput,
  config: Partial<DriftConfig> = {},
): DriftReport {
  const resolved = resolveDriftConfig(config);
  const windowInfo = {
    camera: window.camera ?? null,
    startMs: window.startMs ?? null,
    endMs: window.endMs ?? null,
    framesSeen: window.framesSeen ?? null,
    samples: longestColumn(window),
  };
  const base = {
    window: windowInfo,
    config: resolved,
    reference:
      reference === null
        ? null
        : {
            id: reference.id,
            description: reference.description,
            createdAt: reference.createdAt,
            samples: reference.samples,
          },
  };
  const cameraText = window.camera === undefined ? '' : ` for camera '${window.camera}'`;
  if (reference === null || (reference.numeric.size === 0 && reference.categorical.size === 0)) {
    return {
      ...base,
      status: 'no_reference',
      level: 'unknown',
      drifted: false,
      driftShare: null,
      driftedFeatures: [],
      testedFeatures: 0,
      features: [],
      reason:
        reference === null
          ? `no reference${cameraText} yet: nothing to compare the window with`
          : `reference '${reference.id}' holds no features: nothing to compare the window with`,
    };
  }

  const features: FeatureDriftResult[] = [];
  const numericNames = [...new Set([...reference.numeric.keys(), ...Object.keys(window.numeric)])];
  for (const name of numericNames) {
    features.push(testNumeric(name, reference.numeric.get(name), window.numeric[name], resolved));
  }
  const categoricalNames = [
    ...new Set([...reference.categorical.keys(), ...Object.keys(window.categorical ?? {})]),
  ];
  // A categorical feature counts detections, not frames: a window of a dozen frames can hold
  // enough detections to be tested while no per-frame feature is, and one drifted feature of
  // one tested would read as a share of 1. When a side has per-frame columns, its categories
  // are tested only once it has `minSamples` frames.
  const framesShort =
    windowInfo.samples > 0 && windowInfo.samples < resolved.minSamples
      ? `window has ${windowInfo.samples} frames`
      : reference.numeric.size > 0 && reference.samples < resolved.minSamples
        ? `reference has ${reference.samples} frames`
        : null;
  for (const name of categoricalNames) {
    const result = testCategorical(
      name,
      reference.categorical.get(name),
      window.categorical?.[name],
      resolved,
    );
    features.push(
      framesShort !== null && result.status === 'tested'
        ? {
            ...untested(name, 'categorical', `${framesShort}, ${resolved.minSamples} needed`, {
              nRef: result.nRef,
              nCur: result.nCur,
              droppedRef: result.droppedRef,
              droppedCur: result.droppedCur,
            }),
            distribution: result.distribution ?? null,
          }
        : result,
    );
  }

  const tested = features.filter((f) => f.status === 'tested');
  const adjusted = adjustPValues(
    tested.map((f) => f.pValue ?? Number.NaN),
    resolved.correction,
  );
  tested.forEach((f, i) => {
    f.adjustedPValue = adjusted[i]!;
    f.drifted = adjusted[i]! < resolved.alpha;
  });
  const drifted = tested.filter((f) => f.drifted);
  const skipped = features.length - tested.length;
  const skippedText = skipped > 0 ? `; ${skipped} not tested (too few samples)` : '';
  const sides = `reference '${reference.id}' (${reference.samples} samples) vs window${cameraText} (${windowInfo.samples} samples)`;

  if (tested.length === 0) {
    return {
      ...base,
      status: 'insufficient_data',
      level: 'unknown',
      drifted: false,
      driftShare: null,
      driftedFeatures: [],
      testedFeatures: 0,
      features,
      reason: `insufficient data: no feature has ${resolved.minSamples} finite samples on both sides; ${sides}`,
    };
  }

  const share = drifted.length / tested.length;
  const level = levelOf(share, resolved);
  const isDrift = level !== 'green';
  const pLabel = resolved.correction === 'none' ? 'p' : `${resolved.correction}-adjusted p`;
  const comparison = isDrift ? '>' : '≤';
  const worst = [...drifted].sort((a, b) => (a.adjustedPValue ?? 1) - (b.adjustedPValue ?? 1));
  const listed = worst.length > 0 ? `: ${worst.map(describeFeature).join(', ')}` : '';
  const reason =
    `${isDrift ? `drift (${level})` : 'no drift'}: ${drifted.length} of ${tested.length} features ` +
    `drifted (${pLabel} < ${resolved.alpha}), share ${share.toFixed(2)} ${comparison} ` +
    `${resolved.driftShareThreshold}${listed}${skippedText}; ${sides}`;
  return {
    ...base,
    status: isDrift ? 'drift' : 'ok',
    level,
    drifted: isDrift,
    driftShare: share,
    driftedFeatures: drifted.map((f) => f.feature),
    testedFeatures: tested.length,
    features,
    reason,
  };
}
