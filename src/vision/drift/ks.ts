/**
 * Two-sample Kolmogorov–Smirnov test (two-sided) with SciPy's `ks_2samp(method='auto')`
 * semantics (SciPy 1.10, Debian's python3-scipy; checked against it in ks.test.ts):
 *
 * - Statistic: D = max |F₁(x) − F₂(x)| over the pooled sample, each ECDF counting values ≤ x,
 *   so tied values (within or across samples) move both ECDFs at once before D is read.
 * - 'auto' computes the exact p-value when max(n₁, n₂) ≤ 10 000, else the asymptotic one.
 * - Exact: P(D ≥ d) under H₀ for continuous data (every arrangement of the pooled sample equally
 *   likely), with d rounded to the lattice h / lcm(n₁, n₂). Equal sizes use the reflection sum
 *   2 Σₖ (−1)^(k+1) C(2n, n − kh) / C(2n, n); unequal sizes walk the lattice paths from (0, 0)
 *   to (n₁, n₂) and carry, per cell, the fraction of paths that have touched |x/n₁ − y/n₂| ≥ d
 *   (a value in [0, 1], precise even when tiny). A result outside [0, 1] from rounding falls
 *   back to the asymptotic p-value, as SciPy does.
 * - Asymptotic: SciPy evaluates the one-sample distribution `kstwo` at
 *   n = round(n₁n₂ / (n₁ + n₂)) (round half to even), not the limiting Kolmogorov law; so do we.
 * - Ties: the null distribution is the continuous one, as in SciPy, so with ties the p-value is
 *   conservative (ties can only lower D).
 *
 * One deliberate difference, for speed: in 'auto' mode, when the exact lattice walk would
 * visit more than EXACT_CELL_BUDGET cells (thousands of samples on both sides, unequal sizes)
 * and the asymptotic p-value is below ASYMPTOTIC_SHORTCUT_P, the asymptotic p-value is
 * returned and `method` says 'asymp'. Such a p-value is far below any α, so no decision changes;
 * wherever a p-value could matter the exact one is computed, as SciPy does.
 *
 * Pure: no I/O. Inputs must be finite and non-empty (INVALID_ARGUMENT otherwise); cleaning NaN
 * and ±Infinity is the caller's policy (see drift-detector.ts).
 */
import { VisionLoopError } from '../../shared/errors.js';
import { kolmogorovSf } from './kolmogorov.js';

export type KsMethod = 'exact' | 'asymp';

export interface KsTestOptions {
  /** 'auto' (default): exact when max(n₁, n₂) ≤ 10 000, asymptotic otherwise. */
  method?: 'auto' | KsMethod;
}

export interface KsTestResult {
  /** D, the largest distance between the two ECDFs, 0..1. */
  statistic: number;
  pValue: number;
  /** The method that produced `pValue`. */
  method: KsMethod;
  n1: number;
  n2: number;
  /** A pooled value where the ECDFs are farthest apart (the smallest such value). */
  location: number;
  /**
   * +1 when the first sample's ECDF is above the second's there (the second sample tends to
   * larger values), −1 when below.
   */
  sign: 1 | -1;
}

/** SciPy's switch: 'auto' is exact while both samples have at most this many values. */
export const KS_MAX_AUTO_EXACT_N = 10_000;

/** Cells of the exact lattice walk above which 'auto' may answer asymptotically (see header). */
export const EXACT_CELL_BUDGET = 1_000_000;

/** Asymptotic p-values below this skip an expensive exact walk in 'auto' mode (see header). */
export const ASYMPTOTIC_SHORTCUT_P = 1e-6;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** numpy's round: half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkSample(values: ArrayLike<number>, name: string): void {
  if (values.length === 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `KS test: sample '${name}' is empty`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `KS test: sample '${name}' holds a non-finite value at index ${i}`,
      );
    }
  }
}

/** Copies and sorts ascending (numeric order). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** Two-sample KS test on unsorted samples (copies and sorts them). */
export function ksTwoSample(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: KsTestOptions = {},
): KsTestResult {
  checkSample(a, 'a');
  checkSample(b, 'b');
  return ksSortedUnchecked(sortedCopy(a), sortedCopy(b), options);
}

/**
 * Two-sample KS test on samples already sorted ascending (e.g. a prepared reference), without
 * copying. The caller guarantees the order; values are checked to be finite.
 */
export function ksTwoSampleSorted(
  sortedA: Float64Array,
  sortedB: Float64Array,
  options: KsTestOptions = {},
): KsTestResult {
  checkSample(sortedA, 'a');
  checkSample(sortedB, 'b');
  return ksSortedUnchecked(sortedA, sortedB, options);
}

