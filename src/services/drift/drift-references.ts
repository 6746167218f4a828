/**
 * What drift checks compare with: the baseline epoch (when "from now on" began, globally and
 * per camera, reset on promotion or by an admin), each camera's baseline reference taken from
 * its own traffic after that epoch, and the training references stored at model registration
 * for display. References are stored once (samples in a blob, summary in `drift_references`)
 * and kept prepared for the detector in a small cache.
 *
 * It never runs a check or stores a report (drift-check-runner.ts does).
 */
import type { DriftReferenceRow } from '../../db/schema.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import { MAX_EPOCH_MS } from '../../repositories/drift.repository.js';
import type { SettingsRepository } from '../../repositories/settings.repository.js';
import {
  driftBaselineStateSchema,
  type DriftBaselineState,
  type DriftReferenceInfo,
  type DriftSettings,
  type TrainingReferenceSummary,
} from '../../shared/api/drift.js';
import { FEATURE_NAMES, type FrameFeatures } from '../../shared/domain.js';
import { VisionLoopError } from '../../shared/errors.js';
import {
  prepareReference,
  selectDriftWindow,
  type DriftReference,
} from '../../vision/drift/index.js';
import {
  driftColumns,
  encodeSamples,
  finiteOrNull,
  mediansOf,
  newId,
  parseJson,
  sampleOfFrame,
  type DriftSample,
  type SampleFile,
} from './drift-samples.js';

/** Settings-table key of the baseline epoch (global and per camera). */
export const DRIFT_BASELINE_KEY = 'drift.baseline';

const DEFAULT_BASELINE: DriftBaselineState = {
  since: 0,
  reason: null,
  actor: null,
  cameras: {},
};
const PREPARED_CACHE_SIZE = 64;

interface ReferenceSummary {
  /** Baselines: frames captured at or after this epoch were eligible. */
  since?: number;
  from?: number | null;
  to?: number | null;
  spacingMs?: number;
  medians?: Record<string, number | null>;
}

/** A camera's baseline for a model version: ready, or still being collected. */
export type CameraBaseline =
  | { reference: DriftReferenceInfo; prepared: DriftReference; samples: number }
  | { reference: null; prepared: null; samples: number; firstAt: number | null };

function decodeBaseline(text: string): DriftBaselineState {
  const parsed = driftBaselineStateSchema.safeParse(parseJson(text));
  return parsed.success ? parsed.data : DEFAULT_BASELINE;
}

function summaryOf(row: DriftReferenceRow): ReferenceSummary {
  const parsed = parseJson(row.summary);
  return typeof parsed === 'object' && parsed !== null ? parsed : {};
}

function describeReference(row: DriftReferenceRow, summary: ReferenceSummary): string {
  if (row.kind === 'training') {
    return `${row.sample_count} training images of ${row.model_version ?? 'a model'}`;
  }
  const from = summary.from == null ? '?' : new Date(summary.from).toISOString();
  const to = summary.to == null ? '?' : new Date(summary.to).toISOString();
  return `baseline of camera '${row.camera ?? '?'}' under model ${row.model_version ?? '?'}: ${row.sample_count} thinned frames ${from} – ${to}`;
}

/** A stored reference as the API shows it. */
function referenceInfo(row: DriftReferenceRow): DriftReferenceInfo {
  const summary = summaryOf(row);
  return {
    id: row.id,
    kind: row.kind,
    modelVersion: row.model_version,
    description: describeReference(row, summary),
    createdAt: row.created_at,
    samples: row.sample_count,
    from: summary.from ?? null,
    to: summary.to ?? null,
  };
}

/** A training reference's medians as the dashboard shows them beside the camera's. */
export function trainingSummary(row: DriftReferenceRow): TrainingReferenceSummary {
  const medians = summaryOf(row).medians ?? {};
  const clean: Record<string, number | null> = {};
  for (const name of FEATURE_NAMES) clean[name] = finiteOrNull(medians[name]);
  return {
    id: row.id,
    modelVersion: row.model_version,
    createdAt: row.created_at,
    samples: row.sample_count,
    medians: clean,
  };
}

