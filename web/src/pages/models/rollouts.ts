/**
 * The Rollouts panel's model (Models → Rollouts): the start form as text (`StartDraft`) checked
 * with the API's startRolloutRequestSchema (each problem keyed by its field: `candidateVersion`,
 * `cameras`, `share`, `rules.maxDisagreement`, …), the candidates a stage can roll out, and a
 * rollout's metrics as rows (candidate vs baseline) and its breaches in words. Import-free apart
 * from the shared contracts, so it runs under Node in test/web. Sends nothing itself.
 */
import type { ModelSummary } from '../../../../src/shared/api/models.js';
import {
  DEFAULT_ROLLOUT_RULES,
  startRolloutRequestSchema,
} from '../../../../src/shared/api/rollouts.js';
import type {
  RolloutBreach,
  RolloutGroupMetrics,
  RolloutKind,
  RolloutMetrics,
  RolloutRules,
  StartRolloutRequest,
} from '../../../../src/shared/api/rollouts.js';

export type RolloutStage = 'detect' | 'classify' | 'segment';
export type RuleName = keyof RolloutRules;

export const RULE_FIELDS: readonly { name: RuleName; label: string; hint: string }[] = [
  { name: 'minFrames', label: 'Min canary frames', hint: 'before any automatic verdict' },
  {
    name: 'maxDefectRateDelta',
    label: 'Max defect rate delta',
    hint: 'canary − baseline, 0..1',
  },
  {
    name: 'maxUncertainRateDelta',
    label: 'Max uncertain rate delta',
    hint: 'canary − baseline, 0..1',
  },
  { name: 'maxDisagreement', label: 'Max disagreement', hint: 'mean, 0..1' },
  { name: 'maxLatencyRatio', label: 'Max latency ratio', hint: 'canary p50 / baseline p50' },
  {
    name: 'promoteAfterFrames',
    label: 'Promote after frames',
    hint: 'clean canary frames; empty: only by hand',
  },
];

export interface StartDraft {
  kind: RolloutKind;
  stage: RolloutStage;
  candidateVersion: string;
  /** Canary: who takes part — named cameras or a share of them. Shadow: cameras or all. */
  target: 'cameras' | 'share';
  /** Camera names, comma-separated. */
  cameras: string;
  share: string;
  rules: Record<RuleName, string>;
  reason: string;
}

/** Problems by field key; `''` holds what no field owns. */
export type StartErrors = Record<string, string>;

export function initialStartDraft(): StartDraft {
  const rules = {} as Record<RuleName, string>;
  for (const { name } of RULE_FIELDS) {
    const value = DEFAULT_ROLLOUT_RULES[name];
    rules[name] = value === null ? '' : String(value);
  }
  return {
    kind: 'canary',
    stage: 'detect',
    candidateVersion: '',
    target: 'cameras',
    cameras: '',
    share: '',
    rules,
    reason: '',
  };
}

/**
 * The registered versions that can roll out on `stage`: models of that task, newest first,
 * without the one `production` serves now (rolling it out would change nothing).
 */
export function candidatesFor(
  models: readonly ModelSummary[],
  stage: RolloutStage,
  servingVersion: string | null,
): ModelSummary[] {
  return models.filter((m) => m.task === stage && m.version !== servingVersion);
}

function numberOf(value: string): number {
  const trimmed = value.trim();
  return trimmed === '' ? Number.NaN : Number(trimmed);
}

export type StartCheck =
  | { ok: true; body: StartRolloutRequest; errors: StartErrors }
  | { ok: false; body: null; errors: StartErrors };

/** The start form checked with the API's schema plus the rules the schema cannot say. */
export function checkStartDraft(draft: StartDraft): StartCheck {
  const errors: StartErrors = {};
  const cameras = draft.cameras
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const body: Record<string, unknown> = {
    kind: draft.kind,
    stage: draft.stage,
    candidateVersion: draft.candidateVersion.trim(),
  };
  if (draft.candidateVersion.trim() === '') errors.candidateVersion = 'Pick a candidate version.';
  if (draft.kind === 'shadow' && draft.stage !== 'detect') {
    errors.stage = 'A shadow runs a detector: stage detect only.';
  }
  if (draft.kind === 'canary') {
    if (draft.target === 'cameras') {
      if (cameras.length === 0) errors.cameras = 'Name at least one canary camera.';
      body.cameras = cameras;
    } else {
      body.share = numberOf(draft.share);
    }
    const rules: Record<string, number | null> = {};
    for (const { name } of RULE_FIELDS) {
      const text = draft.rules[name].trim();
      if (name === 'promoteAfterFrames' && text === '') rules[name] = null;
      else rules[name] = numberOf(text);
    }
    body.rules = rules;
  } else {
    // Shadow: where it runs (all cameras when none named) and on which share of the frames.
    if (cameras.length > 0) body.cameras = cameras;
    if (draft.share.trim() !== '') body.share = numberOf(draft.share);
  }
  if (draft.reason.trim() !== '') body.reason = draft.reason.trim();

  const parsed = startRolloutRequestSchema.safeParse(body);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.map(String).join('.');
      const last = issue.path.at(-1);
      const text =
        key === 'share'
          ? draft.share
          : key.startsWith('rules.')
            ? draft.rules[String(last) as RuleName]
            : undefined;
      const notANumber = text !== undefined && !Number.isFinite(numberOf(text));
      errors[key] ??= notANumber ? 'Enter a number.' : issue.message;
    }
  }
  if (!parsed.success || Object.keys(errors).length > 0) return { ok: false, body: null, errors };
  return { ok: true, body: parsed.data, errors };
}

