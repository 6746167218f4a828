import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRAINING_SETTINGS } from '../shared/api/retraining.js';
import {
  decideRetraining,
  inputSettingsOf,
  type RetrainingPolicyState,
  type TrainingInputs,
} from './retraining-policy.js';

const NOW = 1_767_225_600_000;
const MIN = 60_000;

function state(overrides: Partial<RetrainingPolicyState> = {}): RetrainingPolicyState {
  return {
    now: NOW,
    settings: DEFAULT_RETRAINING_SETTINGS,
    labels: { total: 120, unused: 10 },
    drift: [],
    lastTraining: null,
    activeTraining: null,
    manual: false,
    ...overrides,
  };
}

function condition(decision: ReturnType<typeof decideRetraining>, name: string) {
  return decision.conditions.find((c) => c.name === name);
}

describe('decideRetraining', () => {
  it('runs on labels once the unused count reaches the threshold (50 by default)', () => {
    expect(decideRetraining(state({ labels: { total: 200, unused: 49 } }))).toMatchObject({
      shouldRun: false,
      trigger: null,
    });
    const decision = decideRetraining(state({ labels: { total: 200, unused: 50 } }));
    expect(decision).toMatchObject({ shouldRun: true, trigger: 'labels' });
    expect(decision.reasons[0]).toContain('50 of 50 new reviewed labels');
  });

  it('honours a configured threshold', () => {
    const settings = { ...DEFAULT_RETRAINING_SETTINGS, labelThreshold: 8 };
    expect(decideRetraining(state({ settings, labels: { total: 8, unused: 7 } })).shouldRun).toBe(
      false,
    );
    expect(decideRetraining(state({ settings, labels: { total: 8, unused: 8 } })).trigger).toBe(
      'labels',
    );
  });

  it('runs on drift when a camera drifts after the last training, with new labels to learn from', () => {
    const drift = [
      { camera: 'cam-1', drifted: false, at: NOW - 5 * MIN },
      { camera: 'cam-2', drifted: true, at: NOW - 2 * MIN },
    ];
    const decision = decideRetraining(state({ drift, labels: { total: 30, unused: 3 } }));
    expect(decision).toMatchObject({ shouldRun: true, trigger: 'drift' });
    expect(decision.reasons[0]).toContain('cam-2 drift');

    // No new labels: nothing new to learn from.
    const noLabels = decideRetraining(state({ drift, labels: { total: 30, unused: 0 } }));
    expect(noLabels.shouldRun).toBe(false);
    expect(condition(noLabels, 'drift')?.detail).toContain('only 0 new reviewed labels');

    // Drift off.
    const off = decideRetraining(
      state({ drift, settings: { ...DEFAULT_RETRAINING_SETTINGS, retrainOnDrift: false } }),
    );
    expect(off.shouldRun).toBe(false);
  });

  it('does not retrain twice for the same drift report', () => {
    const drift = [{ camera: 'cam-2', drifted: true, at: NOW - 60 * MIN }];
    const lastTraining = {
      jobId: 'job-1',
      status: 'succeeded',
      startedAt: NOW - 50 * MIN,
      finishedAt: NOW - 40 * MIN,
    };
    const decision = decideRetraining(state({ drift, lastTraining }));
    expect(decision.shouldRun).toBe(false);
    expect(condition(decision, 'drift')?.detail).toContain(
      'no report is newer than the last training',
    );
  });

  it('prefers labels as the trigger when both hold', () => {
    const decision = decideRetraining(
      state({
        labels: { total: 80, unused: 60 },
        drift: [{ camera: 'cam-1', drifted: true, at: NOW - MIN }],
      }),
    );
    expect(decision).toMatchObject({ shouldRun: true, trigger: 'labels' });
    expect(decision.reasons).toHaveLength(2);
  });

  it('waits for the cooldown after the last training, and says how long is left', () => {
    const lastTraining = {
      jobId: 'job-9',
      status: 'failed',
      startedAt: NOW - 20 * MIN,
      finishedAt: NOW - 10 * MIN,
    };
    const labels = { total: 100, unused: 60 };
    const decision = decideRetraining(state({ labels, lastTraining }));
    expect(decision).toMatchObject({
      shouldRun: false,
      trigger: 'labels',
      cooldownUntil: NOW + 20 * MIN,
    });
    expect(decision.reasons[0]).toContain('20 min left');

    const later = decideRetraining(state({ labels, lastTraining, now: NOW + 21 * MIN }));
    expect(later).toMatchObject({ shouldRun: true, cooldownUntil: null });

    const noCooldown = decideRetraining(
      state({
        labels,
        lastTraining,
        settings: { ...DEFAULT_RETRAINING_SETTINGS, cooldownMinutes: 0 },
      }),
    );
    expect(noCooldown.shouldRun).toBe(true);
  });

  it('runs one training at a time, manual triggers included', () => {
    const activeTraining = { jobId: 'job-7', status: 'running' as const };
    for (const manual of [false, true]) {
      const decision = decideRetraining(
        state({ labels: { total: 100, unused: 100 }, activeTraining, manual }),
      );
      expect(decision.shouldRun).toBe(false);
      expect(decision.reasons).toEqual(['training job job-7 is running']);
    }
  });

  it('lets a manual trigger skip the thresholds, the cooldown and `enabled`, but not an empty data set', () => {
    const lastTraining = {
      jobId: 'j',
      status: 'succeeded',
      startedAt: NOW - 2 * MIN,
      finishedAt: NOW - MIN,
    };
    const settings = { ...DEFAULT_RETRAINING_SETTINGS, enabled: false };
    const manual = decideRetraining(
      state({ manual: true, settings, lastTraining, labels: { total: 5, unused: 0 } }),
    );
    expect(manual).toMatchObject({
      shouldRun: true,
      trigger: 'manual',
      reasons: ['requested by hand'],
    });

    const automatic = decideRetraining(state({ settings, labels: { total: 500, unused: 500 } }));
    expect(automatic.shouldRun).toBe(false);
    expect(automatic.reasons[0]).toContain('disabled');

    const empty = decideRetraining(state({ manual: true, labels: { total: 0, unused: 0 } }));
    expect(empty.shouldRun).toBe(false);
    expect(empty.reasons).toEqual(['there are no reviewed labels to build a snapshot from']);
  });

  it('explains a quiet state with both the label count and the drift state', () => {
    const decision = decideRetraining(state({ labels: { total: 20, unused: 12 } }));
    expect(decision.shouldRun).toBe(false);
    expect(decision.reasons).toEqual([
      'not enough evidence: 12 of 50 new reviewed labels (not used by any training yet)',
      'no camera drifts (latest drift reports)',
    ]);
    expect(decision.conditions.map((c) => [c.name, c.holds])).toEqual([
      ['one-at-a-time', true],
      ['data', true],
      ['enabled', true],
      ['cooldown', true],
      ['labels', false],
      ['drift', false],
    ]);
  });

  describe('after a rejected candidate', () => {
    const rejectedInputs: TrainingInputs = {
      production: 'seed-v1',
      replaySource: 'a'.repeat(64),
      labels: { count: 200, latestAt: NOW - 20 * MIN },
      settings: inputSettingsOf(DEFAULT_RETRAINING_SETTINGS),
    };
    const lastTraining = {
      jobId: 'job_r',
      status: 'succeeded',
      startedAt: NOW - 10 * MIN,
      finishedAt: NOW - 2 * MIN,
      rejectedInputs,
    };
    const labels = { total: 200, unused: 200 };

    it('waits for new inputs, not for a cooldown', () => {
      const same = decideRetraining(state({ labels, lastTraining, inputs: rejectedInputs }));
      expect(same).toMatchObject({ shouldRun: false, trigger: 'labels', cooldownUntil: null });
      expect(condition(same, 'cooldown')).toMatchObject({ holds: true });
      expect(condition(same, 'inputs')?.holds).toBe(false);
      expect(same.reasons).toEqual([condition(same, 'inputs')?.detail]);
      expect(same.reasons[0]).toContain('the same inputs as the rejected training job_r');
      // Without the rejection, the 30-minute cooldown would hold it back.
      const cooled = decideRetraining(
        state({ labels, lastTraining: { ...lastTraining, rejectedInputs: null } }),
      );
      expect(condition(cooled, 'cooldown')?.holds).toBe(false);
      expect(condition(cooled, 'inputs')).toBeUndefined();
    });

    it('starts when labels, production, the replay source or a setting changed', () => {
      const changed = (inputs: TrainingInputs) =>
        decideRetraining(state({ labels, lastTraining, inputs }));
      const moreLabels = changed({
        ...rejectedInputs,
        labels: { count: 203, latestAt: NOW - MIN },
      });
      expect(moreLabels).toMatchObject({ shouldRun: true, trigger: 'labels' });
      expect(condition(moreLabels, 'inputs')?.detail).toContain(
        '3 new reviewed labels since the rejected training (203 in all)',
      );
      expect(
        condition(changed({ ...rejectedInputs, production: 'v2' }), 'inputs')?.detail,
      ).toContain('production is v2 (was seed-v1)');
      expect(
        condition(changed({ ...rejectedInputs, replaySource: 'b'.repeat(64) }), 'inputs')?.holds,
      ).toBe(true);
      const epochs = changed({
        ...rejectedInputs,
        settings: { ...rejectedInputs.settings, epochs: 20 },
      });
      expect(epochs.shouldRun).toBe(true);
      expect(condition(epochs, 'inputs')?.detail).toContain('setting epochs is 20 (was 12)');
    });

    it('lets a person retrain on the same inputs', () => {
      const manual = decideRetraining(
        state({ labels, lastTraining, inputs: rejectedInputs, manual: true }),
      );
      expect(manual).toMatchObject({ shouldRun: true, trigger: 'manual' });
      expect(condition(manual, 'inputs')?.detail).toContain('a manual trigger retrains anyway');
    });
  });
});
