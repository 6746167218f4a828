/**
 * What the inspection pages show of a frame's later stages (classify, segment), its deciding
 * rule and its shadow, as plain data: one row per detection, the texts of the list's columns,
 * the mask outlines and the shadow's boxes. Import-free apart from shared types, so it runs
 * under Node in test/web.
 */
import { DEFAULT_RULE_ID } from '../../../../src/shared/api/inspection-chain.js';
import type { FrameResult } from '../../../../src/shared/domain.js';

/** Colour of the shadow model's boxes (teal: neither the defect red nor the uncertain amber). */
export const SHADOW_COLOR = '#0b7285';
/** Colour of a vetoed detection's mask (grey: it counts for no rule). */
export const VETOED_COLOR = '#6b7280';

export type StagedResult = Pick<
  FrameResult,
  'detections' | 'decision' | 'stages' | 'decidedBy' | 'shadow' | 'uncertain'
>;

export interface DetectionStageRow {
  index: number;
  className: string;
  confidence: number;
  /** `crack 91 %` from the classifier, or null when no classify stage ran on it. */
  cropClass: string | null;
  vetoed: boolean;
  areaPx: number | null;
  areaMm2: number | null;
  /** Points of the mask outline (0 when no mask). */
  maskPoints: number;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(0)} %`;
}

/** One row per detection with what the later stages said about it. */
export function detectionStageRows(result: StagedResult): DetectionStageRow[] {
  return result.detections.map((detection, index) => {
    const stage = result.stages?.detections[index];
    const classification = stage?.classification;
    const segmentation = stage?.segmentation;
    return {
      index,
      className: detection.className,
      confidence: detection.confidence,
      cropClass:
        classification === undefined
          ? null
          : `${classification.className} ${percent(classification.confidence)}`,
      vetoed: stage?.vetoed ?? false,
      areaPx: segmentation?.areaPx ?? null,
      areaMm2: segmentation?.areaMm2 ?? null,
      maskPoints: Math.floor((segmentation?.polygon.length ?? 0) / 2),
    };
  });
}

/** `412 px`, `412 px · 3.10 mm²`, or `—`. */
export function formatArea(areaPx: number | null, areaMm2: number | null): string {
  if (areaPx === null) return '—';
  const px = `${Math.round(areaPx)} px`;
  return areaMm2 === null ? px : `${px} · ${areaMm2.toFixed(2)} mm²`;
}

/**
 * Why the part got its decision, in words: the rule id that failed it (`rule crack-any`), the
 * default rule, or — for a PASS — that no rule matched.
 */
export function decidedByText(result: Pick<FrameResult, 'decision' | 'decidedBy'>): string {
  if (result.decidedBy === undefined) {
    return result.decision === 'PASS' ? 'no rule matched' : 'not recorded';
  }
  if (result.decidedBy === DEFAULT_RULE_ID) return `default rule (${DEFAULT_RULE_ID})`;
  return `rule ${result.decidedBy}`;
}

/**
 * The list's stage column: crop classes (vetoed ones marked), then the total area; `—` when
 * no stage after detect ran on the frame.
 */
export function stagesSummary(result: StagedResult): string {
  const stages = result.stages;
  if (stages === undefined) return '—';
  const parts: string[] = [];
  const rows = detectionStageRows(result);
  const classes = rows
    .filter((row) => row.cropClass !== null)
    .map((row) => `${row.cropClass?.replace(/ \d+ %$/, '') ?? ''}${row.vetoed ? ' (vetoed)' : ''}`);
  if (classes.length > 0) parts.push(classes.join(', '));
  if (stages.totalAreaPx !== null) parts.push(formatArea(stages.totalAreaPx, stages.totalAreaMm2));
  return parts.length === 0 ? 'no crops' : parts.join(' · ');
}

/** `classify 3.1 ms · segment 7.4 ms`, or null when no stage ran. */
export function stageTimingsText(result: StagedResult): string | null {
  const timings = result.stages?.timings;
  if (timings === undefined) return null;
  const parts: string[] = [];
  if (timings.classifyMs !== undefined) parts.push(`classify ${timings.classifyMs.toFixed(1)} ms`);
  if (timings.segmentMs !== undefined) parts.push(`segment ${timings.segmentMs.toFixed(1)} ms`);
  return parts.length === 0 ? null : parts.join(' · ');
}

export interface MaskOutline {
  points: readonly number[];
  color?: string;
  tone?: 'defect';
}

/** The segment stage's mask outlines, vetoed ones in grey; empty masks are left out. */
export function maskOutlines(result: StagedResult): MaskOutline[] {
  const outlines: MaskOutline[] = [];
  for (const stage of result.stages?.detections ?? []) {
    const polygon = stage.segmentation?.polygon ?? [];
    if (polygon.length < 6) continue;
    outlines.push(
      stage.vetoed ? { points: polygon, color: VETOED_COLOR } : { points: polygon, tone: 'defect' },
    );
  }
  return outlines;
}

export interface ShadowBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  label: string;
  color: string;
  dashed: true;
  labelBelow: true;
}

/** The shadow model's boxes, dashed teal, labelled `shadow crack 80%` under the box. */
export function shadowBoxes(result: StagedResult): ShadowBox[] {
  return (result.shadow?.detections ?? []).map((detection) => ({
    ...detection.box,
    label: `shadow ${detection.className} ${(detection.confidence * 100).toFixed(0)}%`,
    color: SHADOW_COLOR,
    dashed: true,
    labelBelow: true,
  }));
}
