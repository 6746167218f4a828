/**
 * Chi-square test of homogeneity for a categorical feature (the class mix: detections per
 * class), reference counts against current counts, with the semantics of SciPy's
 * `chi2_contingency` on the 2×k table [reference; current]:
 * - expected counts E = row total × column total / grand total; statistic Σ (O − E)² / E;
 *   p = P(χ²_dof ≥ statistic) with dof = k − 1;
 * - Yates' continuity correction when dof = 1 (on by default, as in SciPy): each observed count
 *   moves towards its expected count by min(0.5, |E − O|);
 * - one category left (dof = 0): statistic 0, p = 1.
 * Zero cells: a category absent from both samples has a zero expected count, which SciPy
 * rejects; it carries no evidence either way, so it is dropped first and reported in
 * `droppedCategories`. A category seen in only one sample stays (its expected count is > 0).
 *
 * Pure. Throws INVALID_ARGUMENT for mismatched lengths, negative or non-finite counts, or a
 * sample with no counts at all (the drift detector reports that as insufficient data instead).
 */
import { VisionLoopError } from '../../shared/errors.js';
import { chiSquareSf } from './special.js';

export interface ChiSquareOptions {
  /** Yates' continuity correction for 2 categories (default true, as SciPy). */
  yatesCorrection?: boolean;
}

export interface ChiSquareResult {
  statistic: number;
  pValue: number;
  dof: number;
  /** Indices of the categories tested (present in at least one sample). */
  keptCategories: number[];
  /** Indices of the categories absent from both samples. */
  droppedCategories: number[];
  /** Smallest expected count among the kept cells (the approximation wants ≥ 5). */
  minExpected: number;
  yatesApplied: boolean;
}

function checkCounts(counts: readonly number[], name: string): number {
  let total = 0;
  for (const [i, c] of counts.entries()) {
    if (!Number.isFinite(c) || c < 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `chi-square: ${name} count ${i} is ${c}; counts must be finite and ≥ 0`,
      );
    }
    total += c;
  }
  if (!(total > 0)) {
    throw new VisionLoopError('INVALID_ARGUMENT', `chi-square: the ${name} counts are all zero`);
  }
  return total;
}

/** Chi-square homogeneity test of two count vectors over the same categories. */
export function chiSquareHomogeneity(
  reference: readonly number[],
  current: readonly number[],
  options: ChiSquareOptions = {},
): ChiSquareResult {
  if (reference.length !== current.length) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `chi-square: ${reference.length} reference categories but ${current.length} current ones`,
    );
  }
  const refTotal = checkCounts(reference, 'reference');
  const curTotal = checkCounts(current, 'current');
  const total = refTotal + curTotal;
  const keptCategories: number[] = [];
  const droppedCategories: number[] = [];
  for (let k = 0; k < reference.length; k++) {
    if (reference[k]! + current[k]! > 0) keptCategories.push(k);
    else droppedCategories.push(k);
  }
  const dof = keptCategories.length - 1;
  const observed: number[] = [];
  const expected: number[] = [];
  for (const k of keptCategories) {
    const column = reference[k]! + current[k]!;
    observed.push(reference[k]!, current[k]!);
    expected.push((refTotal * column) / total, (curTotal * column) / total);
  }
  const minExpected = Math.min(...expected);
  if (dof === 0) {
    return {
      statistic: 0,
      pValue: 1,
      dof,
      keptCategories,
      droppedCategories,
      minExpected,
      yatesApplied: false,
    };
  }
  const yatesApplied = dof === 1 && (options.yatesCorrection ?? true);
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    let o = observed[i]!;
    const e = expected[i]!;
    if (yatesApplied) {
      const diff = e - o;
      o += Math.sign(diff) * Math.min(0.5, Math.abs(diff));
    }
    statistic += ((o - e) * (o - e)) / e;
  }
  return {
    statistic,
    pValue: chiSquareSf(statistic, dof),
    dof,
    keptCategories,
    droppedCategories,
    minExpected,
    yatesApplied,
  };
}
