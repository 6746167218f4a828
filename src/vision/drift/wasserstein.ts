/**
 * Wasserstein-1 (earth mover's) distance between two empirical distributions, as SciPy's
 * `wasserstein_distance` with unit weights: ∫ |F₁(x) − F₂(x)| dx over the pooled sample, in the
 * feature's own unit. And the spread used to turn it into a unit-free magnitude.
 *
 * Scaling (documented in docs/drift.md): magnitude = W₁ / σ̂ with σ̂ = IQR / 1.349 of the
 * reference — the interquartile range rescaled so that it equals the standard deviation for
 * normal data, and unmoved by the few broken or extreme frames a reference may hold. When the
 * IQR is 0 (more than half the reference on one value) the population standard deviation is
 * used; when that is 0 too (a constant reference) there is no scale and the magnitude is
 * undefined (null).
 *
 * Pure; inputs must be finite and non-empty (INVALID_ARGUMENT otherwise).
 */
import { VisionLoopError } from '../../shared/errors.js';
import { sortedCopy } from './ks.js';

/** IQR of a normal distribution in standard deviations: 2 Φ⁻¹(0.75). */
export const NORMAL_IQR = 1.3489795003921634;

function checkSorted(values: ArrayLike<number>, name: string): void {
  if (values.length === 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `Wasserstein distance: '${name}' is empty`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `Wasserstein distance: '${name}' holds a non-finite value at index ${i}`,
      );
    }
  }
}

/** W₁ between two unsorted samples (copies and sorts them). */
export function wassersteinDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkSorted(a, 'a');
  checkSorted(b, 'b');
  return wassersteinUnchecked(sortedCopy(a), sortedCopy(b));
}

/** W₁ between two samples already sorted ascending. */
export function wassersteinSorted(sortedA: Float64Array, sortedB: Float64Array): number {
  checkSorted(sortedA, 'a');
  checkSorted(sortedB, 'b');
  return wassersteinUnchecked(sortedA, sortedB);
}

function wassersteinUnchecked(a: Float64Array, b: Float64Array): number {
  const na = a.length;
  const nb = b.length;
  let i = 0;
  let j = 0;
  let total = 0;
  // Walk the distinct pooled values; between v and the next one both ECDFs are constant.
  let v = Math.min(a[0]!, b[0]!);
  for (;;) {
    while (i < na && a[i]! <= v) i++;
    while (j < nb && b[j]! <= v) j++;
    if (i === na && j === nb) break;
    const next = i === na ? b[j]! : j === nb ? a[i]! : Math.min(a[i]!, b[j]!);
    total += Math.abs(i / na - j / nb) * (next - v);
    v = next;
  }
  return total;
}

/** Quantile q of a sorted sample with linear interpolation (numpy's default, type 7). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const position = q * (n - 1);
  const lower = Math.floor(position);
  const upper = Math.min(n - 1, lower + 1);
  const fraction = position - lower;
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * fraction;
}

/** Population standard deviation (two-pass, so a large common offset does not cancel). */
export function standardDeviation(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2;
  return Math.sqrt(squares / n);
}

export type SpreadKind = 'iqr' | 'std' | 'none';

export interface ReferenceSpread {
  /** σ̂ in the feature's unit; 0 when kind is 'none'. */
  value: number;
  kind: SpreadKind;
}

/** The reference's spread σ̂ for scaling W₁ (see the module comment). */
export function referenceSpread(sortedReference: Float64Array): ReferenceSpread {
  const iqr = quantileSorted(sortedReference, 0.75) - quantileSorted(sortedReference, 0.25);
  if (iqr > 0) return { value: iqr / NORMAL_IQR, kind: 'iqr' };
  const std = standardDeviation(sortedReference);
  if (std > 0) return { value: std, kind: 'std' };
  return { value: 0, kind: 'none' };
}
