/**
 * Rules of the settings that single-field schemas cannot state, shared by the server (which
 * refuses a change that breaks them) and the dashboard's settings page (which shows each
 * problem next to its field and sends nothing the server would refuse). Browser-safe: no
 * imports with side effects.
 *
 * Each problem names the field it belongs to (a dotted path into the settings object), so a
 * form can put the message beside that field.
 */
import type { AgentSettings } from './agents.js';
import type { DriftSettings } from './drift.js';
import type { SamplingSettings } from './sampling.js';
import { samplingSettingsProblems } from './sampling.js';

/** One rule a settings value breaks: the field to show it at, and the message for people. */
export interface SettingsProblem {
  /** Dotted path of the field, e.g. `redShareThreshold` or `strategies.uncertainty.high`. */
  path: string;
  message: string;
}

/**
 * The cross-field rules of the drift settings (empty when consistent): red at or above
 * yellow, and a minimum sample count a window and a baseline can both reach.
 */
export function driftSettingsProblems(values: Omit<DriftSettings, 'revision'>): SettingsProblem[] {
  const problems: SettingsProblem[] = [];
  if (values.redShareThreshold < values.driftShareThreshold) {
    problems.push({
      path: 'redShareThreshold',
      message: 'redShareThreshold must be ≥ driftShareThreshold',
    });
  }
  if (values.minSamples > values.windowSamples) {
    problems.push({
      path: 'minSamples',
      message: 'minSamples must be ≤ windowSamples (no window could ever be tested)',
    });
  }
  if (values.minSamples > values.baselineSamples) {
    problems.push({ path: 'minSamples', message: 'minSamples must be ≤ baselineSamples' });
  }
  return problems;
}

/** The field each message of `samplingSettingsProblems` belongs to (its `section: ` prefix). */
const SAMPLING_PROBLEM_FIELDS: readonly (readonly [prefix: string, path: string])[] = [
  ['strategies.uncertainty:', 'strategies.uncertainty.high'],
  ['strategies.detectionCount:', 'strategies.detectionCount.moreThan'],
  ['strategies.classFilter:', 'strategies.classFilter.classes'],
];

/**
 * The cross-field rules of the sampling settings (`samplingSettingsProblems`, which the
 * server's schema enforces), each at the field a form shows it by (the uncertainty band's
 * `high`, the detection-count bounds, the class list) and without the section name.
 */
export function samplingSettingsFieldProblems(settings: SamplingSettings): SettingsProblem[] {
  return samplingSettingsProblems(settings).map((message) => {
    const field = SAMPLING_PROBLEM_FIELDS.find(([prefix]) => message.startsWith(prefix));
    // Beside its field the section name says nothing: "low (0.8) must be below high (0.6)".
    return field === undefined
      ? { path: '', message }
      : { path: field[1], message: message.slice(field[0].length).trim() };
  });
}

/**
 * The cross-field rule of the agent's inspection thresholds (empty when consistent): the
 * detection confidence at most the fail threshold, since a box the detector drops can fail
 * nothing (a lower fail threshold would silently act as the detection confidence). Absent
 * fields are not checked.
 */
export function inspectionThresholdProblems(
  values: Pick<AgentSettings, 'failThreshold' | 'detectionConfidence'>,
): SettingsProblem[] {
  const { failThreshold, detectionConfidence } = values;
  if (failThreshold === undefined || detectionConfidence === undefined) return [];
  if (detectionConfidence <= failThreshold) return [];
  return [
    {
      path: 'detectionConfidence',
      message: `detectionConfidence (${detectionConfidence}) must be ≤ failThreshold (${failThreshold})`,
    },
  ];
}
