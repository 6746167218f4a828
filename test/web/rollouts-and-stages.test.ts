/**
 * The models page's Rollouts model (web/src/pages/models/rollouts.ts) and the inspection
 * pages' stage texts (web/src/pages/inspections/stages.ts) under Node: the start form sends
 * what the API's schema accepts with DEFAULT_ROLLOUT_RULES filled in and refuses the rest at
 * the field; candidates are the models of the stage's task; metrics read as rows; a frame's
 * stages, deciding rule, masks and shadow boxes read as the pages show them.
 */
import { describe, expect, it } from 'vitest';
import type { ModelSummary } from '../../src/shared/api/models.js';
import { DEFAULT_ROLLOUT_RULES } from '../../src/shared/api/rollouts.js';
import type { RolloutGroupMetrics } from '../../src/shared/api/rollouts.js';
import type { Detection, FrameResult } from '../../src/shared/domain.js';
import {
  SHADOW_COLOR,
  VETOED_COLOR,
  decidedByText,
  detectionStageRows,
  formatArea,
  maskOutlines,
  shadowBoxes,
  stageTimingsText,
  stagesSummary,
} from '../../web/src/pages/inspections/stages.js';
import {
  breachText,
  candidatesFor,
  checkStartDraft,
  initialStartDraft,
  metricRows,
  participantsText,
  verdictBadge,
} from '../../web/src/pages/models/rollouts.js';
import { svgPoints } from '../../web/src/components/polygon.js';

function model(version: string, task: ModelSummary['task']): ModelSummary {
  return {
    version,
    source: 'trained',
    sha256: 'a'.repeat(64),
    bytes: 1000,
    task,
    layout: task === 'detect' ? 'yolov8' : task === 'classify' ? 'classify' : 'crop-mask',
    classNames: ['crack'],
    imgsz: 320,
    hasWeights: false,
    parentVersion: null,
    datasetId: null,
    aliases: [],
    notes: null,
    createdBy: null,
    createdAt: 1_700_000_000_000,
  };
}

function group(partial: Partial<RolloutGroupMetrics>): RolloutGroupMetrics {
  return {
    cameras: ['cam-1'],
    frames: 0,
    defectRate: null,
    uncertainRate: null,
    disagreement: null,
    shadowFrames: 0,
    inferenceMsP50: null,
    ...partial,
  };
}

describe('rollout start form', () => {
  it('starts with the default rules and sends them with the named cameras', () => {
    const draft = { ...initialStartDraft(), candidateVersion: 'det-v2', cameras: 'cam-1, cam-3' };
    expect(draft.rules.maxDisagreement).toBe('0.35');
    expect(draft.rules.promoteAfterFrames).toBe('');
    const check = checkStartDraft({ ...draft, reason: '  try v2 on two cameras ' });
    expect(check.ok).toBe(true);
    expect(check.body).toEqual({
      kind: 'canary',
      stage: 'detect',
      candidateVersion: 'det-v2',
      cameras: ['cam-1', 'cam-3'],
      rules: { ...DEFAULT_ROLLOUT_RULES },
      reason: 'try v2 on two cameras',
    });
  });

  it('refuses at the field: no candidate, no cameras, a bad share, bad thresholds', () => {
    const noCameras = checkStartDraft(initialStartDraft());
    expect(noCameras.errors).toEqual({
      candidateVersion: 'Pick a candidate version.',
      cameras: 'Name at least one canary camera.',
    });
    const base = { ...initialStartDraft(), candidateVersion: 'det-v2', target: 'share' as const };
    const share = checkStartDraft({ ...base, share: '1.5' });
    expect(Object.keys(share.errors)).toEqual(['share']);
    expect(checkStartDraft({ ...base, share: '' }).errors).toEqual({ share: 'Enter a number.' });
    const rules = checkStartDraft({
      ...base,
      share: '0.5',
      rules: { ...base.rules, maxLatencyRatio: '0.5', minFrames: 'many' },
    });
    expect(Object.keys(rules.errors).sort()).toEqual(['rules.maxLatencyRatio', 'rules.minFrames']);
    expect(rules.errors['rules.minFrames']).toBe('Enter a number.');
    const shadow = checkStartDraft({ ...base, kind: 'shadow', stage: 'segment' });
    expect(shadow.errors).toEqual({ stage: 'A shadow runs a detector: stage detect only.' });
  });

  it('sends a shadow without rules, on every camera unless named', () => {
    const draft = { ...initialStartDraft(), kind: 'shadow' as const, candidateVersion: 'det-v2' };
    expect(checkStartDraft({ ...draft, share: '0.25' }).body).toEqual({
      kind: 'shadow',
      stage: 'detect',
      candidateVersion: 'det-v2',
      share: 0.25,
    });
  });

  it('offers the models of the stage, without the one serving now', () => {
    const models = [
      model('det-v3', 'detect'),
      model('cls-v1', 'classify'),
      model('det-v2', 'detect'),
      model('seg-v1', 'segment'),
    ];
    expect(candidatesFor(models, 'detect', 'det-v2').map((m) => m.version)).toEqual(['det-v3']);
    expect(candidatesFor(models, 'classify', null).map((m) => m.version)).toEqual(['cls-v1']);
  });
});

