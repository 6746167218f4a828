/**
 * The drift monitor's settings (thresholds, sample counts, schedule): read with defaults for
 * anything missing or invalid, stored first-start-only by `init`, changed by compare-and-set
 * with a revision. Never decides anything about drift itself.
 */
import type { SettingsRepository } from '../../repositories/settings.repository.js';
import {
  DEFAULT_DRIFT_SETTINGS,
  driftSettingsSchema,
  type DriftSettings,
  type UpdateDriftSettingsRequest,
} from '../../shared/api/drift.js';
import { driftSettingsProblems } from '../../shared/api/settings.js';
import { VisionLoopError } from '../../shared/errors.js';
import { parseJson } from './drift-samples.js';

/** Settings-table key of the drift settings. */
export const DRIFT_SETTINGS_KEY = 'drift';

/** INVALID_ARGUMENT when drift settings contradict each other. */
function checkDriftSettings(values: Omit<DriftSettings, 'revision'>): void {
  // The same rules the dashboard's settings form checks before it sends anything.
  const problems = driftSettingsProblems(values).map((problem) => problem.message);
  if (problems.length > 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `invalid drift settings: ${problems.join('; ')}`);
  }
}

function decodeSettings(text: string, revision: number): DriftSettings {
  const value = parseJson(text);
  const stored =
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  // Fields a later version stored and this one does not know are dropped; missing or invalid
  // ones fall back to the defaults.
  const merged: Record<string, unknown> = { ...DEFAULT_DRIFT_SETTINGS, revision };
  for (const key of Object.keys(DEFAULT_DRIFT_SETTINGS)) {
    if (key === 'revision' || !(key in stored)) continue;
    const candidate = driftSettingsSchema.safeParse({ ...merged, [key]: stored[key] });
    if (candidate.success) merged[key] = stored[key];
  }
  const parsed = driftSettingsSchema.safeParse(merged);
  return parsed.success ? parsed.data : { ...DEFAULT_DRIFT_SETTINGS, revision };
}

export class DriftSettingsStore {
  constructor(
    private readonly settingsStore: SettingsRepository,
    private readonly now: () => number,
  ) {}

  async settings(): Promise<DriftSettings> {
    const row = await this.settingsStore.get(DRIFT_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_DRIFT_SETTINGS;
    return decodeSettings(row.value, row.revision);
  }

  /**
   * Stores `values` over the defaults only when no settings were ever stored (a first start);
   * settings an admin changed are kept. Returns the settings in force.
   */
  async initSettings(
    values: UpdateDriftSettingsRequest,
    actor: string | null,
  ): Promise<DriftSettings> {
    const { revision: _revision, ...merged } = { ...DEFAULT_DRIFT_SETTINGS, ...values };
    checkDriftSettings(merged);
    // insertFirst stores nothing when a row exists (an earlier start, an admin, a race).
    await this.settingsStore.insertFirst(
      DRIFT_SETTINGS_KEY,
      JSON.stringify(merged),
      this.now(),
      actor,
    );
    return this.settings();
  }

  /** Applies `changes` (INVALID_ARGUMENT when they contradict each other) and bumps the revision. */
  async updateSettings(
    changes: UpdateDriftSettingsRequest,
    actor: string | null,
  ): Promise<DriftSettings> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.settingsStore.get(DRIFT_SETTINGS_KEY);
      const current =
        row === undefined ? DEFAULT_DRIFT_SETTINGS : decodeSettings(row.value, row.revision);
      const { revision: _revision, ...values } = { ...current, ...changes };
      checkDriftSettings(values);
      const value = JSON.stringify(values);
      const now = this.now();
      const won =
        row === undefined
          ? await this.settingsStore.insertFirst(DRIFT_SETTINGS_KEY, value, now, actor)
          : await this.settingsStore.replaceIfRevision(
              DRIFT_SETTINGS_KEY,
              row.revision,
              value,
              now,
              actor,
            );
      if (won) return { ...values, revision: row === undefined ? 1 : row.revision + 1 };
    }
    throw new VisionLoopError('CONFLICT', 'the drift settings kept changing; try again');
  }

  /** The scheduled check period, ms (the `drift.check` schedule reads it every tick). */
  async checkIntervalMs(): Promise<number> {
    return (await this.settings()).checkEverySeconds * 1000;
  }
}
