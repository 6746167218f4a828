/**
 * The retraining policy: given what holds now (reviewed labels, drift, the last and the active
 * training, the settings), whether a training should start, what triggered it, and why — or
 * why not. Pure: no I/O, no clock (the caller passes `now`), so every decision can be tested
 * on a constructed state and shown to people as it was made (GET /api/retraining/conditions).
 *
 * Rules (docs/retraining.md):
 * - at most one training at a time: a queued or running training job blocks everything,
 *   manual triggers included;
 * - there must be reviewed labels to snapshot (a snapshot of nothing cannot train);
 * - automatic runs need the policy `enabled`, the cooldown since the last training finished to
 *   have passed, and a trigger: ≥ `labelThreshold` reviewed labels no training used yet
 *   (`labels`), or a camera whose latest drift report says drift, newer than the last
 *   training, with ≥ `driftMinNewLabels` new labels to learn from (`drift`). Labels win when
 *   both hold (the count is the stronger evidence);
 * - a manual trigger skips `enabled`, the cooldown and the thresholds;
 * - a rejection is not waited out: after a rejected candidate there is no cooldown, but no
 *   automatic training starts on the inputs the rejected one was trained on (production, the
 *   new reviewed labels, the replay source, the settings that shape training and the gate);
 *   the next starts as soon as one of them changed (`inputs`).
 */
import type {
  RetrainingCondition,
  RetrainingDecision,
  RetrainingSettings,
  RetrainingTriggerName,
} from '../shared/api/retraining.js';

/** A camera's latest drift report. */
export interface DriftObservation {
  camera: string;
  /** The report says the input drifted (status `drift`). */
  drifted: boolean;
  at: number;
}

export interface RetrainingPolicyState {
  now: number;
  settings: Pick<
    RetrainingSettings,
    'enabled' | 'labelThreshold' | 'retrainOnDrift' | 'driftMinNewLabels' | 'cooldownMinutes'
  >;
  labels: {
    /** Every reviewed label. */
    total: number;
    /** Reviewed labels no training used yet. */
    unused: number;
  };
  /** The latest drift report of each camera (within the drift lookback). */
  drift: readonly DriftObservation[];
  /** The last training job that finished (any outcome), or null. */
  lastTraining: {
    jobId: string;
    status: string;
    startedAt: number | null;
    finishedAt: number;
    /** The inputs of its candidate when the gate rejected it (else null). */
    rejectedInputs?: TrainingInputs | null;
  } | null;
  /** What a training would be trained on now (compared with a rejected one's). */
  inputs?: TrainingInputs | null;
  /** A training job queued or running now, or null. */
  activeTraining: { jobId: string; status: 'queued' | 'running' } | null;
  /** Evaluating a manual trigger (skips `enabled`, cooldown and thresholds). */
  manual: boolean;
}

/**
 * What a training is trained on and judged by: production (the warm start), the replay source,
 * the new reviewed labels (how many, the newest), and the settings that shape the training and
 * the gate. Two trainings with equal inputs would make the same candidate.
 */
export interface TrainingInputs {
  production: string | null;
  replaySource: string | null;
  labels: { count: number; latestAt: number | null };
  settings: Record<string, number | string | boolean>;
}

/** The settings that change what a training makes or how the gate judges it. */
export const TRAINING_INPUT_SETTINGS = [
  'replayRatio',
  'epochs',
  'imgsz',
  'batch',
  'lr',
  'freezeBackbone',
  'modelSize',
  'seed',
  'maxNominalLoss',
  'minRecentGain',
  'nominalHoldoutImages',
] as const satisfies readonly (keyof RetrainingSettings)[];

/** The training-input part of `settings`. */
export function inputSettingsOf(
  settings: Pick<RetrainingSettings, (typeof TRAINING_INPUT_SETTINGS)[number]>,
): Record<string, number | string | boolean> {
  return Object.fromEntries(TRAINING_INPUT_SETTINGS.map((name) => [name, settings[name]]));
}

/** What changed from `before` (a rejected training's inputs) to `now`; empty when nothing. */
export function inputChanges(before: TrainingInputs, now: TrainingInputs): string[] {
  const changes: string[] = [];
  if (before.production !== now.production) {
    changes.push(
      `production is ${now.production ?? 'unset'} (was ${before.production ?? 'unset'})`,
    );
  }
  if (before.replaySource !== now.replaySource) {
    changes.push(
      `the replay source is ${now.replaySource?.slice(0, 12) ?? 'none'} (was ${before.replaySource?.slice(0, 12) ?? 'none'})`,
    );
  }
  if (now.labels.count !== before.labels.count || now.labels.latestAt !== before.labels.latestAt) {
    const added = now.labels.count - before.labels.count;
    changes.push(
      added > 0
        ? `${added} new reviewed label${added === 1 ? '' : 's'} since the rejected training (${now.labels.count} in all)`
        : `the new reviewed labels changed (${before.labels.count} → ${now.labels.count})`,
    );
  }
  for (const name of Object.keys({ ...before.settings, ...now.settings })) {
    if (before.settings[name] !== now.settings[name]) {
      changes.push(
        `setting ${name} is ${String(now.settings[name])} (was ${String(before.settings[name])})`,
      );
    }
  }
  return changes;
}

function minutes(ms: number): string {
  const value = ms / 60_000;
  return value >= 10 ? `${Math.round(value)} min` : `${Math.round(value * 10) / 10} min`;
}