describe('rollout metrics', () => {
  it('reads candidate against baseline as rows', () => {
    const rows = metricRows({
      candidate: group({
        frames: 240,
        defectRate: 0.125,
        uncertainRate: 0.05,
        disagreement: 0.2,
        shadowFrames: 48,
        inferenceMsP50: 18,
      }),
      baseline: group({ frames: 610, defectRate: 0.1, uncertainRate: 0.075, inferenceMsP50: 15 }),
    });
    expect(rows.map((r) => [r.label, r.candidate, r.baseline, r.delta])).toEqual([
      ['Frames', '240', '610', '—'],
      ['Defect rate', '12.5 %', '10.0 %', '+2.5 pts'],
      ['Uncertain rate', '5.0 %', '7.5 %', '−2.5 pts'],
      ['Disagreement', '0.200', '—', '48 / 0 shadowed frames'],
      ['Inference p50', '18.0 ms', '15.0 ms', '×1.20'],
    ]);
    expect(breachText({ metric: 'disagreement', value: 0.42, threshold: 0.35 })).toBe(
      'disagreement 0.420 > 0.350',
    );
    expect(breachText({ metric: 'latencyRatio', value: 2, threshold: 1.5 })).toBe(
      'latency ratio 2.00 > 1.50',
    );
    expect(verdictBadge('waiting')).toEqual({ level: 'unknown', label: 'waiting for frames' });
    expect(participantsText({ kind: 'canary', cameras: null, share: 0.5 })).toBe(
      '50 % of the cameras',
    );
    expect(participantsText({ kind: 'shadow', cameras: ['cam-2'], share: 0.2 })).toBe(
      'cameras cam-2, 20 % of the frames',
    );
  });
});

const crack: Detection = {
  classId: 1,
  className: 'crack',
  confidence: 0.91,
  box: { x1: 10, y1: 20, x2: 60, y2: 80 },
};
const stain: Detection = {
  classId: 3,
  className: 'stain',
  confidence: 0.55,
  box: { x1: 100, y1: 100, x2: 130, y2: 120 },
};

const staged: Pick<
  FrameResult,
  'detections' | 'decision' | 'stages' | 'decidedBy' | 'shadow' | 'uncertain'
> = {
  detections: [crack, stain],
  decision: 'FAIL',
  uncertain: false,
  decidedBy: 'big-area',
  stages: {
    versions: { classify: 'cls-v1', segment: 'seg-v1' },
    detections: [
      {
        classification: { classId: 2, className: 'deep-crack', confidence: 0.876 },
        segmentation: { areaPx: 412.4, areaMm2: 3.1, polygon: [12, 22, 58, 24, 40, 78] },
        vetoed: false,
      },
      {
        classification: { classId: 0, className: 'not_defect', confidence: 0.7 },
        segmentation: { areaPx: 50, areaMm2: 0.4, polygon: [101, 101, 129, 101, 115, 119] },
        vetoed: true,
      },
    ],
    totalAreaPx: 412.4,
    totalAreaMm2: 3.1,
    maxSeverity: 2,
    timings: { classifyMs: 3.14, segmentMs: 7.4 },
  },
  shadow: {
    version: 'det-v2',
    detections: [crack],
    decision: 'FAIL',
    disagreement: 0.33,
    disagrees: false,
    inferenceMs: 14,
  },
};

describe('inspection stages', () => {
  it('reads each detection with its crop class, veto and area', () => {
    expect(detectionStageRows(staged)).toEqual([
      {
        index: 0,
        className: 'crack',
        confidence: 0.91,
        cropClass: 'deep-crack 88 %',
        vetoed: false,
        areaPx: 412.4,
        areaMm2: 3.1,
        maskPoints: 3,
      },
      {
        index: 1,
        className: 'stain',
        confidence: 0.55,
        cropClass: 'not_defect 70 %',
        vetoed: true,
        areaPx: 50,
        areaMm2: 0.4,
        maskPoints: 3,
      },
    ]);
    expect(stagesSummary(staged)).toBe('deep-crack, not_defect (vetoed) · 412 px · 3.10 mm²');
    expect(stageTimingsText(staged)).toBe('classify 3.1 ms · segment 7.4 ms');
    expect(formatArea(412.4, null)).toBe('412 px');
    expect(formatArea(null, null)).toBe('—');
  });

  it('says which rule decided', () => {
    expect(decidedByText(staged)).toBe('rule big-area');
    expect(decidedByText({ decision: 'FAIL', decidedBy: 'fail-threshold' })).toBe(
      'default rule (fail-threshold)',
    );
    expect(decidedByText({ decision: 'PASS' })).toBe('no rule matched');
    const detectOnly = { ...staged, stages: undefined, shadow: undefined };
    expect(stagesSummary(detectOnly)).toBe('—');
    expect(stageTimingsText(detectOnly)).toBeNull();
    expect(detectionStageRows(detectOnly)[0]?.cropClass).toBeNull();
  });

  it('draws masks (vetoed in grey) and the shadow boxes dashed in their own colour', () => {
    expect(maskOutlines(staged)).toEqual([
      { points: [12, 22, 58, 24, 40, 78], tone: 'defect' },
      { points: [101, 101, 129, 101, 115, 119], color: VETOED_COLOR },
    ]);
    expect(svgPoints([12, 22, 58, 24, 40, 78])).toBe('12,22 58,24 40,78');
    expect(svgPoints([1, 2, 3, 4])).toBeNull();
    expect(shadowBoxes(staged)).toEqual([
      {
        x1: 10,
        y1: 20,
        x2: 60,
        y2: 80,
        label: 'shadow crack 91%',
        color: SHADOW_COLOR,
        dashed: true,
        labelBelow: true,
      },
    ]);
  });
});
