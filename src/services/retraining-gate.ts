/**
 * The promotion gate: whether a freshly trained candidate may replace production, from the two
 * models' scores on the same holdouts. Pure (docs/retraining.md):
 *
 * - better on the `recent` holdout (reviewed labels held out of training): candidate mAP@0.5
 *   above production's by more than `minRecentGain` (0: strictly better);
 * - no worse than `maxNominalLoss` on the `nominal` holdout (0.02 = 2 points of mAP@0.5), so a
 *   fine-tune for night shifts does not break the day shift;
 * - passing → `staging`, and `production` too when `autoPromote`; failing → rejected (the
 *   candidate stays registered for inspection, no alias moves).
 *
 * With no production model there is nothing to beat: the candidate passes. An empty recent
 * holdout cannot show improvement: the candidate is rejected. A missing nominal holdout (a
 * deployment whose classes are not the synthetic line's) skips that rule, saying so.
 */
import type { RetrainingSettings } from '../shared/api/retraining.js';

export interface HoldoutScore {
  /** COCO mAP@0.5, 0..1. */
  map50: number;
  map50_95: number;
  images: number;
  objects: number;
  /** AP@0.5 per class name, for classes with ground truth in the holdout (display only). */
  perClass?: Record<string, number>;
}

export interface HoldoutScores {
  recent: HoldoutScore | null;
  nominal: HoldoutScore | null;
}

export interface GateInput {
  candidate: HoldoutScores;
  /** Null when nothing is in production. */
  production: (HoldoutScores & { version: string }) | null;
  settings: Pick<RetrainingSettings, 'maxNominalLoss' | 'minRecentGain' | 'autoPromote'>;
}

export type GateDecision = 'production' | 'staging' | 'rejected';

export interface GateResult {
  decision: GateDecision;
  passed: boolean;
  reasons: string[];
  /** candidate − production mAP@0.5 on the recent holdout. */
  recentGain: number | null;
  /** production − candidate mAP@0.5 on the nominal holdout (positive: the candidate lost). */
  nominalLoss: number | null;
}

/** Floating-point slack when comparing mAP differences with the thresholds. */
const EPSILON = 1e-9;

function points(value: number): string {
  return `${(value * 100).toFixed(2)} pts`;
}

function map(score: HoldoutScore): string {
  return `${score.map50.toFixed(4)} (${score.images} images)`;
}

/** Applies the gate rules of the module comment. */
export function promotionGate(input: GateInput): GateResult {
  const { candidate, production, settings } = input;
  const passedDecision: GateDecision = settings.autoPromote ? 'production' : 'staging';
  const where = settings.autoPromote
    ? 'promoted to staging and production (autoPromote)'
    : 'promoted to staging; an admin promotes it to production';
  if (production === null) {
    return {
      decision: passedDecision,
      passed: true,
      reasons: [`nothing is in production to compare with: ${where}`],
      recentGain: null,
      nominalLoss: null,
    };
  }
  const reasons: string[] = [];
  let passed = true;

  let recentGain: number | null = null;
  if (candidate.recent === null || candidate.recent.images === 0 || production.recent === null) {
    passed = false;
    reasons.push(
      'the recent holdout is empty (no held-out reviewed labels in this snapshot): improvement cannot be shown',
    );
  } else {
    recentGain = candidate.recent.map50 - production.recent.map50;
    const better = recentGain > settings.minRecentGain + EPSILON;
    if (!better) passed = false;
    reasons.push(
      `recent holdout mAP@0.5: candidate ${map(candidate.recent)} vs production ${production.version} ` +
        `${map(production.recent)}: ${recentGain >= 0 ? '+' : ''}${points(recentGain)} ` +
        (better
          ? `(better${settings.minRecentGain > 0 ? ` by more than ${points(settings.minRecentGain)}` : ''})`
          : `(not better${settings.minRecentGain > 0 ? ` by more than ${points(settings.minRecentGain)}` : ''})`),
    );
  }

  let nominalLoss: number | null = null;
  if (candidate.nominal === null || production.nominal === null) {
    reasons.push('no nominal holdout for this deployment: the nominal rule was skipped');
  } else {
    nominalLoss = production.nominal.map50 - candidate.nominal.map50;
    const within = nominalLoss <= settings.maxNominalLoss + EPSILON;
    if (!within) passed = false;
    reasons.push(
      `nominal holdout mAP@0.5: candidate ${map(candidate.nominal)} vs production ${map(production.nominal)}: ` +
        (nominalLoss > 0 ? `loses ${points(nominalLoss)}` : `gains ${points(-nominalLoss)}`) +
        ` (at most ${points(settings.maxNominalLoss)} may be lost${within ? '' : ': too much'})`,
    );
  }

  reasons.push(passed ? `passed the gate: ${where}` : 'rejected: production stays as it is');
  return {
    decision: passed ? passedDecision : 'rejected',
    passed,
    reasons,
    recentGain,
    nominalLoss,
  };
}