function ksSortedUnchecked(a: Float64Array, b: Float64Array, options: KsTestOptions): KsTestResult {
  const n1 = a.length;
  const n2 = b.length;
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  // F₁ − F₂ scaled by lcm(n₁, n₂) is the integer i·n₂/g − j·n₁/g: exact, no rounding.
  let maxDiff = 0;
  let maxI = 0;
  let maxJ = 0;
  let maxAt = Math.min(a[0]!, b[0]!);
  let minDiff = 0;
  let minI = 0;
  let minJ = 0;
  let minAt = maxAt;
  let i = 0;
  let j = 0;
  // Once one sample is used up the difference only moves back towards 0, so stop there.
  while (i < n1 && j < n2) {
    const ai = a[i]!;
    const bj = b[j]!;
    const v = ai <= bj ? ai : bj;
    while (i < n1 && a[i]! <= v) i++;
    while (j < n2 && b[j]! <= v) j++;
    const diff = i * n2g - j * n1g;
    if (diff > maxDiff) {
      maxDiff = diff;
      maxI = i;
      maxJ = j;
      maxAt = v;
    } else if (diff < minDiff) {
      minDiff = diff;
      minI = i;
      minJ = j;
      minAt = v;
    }
  }
  const useMin = -minDiff > maxDiff;
  const h = useMin ? -minDiff : maxDiff;
  const sign: 1 | -1 = useMin ? -1 : 1;
  const location = useMin ? minAt : maxAt;
  // The statistic as SciPy's floating-point ECDF difference gives it (asymptotic mode).
  const floatD = useMin ? minJ / n2 - minI / n1 : maxI / n1 - maxJ / n2;

  const requested = options.method ?? 'auto';
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const asymptoticP = () =>
    Math.min(1, Math.max(0, kolmogorovSf(roundHalfEven((m * n) / (m + n)), floatD)));
  const asymptotic = (pValue = asymptoticP()): KsTestResult => ({
    statistic: floatD,
    pValue,
    method: 'asymp',
    n1,
    n2,
    location,
    sign,
  });
  const exact = requested === 'exact' || (requested === 'auto' && m <= KS_MAX_AUTO_EXACT_N);
  if (!exact) return asymptotic();
  const lcm = n1g * n2;
  if (h === 0) return { statistic: 0, pValue: 1, method: 'exact', n1, n2, location, sign };
  let p: number;
  if (n1 === n2) {
    p = exactEqualSizes(n1, h);
  } else {
    if (requested === 'auto' && exactCellEstimate(n1, n2, g, h) > EXACT_CELL_BUDGET) {
      const shortcut = asymptoticP();
      if (shortcut < ASYMPTOTIC_SHORTCUT_P) return asymptotic(shortcut);
    }
    p = exactUnequalSizes(n1, n2, g, h);
  }
  // Rounding can push a p-value just outside [0, 1]; SciPy then falls back to the asymptotic one.
  if (p >= 0 && p <= 1)
    return { statistic: h / lcm, pValue: p, method: 'exact', n1, n2, location, sign };
  return asymptotic();
}

/**
 * P(D ≥ h/n) for two samples of n: 2 (r₁ − r₂ + r₃ − …) with rₖ = C(2n, n−kh) / C(2n, n),
 * evaluated as 2 A₁(1 − A₂(1 − A₃(…))) with Aₖ = rₖ / rₖ₋₁, a product of h ratios ≤ 1, so
 * nothing overflows and nothing cancels badly.
 */
function exactEqualSizes(n: number, h: number): number {
  let nested = 0;
  for (let k = Math.floor(n / h); k >= 1; k--) {
    const offset = (k - 1) * h;
    let ratio = 1;
    for (let j = 0; j < h; j++) ratio = (ratio * (n - offset - j)) / (n + offset + j + 1);
    nested = ratio * (1 - nested);
  }
  return 2 * nested;
}

/** Cells the lattice walk of exactUnequalSizes visits (an upper estimate). */
function exactCellEstimate(n1: number, n2: number, g: number, h: number): number {
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const band = Math.min(n + 1, (2 * h) / (m / g) + 1);
  return m * band;
}

/**
 * P(D ≥ h / lcm) for unequal sizes, by walking the lattice paths from (0, 0) to (m, n) (one
 * step per pooled value, right for the larger sample, up for the smaller). Under H₀ every path
 * is equally likely; D ≥ d exactly when the path touches |x·n/g − y·m/g| ≥ h. B(x, y) is the
 * fraction of the C(x + y, y) paths to (x, y) that have touched that boundary: 1 on it, and
 * B(x, y) = (x·B(x−1, y) + y·B(x, y−1)) / (x + y) strictly inside. Carrying the touched
 * fraction itself (rather than 1 − the inside fraction) keeps full relative precision for
 * small p-values. One column is kept; outside the band it holds 1.
 */
function exactUnequalSizes(n1: number, n2: number, g: number, h: number): number {
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const mg = m / g;
  const ng = n / g;
  const column = new Float64Array(n + 1).fill(1);
  // 1/(x + y) from a table: a multiplication per cell instead of a division halves the time.
  const reciprocal = new Float64Array(m + n + 1);
  for (let k = 1; k <= m + n; k++) reciprocal[k] = 1 / k;
  // Inside at x: (x·ng − h) / mg < y < (x·ng + h) / mg.
  let high = Math.min(n, Math.ceil(h / mg) - 1);
  for (let y = 0; y <= high; y++) column[y] = 0;
  let low = 0;
  for (let x = 1; x <= m; x++) {
    const newLow = Math.max(0, Math.floor((x * ng - h) / mg) + 1);
    const newHigh = Math.min(n, Math.ceil((x * ng + h) / mg) - 1);
    if (newHigh < newLow) return 1;
    let below = 1;
    for (let y = newLow; y <= newHigh; y++) {
      below = (x * column[y]! + y * below) * reciprocal[x + y]!;
      column[y] = below;
    }
    // Cells that just left the band are on the boundary side from now on.
    for (let y = low; y < newLow; y++) column[y] = 1;
    low = newLow;
    high = newHigh;
  }
  return column[n]!;
}
