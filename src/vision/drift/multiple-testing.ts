/**
 * Multiple-testing corrections for the per-feature p-values of one drift check: testing seven
 * features at α = 0.05 each flags at least one of them in about 30% of perfectly stable windows
 * (1 − 0.95⁷), so the detector can adjust the p-values before comparing them with α.
 * - Bonferroni: min(1, m·p) — controls the family-wise error rate.
 * - Benjamini–Hochberg: p₍ᵢ₎ · m / i, made monotone from the largest down and capped at 1 —
 *   controls the false discovery rate; the definition of statsmodels' `fdr_bh` and SciPy's
 *   `false_discovery_control(method='bh')` (SciPy ≥ 1.11).
 * Pure.
 */
export type PValueCorrection = 'none' | 'bonferroni' | 'benjamini-hochberg';

export const P_VALUE_CORRECTIONS: readonly PValueCorrection[] = [
  'none',
  'bonferroni',
  'benjamini-hochberg',
];

/** Adjusted p-values, in the order given. NaN entries stay NaN and do not count in m. */
export function adjustPValues(pValues: readonly number[], correction: PValueCorrection): number[] {
  const tested = pValues.flatMap((p, i) => (Number.isNaN(p) ? [] : [i]));
  const m = tested.length;
  const adjusted = pValues.map(() => Number.NaN);
  switch (correction) {
    case 'none':
      for (const i of tested) adjusted[i] = pValues[i]!;
      return adjusted;
    case 'bonferroni':
      for (const i of tested) adjusted[i] = Math.min(1, pValues[i]! * m);
      return adjusted;
    case 'benjamini-hochberg': {
      // Equal p-values end with equal adjusted values whatever order they sort in.
      const order = [...tested].sort((x, y) => pValues[x]! - pValues[y]!);
      let running = Infinity;
      for (let rank = m; rank >= 1; rank--) {
        const i = order[rank - 1]!;
        running = Math.min(running, (pValues[i]! * m) / rank);
        adjusted[i] = Math.min(1, running);
      }
      return adjusted;
    }
  }
}
