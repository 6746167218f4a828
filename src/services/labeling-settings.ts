/**
 * The labeling settings (`labeling`: approval, lease) and the deployment's class names
 * (`classes`), stored in the settings table with compare-and-set revisions. Class ids are
 * positions, so once labels exist the class list may only grow.
 */
import { z } from 'zod';
import type { LabelingRepository } from '../repositories/labeling.repository.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import type {
  ClassesSettings,
  LabelingSettings,
  UpdateClassesSettings,
  UpdateLabelingSettings,
} from '../shared/api/labeling.js';
import { DEFAULT_LABELING_SETTINGS, labelingSettingsSchema } from '../shared/api/labeling.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

/** The settings-table keys this module owns. */
export const LABELING_SETTINGS_KEY = 'labeling';
export const CLASSES_SETTINGS_KEY = 'classes';
/** The deployment's classes until someone sets them: the synthetic line's. */
export const DEFAULT_CLASSES: readonly string[] = SYNTH_CLASSES;

/** Who changes a setting: the authenticated token (route-access `Principal`, structurally). */
export interface SettingsActor {
  tokenId: string;
}

const classesValueSchema = z.object({ classes: z.array(z.string().min(1)).min(1) });

export class LabelingSettingsStore {
  constructor(
    private readonly labeling: LabelingRepository,
    private readonly settings: SettingsRepository,
    private readonly now: () => number,
  ) {}

  async labelingSettings(): Promise<LabelingSettings> {
    const row = await this.settings.get(LABELING_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_LABELING_SETTINGS;
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      value = {};
    }
    const merged = labelingSettingsSchema.safeParse({
      ...DEFAULT_LABELING_SETTINGS,
      ...(typeof value === 'object' && value !== null ? value : {}),
      revision: row.revision,
    });
    return merged.success ? merged.data : { ...DEFAULT_LABELING_SETTINGS, revision: row.revision };
  }

  async updateLabelingSettings(
    changes: UpdateLabelingSettings,
    actor: SettingsActor | null,
  ): Promise<LabelingSettings> {
    const next = await this.compareAndSet(LABELING_SETTINGS_KEY, actor, async () => {
      const current = await this.labelingSettings();
      return {
        requireApproval: changes.requireApproval ?? current.requireApproval,
        leaseSeconds: changes.leaseSeconds ?? current.leaseSeconds,
      };
    });
    return { ...next.value, revision: next.revision };
  }

  async classSettings(): Promise<ClassesSettings> {
    const row = await this.settings.get(CLASSES_SETTINGS_KEY);
    if (row === undefined) return { revision: 0, classes: [...DEFAULT_CLASSES] };
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      value = null;
    }
    const parsed = classesValueSchema.safeParse(value);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INTERNAL',
        `the stored '${CLASSES_SETTINGS_KEY}' setting is invalid`,
      );
    }
    return { revision: row.revision, classes: parsed.data.classes };
  }

  /** The deployment's class names, in class-id order. */
  async classNames(): Promise<string[]> {
    return (await this.classSettings()).classes;
  }

  /**
   * Replaces the class names. Once any label, reviewed label or snapshot exists, only appending
   * is allowed (class ids are positions: renaming or reordering would change what stored
   * labels mean). Names must be unique.
   */
  async updateClasses(
    request: UpdateClassesSettings,
    actor: SettingsActor | null,
  ): Promise<ClassesSettings> {
    const names = request.classes;
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      throw new VisionLoopError('INVALID_ARGUMENT', `class '${duplicate}' is listed twice`);
    }
    const next = await this.compareAndSet(CLASSES_SETTINGS_KEY, actor, async () => {
      const current = await this.classNames();
      const keepsPrefix = current.every((name, i) => names[i] === name);
      if (!keepsPrefix && (await this.labeling.anyLabelUsesClasses())) {
        throw new VisionLoopError(
          'CONFLICT',
          `labels already use the classes ${current.join(', ')}: new classes may only be appended`,
        );
      }
      return { classes: names };
    });
    return { revision: next.revision, classes: next.value.classes };
  }

  /** Appends `names` the deployment does not know yet; returns the full list. */
  async addClasses(names: readonly string[], actor: SettingsActor | null): Promise<string[]> {
    const next = await this.compareAndSet(CLASSES_SETTINGS_KEY, actor, async () => {
      const current = await this.classNames();
      return { classes: [...current, ...names.filter((name) => !current.includes(name))] };
    });
    return next.value.classes;
  }

  private async compareAndSet<T>(
    key: string,
    actor: SettingsActor | null,
    compute: () => Promise<T>,
  ): Promise<{ value: T; revision: number }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const row = await this.settings.get(key);
      const value = await compute();
      const text = JSON.stringify(value);
      const by = actor?.tokenId ?? null;
      const won =
        row === undefined
          ? await this.settings.insertFirst(key, text, now, by)
          : await this.settings.replaceIfRevision(key, row.revision, text, now, by);
      if (won) return { value, revision: row === undefined ? 1 : row.revision + 1 };
    }
    throw new VisionLoopError('CONFLICT', `the '${key}' setting kept changing; try again`);
  }
}
