/**
 * The decision of an inspection chain (docs/pipeline.md): the camera's rules, in order, over
 * the detections and what the later stages said about them. The first rule that matches fails
 * the part and names itself (`decidedBy`); with no rules the default rule holds — FAIL when a
 * detection reaches the fail threshold (src/vision/decision.ts, today's behaviour), named
 * `fail-threshold`. Detections the classifier vetoed count for no rule, the default included.
 *
 * Pure: no I/O, no Node-only imports.
 */
import {
  DEFAULT_RULE_ID,
  type ChainConfig,
  type DecisionRule,
} from '../shared/api/inspection-chain.js';
import type { Decision, Detection, InspectionStages } from '../shared/domain.js';
import { DEFAULT_DECISION_POLICY, decideFrame, type DecisionPolicy } from './decision.js';

export interface ChainDecision {
  decision: Decision;
  /** The id of the rule that failed the part; undefined when it passed. */
  decidedBy?: string;
}

/** The detections no veto removed (all of them without stages). */
export function countedDetections(
  detections: readonly Detection[],
  stages: InspectionStages | null,
): Detection[] {
  if (stages === null) return [...detections];
  return detections.filter((_, index) => stages.detections[index]?.vetoed !== true);
}

/** Whether one rule fails the part, given the counted (non-vetoed) detections and the stages. */
export function ruleMatches(
  rule: DecisionRule,
  counted: readonly Detection[],
  stages: InspectionStages | null,
): boolean {
  switch (rule.when) {
    case 'class': {
      const classes = new Set(rule.classes);
      return counted.some((d) => classes.has(d.className) && d.confidence >= rule.minConfidence);
    }
    case 'any-defect':
      return counted.some((d) => d.confidence >= rule.minConfidence);
    case 'area-mm2':
      return stages?.totalAreaMm2 != null && stages.totalAreaMm2 > rule.gt;
    case 'area-px':
      return stages?.totalAreaPx != null && stages.totalAreaPx > rule.gt;
    case 'severity':
      return stages?.maxSeverity != null && stages.maxSeverity >= rule.gte;
  }
}

/**
 * PASS or FAIL of one frame under `chain`'s rules (see the module comment). `policy` is the
 * default rule: a fail threshold, or the whole DecisionPolicy the pipeline runs with (fail
 * classes, minimum box area), so a camera without rules decides exactly as before chains.
 */
export function decideWithChain(
  detections: readonly Detection[],
  stages: InspectionStages | null,
  chain: Pick<ChainConfig, 'rules'>,
  policy: number | DecisionPolicy,
): ChainDecision {
  const counted = countedDetections(detections, stages);
  if (chain.rules.length === 0) {
    const defaultPolicy =
      typeof policy === 'number' ? { ...DEFAULT_DECISION_POLICY, failThreshold: policy } : policy;
    return decideFrame(counted, defaultPolicy) === 'FAIL'
      ? { decision: 'FAIL', decidedBy: DEFAULT_RULE_ID }
      : { decision: 'PASS' };
  }
  for (const rule of chain.rules) {
    if (ruleMatches(rule, counted, stages)) return { decision: 'FAIL', decidedBy: rule.id };
  }
  return { decision: 'PASS' };
}
