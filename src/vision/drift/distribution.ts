/**
 * What a drift report draws: the reference and current distribution of one feature on shared
 * bins, so a dashboard can overlay them. Pure math; it never decides drift (the KS and
 * chi-square tests in drift-detector.ts do), it only summarises what they compared.
 */

/** Numeric features: densities on equal-width bins shared by both sides. */
export interface HistogramDistribution {
  kind: 'histogram';
  /** bins + 1 ascending edges; the last bin includes its upper edge. */
  edges: number[];
  /** Share of the reference's finite values in each bin (sums to 1). */
  reference: number[];
  /** Share of the window's finite values in each bin (sums to 1). */
  current: number[];
}

/** Categorical features: the share of each category on each side. */
export interface CategoricalDistribution {
  kind: 'categories';
  categories: string[];
  reference: number[];
  current: number[];
}

export type FeatureDistribution = HistogramDistribution | CategoricalDistribution;

/** Bins per numeric histogram: enough to see a shift, small enough to send in every report. */
export const DISTRIBUTION_BINS = 20;

/** Four significant digits: the chart cannot show more, and the stored report stays small. */
function round4(value: number): number {
  return value === 0 ? 0 : Number(value.toPrecision(4));
}

function shares(counts: readonly number[], total: number): number[] {
  return counts.map((count) => (total > 0 ? round4(count / total) : 0));
}

/**
 * Histograms of two ascending arrays of finite values on the same `bins` equal-width bins over
 * their joint range. Null when either side is empty. A zero-width range (every value equal)
 * gets one bin of width 1 around it, so the chart still has an x extent.
 */
export function sharedHistogram(
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  bins: number = DISTRIBUTION_BINS,
): HistogramDistribution | null {
  if (reference.length === 0 || current.length === 0) return null;
  const min = Math.min(reference[0]!, current[0]!);
  const max = Math.max(reference[reference.length - 1]!, current[current.length - 1]!);
  if (!(Number.isFinite(min) && Number.isFinite(max))) return null;
  if (max === min) {
    return {
      kind: 'histogram',
      edges: [round4(min - 0.5), round4(min + 0.5)],
      reference: [1],
      current: [1],
    };
  }
  const width = (max - min) / bins;
  const count = (values: ArrayLike<number>): number[] => {
    const out = new Array<number>(bins).fill(0);
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(bins - 1, Math.floor((values[i]! - min) / width));
      out[bin] = (out[bin] ?? 0) + 1;
    }
    return out;
  };
  const edges = Array.from({ length: bins + 1 }, (_, i) =>
    round4(i === bins ? max : min + i * width),
  );
  return {
    kind: 'histogram',
    edges,
    reference: shares(count(reference), reference.length),
    current: shares(count(current), current.length),
  };
}

/** Category shares of both sides, in `categories` order. Null when a side counts nothing. */
export function categoricalShares(
  categories: readonly string[],
  reference: readonly number[],
  current: readonly number[],
): CategoricalDistribution | null {
  const refTotal = reference.reduce((a, b) => a + b, 0);
  const curTotal = current.reduce((a, b) => a + b, 0);
  if (refTotal <= 0 || curTotal <= 0) return null;
  return {
    kind: 'categories',
    categories: [...categories],
    reference: shares(reference, refTotal),
    current: shares(current, curTotal),
  };
}