/** `12.5 %`, or `—`. */
export function percentText(share: number | null): string {
  return share === null ? '—' : `${(share * 100).toFixed(1)} %`;
}

export interface MetricRow {
  label: string;
  candidate: string;
  baseline: string;
  /** Candidate against baseline: `+2.0 pts`, `×1.20`, or `—`. */
  delta: string;
}

function deltaPoints(a: number | null, b: number | null): string {
  if (a === null || b === null) return '—';
  const points = (a - b) * 100;
  return `${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(1)} pts`;
}

function ms(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(1)} ms`;
}

/** Candidate vs baseline: frames, defect rate, uncertain rate, disagreement, p50 latency. */
export function metricRows(metrics: Pick<RolloutMetrics, 'candidate' | 'baseline'>): MetricRow[] {
  const c: RolloutGroupMetrics = metrics.candidate;
  const b: RolloutGroupMetrics = metrics.baseline;
  return [
    {
      label: 'Frames',
      candidate: String(c.frames),
      baseline: String(b.frames),
      delta: '—',
    },
    {
      label: 'Defect rate',
      candidate: percentText(c.defectRate),
      baseline: percentText(b.defectRate),
      delta: deltaPoints(c.defectRate, b.defectRate),
    },
    {
      label: 'Uncertain rate',
      candidate: percentText(c.uncertainRate),
      baseline: percentText(b.uncertainRate),
      delta: deltaPoints(c.uncertainRate, b.uncertainRate),
    },
    {
      label: 'Disagreement',
      candidate: c.disagreement === null ? '—' : c.disagreement.toFixed(3),
      baseline: b.disagreement === null ? '—' : b.disagreement.toFixed(3),
      delta: `${c.shadowFrames} / ${b.shadowFrames} shadowed frames`,
    },
    {
      label: 'Inference p50',
      candidate: ms(c.inferenceMsP50),
      baseline: ms(b.inferenceMsP50),
      delta:
        c.inferenceMsP50 === null || b.inferenceMsP50 === null || b.inferenceMsP50 === 0
          ? '—'
          : `×${(c.inferenceMsP50 / b.inferenceMsP50).toFixed(2)}`,
    },
  ];
}

const BREACH_LABELS: Record<RolloutBreach['metric'], string> = {
  defectRateDelta: 'defect rate delta',
  uncertainRateDelta: 'uncertain rate delta',
  disagreement: 'disagreement',
  latencyRatio: 'latency ratio',
};

/** `disagreement 0.420 > 0.350`. */
export function breachText(breach: RolloutBreach): string {
  const digits = breach.metric === 'latencyRatio' ? 2 : 3;
  return `${BREACH_LABELS[breach.metric]} ${breach.value.toFixed(digits)} > ${breach.threshold.toFixed(digits)}`;
}

/** The verdict as a badge level and word. */
export function verdictBadge(verdict: RolloutMetrics['verdict']): {
  level: 'green' | 'red' | 'unknown';
  label: string;
} {
  switch (verdict) {
    case 'healthy':
      return { level: 'green', label: 'healthy' };
    case 'breach':
      return { level: 'red', label: 'breach' };
    case 'waiting':
      return { level: 'unknown', label: 'waiting for frames' };
  }
}

/** Who takes part, in words: `cameras cam-1, cam-2`, `50 % of the cameras`, `all cameras`. */
export function participantsText(rollout: {
  kind: RolloutKind;
  cameras: readonly string[] | null;
  share: number | null;
}): string {
  const who =
    rollout.cameras !== null && rollout.cameras.length > 0
      ? `cameras ${rollout.cameras.join(', ')}`
      : rollout.kind === 'canary' && rollout.share !== null
        ? `${(rollout.share * 100).toFixed(0)} % of the cameras`
        : 'all cameras';
  if (rollout.kind === 'shadow' && rollout.share !== null) {
    return `${who}, ${(rollout.share * 100).toFixed(0)} % of the frames`;
  }
  return who;
}