/** Decides whether a training should start now; see the module comment for the rules. */
export function decideRetraining(state: RetrainingPolicyState): RetrainingDecision {
  const { now, settings, labels, manual } = state;
  const conditions: RetrainingCondition[] = [];

  // One at a time.
  const active = state.activeTraining;
  conditions.push({
    name: 'one-at-a-time',
    holds: active === null,
    detail:
      active === null
        ? 'no training is queued or running'
        : `training job ${active.jobId} is ${active.status}`,
  });

  // Something to train on.
  conditions.push({
    name: 'data',
    holds: labels.total > 0,
    detail:
      labels.total > 0
        ? `${labels.total} reviewed labels exist`
        : 'there are no reviewed labels to build a snapshot from',
  });

  // Enabled (automatic runs only).
  conditions.push({
    name: 'enabled',
    holds: manual || settings.enabled,
    detail: settings.enabled
      ? 'automatic retraining is enabled'
      : manual
        ? 'automatic retraining is disabled (a manual trigger still runs)'
        : 'automatic retraining is disabled (settings: enabled = false)',
  });

  // Cooldown since the last training finished (not after a rejection: see `inputs`).
  const cooldownMs = settings.cooldownMinutes * 60_000;
  const last = state.lastTraining;
  const rejected = last?.rejectedInputs ?? null;
  const cooldownUntil =
    last === null || cooldownMs <= 0 || rejected !== null ? null : last.finishedAt + cooldownMs;
  const coolingDown = cooldownUntil !== null && now < cooldownUntil;
  conditions.push({
    name: 'cooldown',
    holds: manual || !coolingDown,
    detail:
      last === null
        ? 'no training has finished yet'
        : rejected !== null
          ? `the last training (${last.jobId}) was rejected by the gate ${minutes(now - last.finishedAt)} ago: ` +
            'no cooldown; the next starts when its inputs change'
          : coolingDown
            ? `the last training (${last.jobId}, ${last.status}) finished ${minutes(now - last.finishedAt)} ago; ` +
              `cooldown ${minutes(cooldownMs)}, ${minutes((cooldownUntil ?? now) - now)} left` +
              (manual ? ' (a manual trigger skips it)' : '')
            : `the last training (${last.jobId}, ${last.status}) finished ${minutes(now - last.finishedAt)} ago; ` +
              `the ${minutes(cooldownMs)} cooldown is over`,
  });

  // Labels.
  const labelsHold = labels.unused >= settings.labelThreshold;
  conditions.push({
    name: 'labels',
    holds: labelsHold,
    detail: `${labels.unused} of ${settings.labelThreshold} new reviewed labels (not used by any training yet)`,
  });

  // Drift: a camera's latest report says drift, made after the last training started.
  const since = last === null ? null : (last.startedAt ?? last.finishedAt);
  const drifting = state.drift.filter((report) => report.drifted);
  const fresh = drifting.filter((report) => since === null || report.at > since);
  const enoughForDrift = labels.unused >= settings.driftMinNewLabels;
  const driftHolds = settings.retrainOnDrift && fresh.length > 0 && enoughForDrift;
  let driftDetail: string;
  if (!settings.retrainOnDrift) driftDetail = 'retraining on drift is off (retrainOnDrift = false)';
  else if (drifting.length === 0) driftDetail = 'no camera drifts (latest drift reports)';
  else if (fresh.length === 0) {
    driftDetail = `${drifting.map((r) => r.camera).join(', ')} drift, but no report is newer than the last training`;
  } else if (!enoughForDrift) {
    driftDetail =
      `${fresh.map((r) => r.camera).join(', ')} drift, but only ${labels.unused} new reviewed labels ` +
      `(${settings.driftMinNewLabels} needed to learn from)`;
  } else {
    driftDetail = `${fresh.map((r) => r.camera).join(', ')} drift (latest reports), with ${labels.unused} new reviewed labels`;
  }
  conditions.push({ name: 'drift', holds: driftHolds, detail: driftDetail });

  // Inputs: never the same training again after a rejection.
  if (rejected !== null && last !== null) {
    const current = state.inputs ?? null;
    const changes = current === null ? [] : inputChanges(rejected, current);
    const changed = changes.length > 0;
    conditions.push({
      name: 'inputs',
      holds: manual || changed,
      detail: changed
        ? `changed since the rejected training ${last.jobId}: ${changes.join('; ')}`
        : `the same inputs as the rejected training ${last.jobId} (production ${rejected.production ?? 'unset'}, ` +
          `${rejected.labels.count} new reviewed labels, same settings): waiting for new labels, ` +
          'a new replay source or changed settings' +
          (manual ? ' (a manual trigger retrains anyway)' : ''),
    });
  }

  const blockers = conditions.filter(
    (c) =>
      !c.holds &&
      (c.name === 'one-at-a-time' ||
        c.name === 'data' ||
        c.name === 'enabled' ||
        c.name === 'cooldown' ||
        c.name === 'inputs'),
  );
  let trigger: RetrainingTriggerName | null = null;
  if (manual) trigger = 'manual';
  else if (labelsHold) trigger = 'labels';
  else if (driftHolds) trigger = 'drift';

  const reasons: string[] = [];
  if (blockers.length > 0) {
    for (const blocker of blockers) reasons.push(blocker.detail);
  } else if (trigger === null) {
    reasons.push(
      `not enough evidence: ${conditions.find((c) => c.name === 'labels')?.detail ?? ''}`,
    );
    reasons.push(driftDetail);
  } else if (trigger === 'manual') {
    reasons.push('requested by hand');
  } else if (trigger === 'labels') {
    reasons.push(conditions.find((c) => c.name === 'labels')?.detail ?? 'labels');
    if (driftHolds) reasons.push(driftDetail);
  } else {
    reasons.push(driftDetail);
  }
  const shouldRun = blockers.length === 0 && trigger !== null;
  return {
    shouldRun,
    trigger,
    reasons,
    conditions,
    cooldownUntil: coolingDown ? cooldownUntil : null,
  };
}