export class DriftReferences {
  private readonly prepared = new Map<string, DriftReference>();

  constructor(
    private readonly drift: DriftRepository,
    private readonly settingsStore: SettingsRepository,
    private readonly blobs: BlobStore,
    private readonly now: () => number,
  ) {}

  // --- baseline epoch ---------------------------------------------------------------------

  async baselineState(): Promise<DriftBaselineState> {
    const row = await this.settingsStore.get(DRIFT_BASELINE_KEY);
    return row === undefined ? DEFAULT_BASELINE : decodeBaseline(row.value);
  }

  /**
   * (Re)takes the baseline from now on: for every camera (or only `camera`), checks compare
   * with a new baseline built from frames captured from now on, once enough have arrived. The
   * model registry calls this on promotion; admins through `POST /api/metrics/drift/baseline`.
   */
  async resetBaseline(
    reason: string,
    options: { camera?: string; actor?: string | null } = {},
  ): Promise<DriftBaselineState> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.settingsStore.get(DRIFT_BASELINE_KEY);
      const current = row === undefined ? DEFAULT_BASELINE : decodeBaseline(row.value);
      const now = this.now();
      const entry = { since: now, reason, actor: options.actor ?? null };
      const next: DriftBaselineState =
        options.camera === undefined
          ? { ...entry, cameras: {} }
          : { ...current, cameras: { ...current.cameras, [options.camera]: entry } };
      const value = JSON.stringify(next);
      const won =
        row === undefined
          ? await this.settingsStore.insertFirst(DRIFT_BASELINE_KEY, value, now, entry.actor)
          : await this.settingsStore.replaceIfRevision(
              DRIFT_BASELINE_KEY,
              row.revision,
              value,
              now,
              entry.actor,
            );
      if (won) return next;
    }
    throw new VisionLoopError('CONFLICT', 'the drift baseline kept changing; try again');
  }

  // --- training references ----------------------------------------------------------------

  /**
   * Stores the image features of a model version's training images as a reference (for
   * display: the dashboard shows their medians beside the camera's). Called by the model
   * registry at registration. Non-finite values are kept as missing.
   */
  async storeTrainingReference(
    modelVersion: string,
    features: readonly FrameFeatures[],
    options: { description?: string } = {},
  ): Promise<DriftReferenceInfo> {
    if (modelVersion.trim() === '') {
      throw new VisionLoopError('INVALID_ARGUMENT', 'a training reference needs a model version');
    }
    if (features.length === 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        'a training reference needs at least one image',
      );
    }
    const samples: DriftSample[] = features.map((row) => ({
      t: 0,
      f: FEATURE_NAMES.map((name) => finiteOrNull(row[name])),
      c: null,
      d: 0,
      u: 0,
      k: {},
    }));
    const now = this.now();
    const id = newId('ref');
    const stored = await this.blobs.put(encodeSamples(samples));
    const summary: ReferenceSummary = { medians: mediansOf(samples) };
    const description =
      options.description ?? `${features.length} training images of ${modelVersion}`;
    await this.drift.insertReference({
      id,
      kind: 'training',
      model_version: modelVersion,
      camera: null,
      sample_count: samples.length,
      samples_blob: stored.key,
      summary: JSON.stringify({ ...summary, description }),
      created_at: now,
    });
    return {
      id,
      kind: 'training',
      modelVersion,
      description,
      createdAt: now,
      samples: samples.length,
      from: null,
      to: null,
    };
  }

  /** The newest training references, for the status view. */
  async trainingReferences(limit: number): Promise<TrainingReferenceSummary[]> {
    const rows = await this.drift.listReferences('training', limit);
    return rows.map(trainingSummary);
  }

  // --- camera baselines -------------------------------------------------------------------

  /**
   * The camera's baseline for `modelVersion` taken from `epoch` on: the stored one, or a new one
   * when enough thinned frames have arrived, or null with how many there are so far.
   */
  async baselineFor(
    camera: string,
    modelVersion: string,
    epoch: number,
    settings: DriftSettings,
    now: number,
  ): Promise<CameraBaseline> {
    const stored = await this.drift.newestReference('baseline', camera, modelVersion);
    if (stored !== undefined && (summaryOf(stored).since ?? -1) >= epoch) {
      const prepared = await this.loadPrepared(stored, settings);
      if (prepared !== null) {
        return { reference: referenceInfo(stored), prepared, samples: stored.sample_count };
      }
    }
    return this.takeBaseline(camera, modelVersion, epoch, settings, now);
  }

  /** Builds and stores a new baseline once `baselineSamples` thinned frames have arrived. */
  private async takeBaseline(
    camera: string,
    modelVersion: string,
    epoch: number,
    settings: DriftSettings,
    now: number,
  ): Promise<CameraBaseline> {
    const spacingMs = Math.round(settings.minSpacingSeconds * 1000);
    const frames = await this.drift.thinnedFrames({
      camera,
      modelVersion,
      from: epoch,
      to: MAX_EPOCH_MS,
      spacingMs,
      limit: settings.baselineSamples,
      take: 'oldest',
    });
    if (frames.length < settings.baselineSamples) {
      return {
        reference: null,
        prepared: null,
        samples: frames.length,
        firstAt: frames[0]?.capturedAt ?? null,
      };
    }
    const selection = selectDriftWindow(
      frames.map((frame) => ({ frame, timestampMs: frame.capturedAt })),
      { maxSamples: settings.baselineSamples, spanMs: Infinity, minSpacingMs: spacingMs },
    );
    const samples = selection.samples.map((s) => sampleOfFrame(s.frame));
    const blob = await this.blobs.put(encodeSamples(samples));
    const summary: ReferenceSummary = {
      since: epoch,
      from: selection.startMs,
      to: selection.endMs,
      spacingMs,
      medians: mediansOf(samples),
    };
    const row: DriftReferenceRow = {
      id: newId('ref'),
      kind: 'baseline',
      model_version: modelVersion,
      camera,
      sample_count: samples.length,
      samples_blob: blob.key,
      summary: JSON.stringify(summary),
      created_at: now,
    };
    await this.drift.insertReference(row);
    const prepared = this.prepare(row, samples, settings);
    return { reference: referenceInfo(row), prepared, samples: samples.length };
  }

  // --- prepared-reference cache -----------------------------------------------------------

  /** The prepared reference of a stored row; null when its samples cannot be read. */
  private async loadPrepared(
    row: DriftReferenceRow,
    settings: DriftSettings,
  ): Promise<DriftReference | null> {
    const key = `${row.id}:${settings.includeModelOutputs ? 1 : 0}`;
    const cached = this.prepared.get(key);
    if (cached !== undefined) return cached;
    const bytes = await this.blobs.get(row.samples_blob);
    const file = bytes === null ? null : parseJson(bytes.toString('utf8'));
    if (
      typeof file !== 'object' ||
      file === null ||
      !Array.isArray((file as Partial<SampleFile>).samples)
    ) {
      return null;
    }
    return this.prepare(row, (file as SampleFile).samples, settings);
  }

  private prepare(
    row: DriftReferenceRow,
    samples: readonly DriftSample[],
    settings: DriftSettings,
  ): DriftReference {
    const prepared = prepareReference({
      id: row.id,
      description: describeReference(row, summaryOf(row)),
      createdAt: row.created_at,
      ...driftColumns(samples, settings.includeModelOutputs),
    });
    const key = `${row.id}:${settings.includeModelOutputs ? 1 : 0}`;
    if (this.prepared.size >= PREPARED_CACHE_SIZE) {
      const oldest = this.prepared.keys().next().value;
      if (oldest !== undefined) this.prepared.delete(oldest);
    }
    this.prepared.set(key, prepared);
    return prepared;
  }
}
