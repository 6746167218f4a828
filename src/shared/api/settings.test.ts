import { describe, expect, it } from 'vitest';
import { DEFAULT_DRIFT_SETTINGS } from './drift.js';
import { DEFAULT_SAMPLING_SETTINGS } from './sampling.js';
import { driftSettingsProblems, samplingSettingsFieldProblems } from './settings.js';

const { revision: _revision, ...drift } = DEFAULT_DRIFT_SETTINGS;

describe('driftSettingsProblems', () => {
  it('accepts the defaults and red equal to yellow', () => {
    expect(driftSettingsProblems(drift)).toEqual([]);
    expect(
      driftSettingsProblems({ ...drift, driftShareThreshold: 0.5, redShareThreshold: 0.5 }),
    ).toEqual([]);
  });

  it('puts each broken rule at its field', () => {
    expect(
      driftSettingsProblems({
        ...drift,
        driftShareThreshold: 0.6,
        redShareThreshold: 0.5,
        windowSamples: 30,
        baselineSamples: 20,
        minSamples: 40,
      }),
    ).toEqual([
      { path: 'redShareThreshold', message: 'redShareThreshold must be ≥ driftShareThreshold' },
      {
        path: 'minSamples',
        message: 'minSamples must be ≤ windowSamples (no window could ever be tested)',
      },
      { path: 'minSamples', message: 'minSamples must be ≤ baselineSamples' },
    ]);
  });
});

describe('samplingSettingsFieldProblems', () => {
  it('accepts the defaults', () => {
    expect(samplingSettingsFieldProblems(DEFAULT_SAMPLING_SETTINGS)).toEqual([]);
  });

  it('shows a band whose low is not below its high at the band’s high', () => {
    const s = DEFAULT_SAMPLING_SETTINGS;
    const problems = samplingSettingsFieldProblems({
      ...s,
      strategies: {
        ...s.strategies,
        uncertainty: { ...s.strategies.uncertainty, low: 0.7, high: 0.7 },
        classFilter: { ...s.strategies.classFilter, enabled: true, classes: [] },
        detectionCount: { ...s.strategies.detectionCount, enabled: true },
      },
    });
    expect(problems.map((p) => p.path)).toEqual([
      'strategies.uncertainty.high',
      'strategies.detectionCount.moreThan',
      'strategies.classFilter.classes',
    ]);
    expect(problems[0]?.message).toBe('low (0.7) must be below high (0.7)');
  });
});
