/**
 * The drift monitor's server side (issue 6; statistics in src/vision/drift, docs/drift.md).
 *
 * What is compared. Each camera's recent frames are compared with a **baseline of that camera's
 * own production traffic taken after the last promotion**: the first `baselineSamples` thinned
 * frames (one per `minSpacingSeconds` clock bucket) that the current model version produced on
 * that camera from the baseline epoch on. Training images are rendered differently from the
 * moving belt and alarm on every nominal window (docs/drift.md), so they are stored at model
 * registration (`storeTrainingReference`) for display only. "Promotion" is, until the registry
 * calls `resetBaseline`, the first time a model version appears in a camera's traffic (each
 * camera and version gets its own baseline) or an admin's `POST /api/metrics/drift/baseline`.
 * After a hot swap the camera's frames carry the new version, so its checks use that version's
 * own post-swap baseline (`collecting` until full, never the previous version's, which would
 * keep a recovered line red), and recovery reads green (docs/drift.md, "After a swap").
 * Besides the seven image features, the baseline is the reference for model outputs (mean
 * confidence and detections per frame by KS, the uncertain share and the class mix by
 * chi-square) when `includeModelOutputs` is on.
 *
 * Current windows: the newest `windowSamples` thinned frames of the camera and version, within
 * `windowSpanSeconds` of its newest frame and after the baseline's last frame (a window never
 * overlaps its reference), selected with `selectDriftWindow`.
 *
 * Checks run as `drift.check` jobs (scheduled every `checkEverySeconds` per camera with recent
 * traffic, or on demand) and store a report in `drift_reports` — which reference, which window,
 * how many samples, and why it decided — whatever the input: no frames, a baseline still being
 * collected (`no_reference`), too few samples or broken features (`insufficient_data`) are
 * reports, never errors.
 *
 * Where it shows: `syncObservers()` (run by the server on a timer and after each check in this
 * process) reads new reports from the database — so checks run by workers in other processes
 * count too — publishes a `drift` event when a camera's level changes, tells `onLevelChange`
 * listeners (the agents' drift-boost sampling), and sets the Prometheus gauges from the worst
 * camera.
 */
import { randomBytes } from 'node:crypto';
import type { DriftLevel, DriftReferenceRow, DriftReportRow } from '../db/schema.js';
import type { ScheduledJob } from './jobs/job-catalogue.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';
import { isFinished, type JobQueue } from './jobs/job-queue.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type { DriftFrameRow, DriftRepository } from '../repositories/drift.repository.js';
import { MAX_EPOCH_MS } from '../repositories/drift.repository.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import {
  DEFAULT_DRIFT_SETTINGS,
  driftBaselineStateSchema,
  driftCameraStatusSchema,
  driftDistributionSchema,
  driftSettingsSchema,
  type DriftBaselineState,
  type DriftCameraStatus,
  type DriftCheckPayload,
  type DriftCheckQuery,
  type DriftCheckResponse,
  type DriftDistribution,
  type DriftFeature,
  type DriftHistoryQuery,
  type DriftHistoryResponse,
  type DriftReferenceInfo,
  type DriftSettings,
  type DriftStatusQuery,
  type DriftStatusResponse,
  type TrainingReferenceSummary,
  type UpdateDriftSettingsRequest,
} from '../shared/api/drift.js';
import { FEATURE_NAMES, type FrameFeatures } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  checkDrift,
  prepareReference,
  selectDriftWindow,
  type DriftConfig,
  type DriftReference,
  type DriftReport,
  type FeatureDriftResult,
} from '../vision/drift/index.js';
import type { JobView } from '../shared/api/jobs.js';
import { driftSettingsProblems } from '../shared/api/settings.js';
import type { EventBus } from './event-bus.js';
import type { DriftObservation } from './prometheus-exporter.js';

/** Settings-table key of the drift settings. */
export const DRIFT_SETTINGS_KEY = 'drift';
/** Settings-table key of the baseline epoch (global and per camera). */
export const DRIFT_BASELINE_KEY = 'drift.baseline';
/** Model-output features compared when `includeModelOutputs` is on. */
export const OUTPUT_FEATURES = ['meanConfidence', 'detectionsPerFrame'] as const;
export const CATEGORICAL_FEATURES = ['classMix', 'uncertainShare'] as const;
/** Reports older than this do not count as a camera's current state. */
export const DRIFT_STATUS_LOOKBACK_MS = 7 * 86_400_000;
/** The dedupe key of a camera's drift.check job. */
export function driftCheckKey(camera: string): string {
  return `drift.check:${camera}`;
}

const DEFAULT_BASELINE: DriftBaselineState = {
  since: 0,
  reason: null,
  actor: null,
  cameras: {},
};
const LEVEL_RANK: Record<DriftLevel, number> = { unknown: 0, green: 1, yellow: 2, red: 3 };
/** Reports made this long before the newest seen are read again by syncObservers (clock skew). */
const SYNC_LOOKBACK_MS = 60_000;
const PREPARED_CACHE_SIZE = 64;

/** One sample of a reference or window: a frame's features and model outputs. */
interface DriftSample {
  /** Capture time (0 for training images). */
  t: number;
  /** FEATURE_NAMES order; null where the stored value was missing or not finite. */
  f: (number | null)[];
  /** Mean detection confidence; null without detections. */
  c: number | null;
  /** Detections. */
  d: number;
  /** 1 when flagged uncertain. */
  u: 0 | 1;
  /** Detections per class name. */
  k: Record<string, number>;
}

interface SampleFile {
  version: 1;
  features: readonly string[];
  samples: DriftSample[];
}

/** What the `report` column holds. */
interface DriftCheckRecord {
  version: 1;
  modelVersion: string | null;
  reference: DriftReferenceInfo | null;
  baseline: DriftCameraStatus['baseline'];
  report: DriftReport;
}

interface ReferenceSummary {
  /** Baselines: frames captured at or after this epoch were eligible. */
  since?: number;
  from?: number | null;
  to?: number | null;
  spacingMs?: number;
  medians?: Record<string, number | null>;
}

export interface DriftLevelChange {
  camera: string;
  level: DriftLevel;
  previousLevel: DriftLevel;
  driftShare: number | null;
  reportId: string;
  at: number;
  /** Some camera is at yellow or red after this change (drives drift-boost sampling). */
  anyDrifting: boolean;
}
export type DriftLevelListener = (change: DriftLevelChange) => void | Promise<void>;

export interface DriftObservers {
  events: EventBus;
  prometheus: { setDrift(observation: DriftObservation): void };
}

export interface DriftServiceOptions {
  now?: () => number;
  /** Failures of listeners and of syncing after a check. */
  onBackgroundError?: (error: unknown) => void;
}

function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A number from stored JSON: non-numbers become NaN (dropped and counted by the detector). */
function numberOrNaN(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function median(values: readonly number[]): number | null {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return null;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/** A frame result's drift sample (broken or missing features become NaN, never an error). */
export function sampleOfFrame(frame: DriftFrameRow): DriftSample {
  const features = parseJson(frame.features);
  const record =
    typeof features === 'object' && features !== null ? (features as Record<string, unknown>) : {};
  const detections = parseJson(frame.detections);
  const confidences: number[] = [];
  const classes: Record<string, number> = {};
  if (Array.isArray(detections)) {
    for (const detection of detections as unknown[]) {
      if (typeof detection !== 'object' || detection === null) continue;
      const { confidence, className } = detection as { confidence?: unknown; className?: unknown };
      if (typeof confidence === 'number' && Number.isFinite(confidence)) {
        confidences.push(confidence);
      }
      if (typeof className === 'string') classes[className] = (classes[className] ?? 0) + 1;
    }
  }
  return {
    t: frame.capturedAt,
    f: FEATURE_NAMES.map((name) => numberOrNaN(record[name])),
    c:
      confidences.length === 0
        ? null
        : confidences.reduce((sum, value) => sum + value, 0) / confidences.length,
    d: frame.detectionCount,
    u: frame.uncertain ? 1 : 0,
    k: classes,
  };
}

/** The detector's input columns for samples. */
export function driftColumns(
  samples: readonly DriftSample[],
  includeModelOutputs: boolean,
): {
  numeric: Record<string, number[]>;
  categorical: Record<string, Record<string, number>>;
} {
  const numeric: Record<string, number[]> = {};
  FEATURE_NAMES.forEach((name, i) => {
    numeric[name] = samples.map((s) => s.f[i] ?? Number.NaN);
  });
  if (!includeModelOutputs) return { numeric, categorical: {} };
  numeric.meanConfidence = samples.map((s) => s.c ?? Number.NaN);
  numeric.detectionsPerFrame = samples.map((s) => s.d);
  const classMix: Record<string, number> = {};
  let uncertain = 0;
  for (const sample of samples) {
    uncertain += sample.u;
    for (const [name, count] of Object.entries(sample.k)) {
      classMix[name] = (classMix[name] ?? 0) + count;
    }
  }
  return {
    numeric,
    categorical: {
      classMix,
      uncertainShare: { uncertain, certain: samples.length - uncertain },
    },
  };
}

function configOf(settings: DriftSettings): Partial<DriftConfig> {
  return {
    alpha: settings.alpha,
    driftShareThreshold: settings.driftShareThreshold,
    redShareThreshold: settings.redShareThreshold,
    correction: settings.correction,
    minSamples: settings.minSamples,
  };
}

function featureView(feature: FeatureDriftResult): DriftFeature {
  return {
    feature: feature.feature,
    kind: feature.kind,
    test: feature.test,
    status: feature.status,
    statistic: finiteOrNull(feature.statistic),
    pValue: finiteOrNull(feature.pValue),
    adjustedPValue: finiteOrNull(feature.adjustedPValue),
    drifted: feature.drifted,
    method: feature.method,
    wasserstein: finiteOrNull(feature.wasserstein),
    scaledMagnitude: finiteOrNull(feature.scaledMagnitude),
    referenceMedian: finiteOrNull(feature.referenceMedian),
    currentMedian: finiteOrNull(feature.currentMedian),
    nRef: feature.nRef,
    nCur: feature.nCur,
    droppedRef: feature.droppedRef,
    droppedCur: feature.droppedCur,
    note: feature.note,
    distribution: distributionOf(feature.distribution),
  };
}

/** A stored distribution as the API shows it; null when absent or not the current shape. */
function distributionOf(value: unknown): DriftDistribution | null {
  const parsed = driftDistributionSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

function pValuesOf(features: readonly { feature: string; pValue: number | null }[]) {
  return Object.fromEntries(features.map((f) => [f.feature, finiteOrNull(f.pValue)]));
}

function parseFeatureList(text: string): DriftFeature[] {
  const parsed = parseJson(text);
  if (!Array.isArray(parsed)) return [];
  const features: DriftFeature[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    features.push(featureView(item as FeatureDriftResult));
  }
  return features;
}

function isDriftStatus(value: string): value is DriftCameraStatus['status'] {
  return ['ok', 'drift', 'insufficient_data', 'no_reference'].includes(value);
}

/**
 * Where a baseline being collected starts, in words: the reset's time when the baseline was
 * reset, else the first frame it took (a baseline never reset starts at epoch 0, which is no
 * time to show anyone), else nothing yet.
 */
export function collectingSince(epoch: number, firstFrameAt: number | null): string {
  if (epoch > 0) return `since the reset at ${new Date(epoch).toISOString()}`;
  if (firstFrameAt !== null)
    return `since its first frame at ${new Date(firstFrameAt).toISOString()}`;
  return 'so far';
}

/** INVALID_ARGUMENT when drift settings contradict each other. */
function checkDriftSettings(values: Omit<DriftSettings, 'revision'>): void {
  // The same rules the dashboard's settings form checks before it sends anything.
  const problems = driftSettingsProblems(values).map((problem) => problem.message);
  if (problems.length > 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `invalid drift settings: ${problems.join('; ')}`);
  }
}

export class DriftService {
  private readonly now: () => number;
  private readonly onBackgroundError: (error: unknown) => void;
  private readonly prepared = new Map<string, DriftReference>();
  private readonly listeners = new Set<DriftLevelListener>();
  // syncObservers state: which reports were seen, each camera's level and last observation.
  private syncing: Promise<DriftLevelChange[]> = Promise.resolve([]);
  private primed = false;
  private newestSeen: number | null = null;
  private readonly seen = new Map<string, number>();
  private readonly levels = new Map<string, DriftLevel>();
  private readonly observations = new Map<string, DriftObservation>();

  constructor(
    private readonly drift: DriftRepository,
    private readonly settingsStore: SettingsRepository,
    private readonly blobs: BlobStore,
    private readonly queue: JobQueue,
    private readonly observers: DriftObservers,
    options: DriftServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
  }

  // --- settings ---------------------------------------------------------------------------

  async settings(): Promise<DriftSettings> {
    const row = await this.settingsStore.get(DRIFT_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_DRIFT_SETTINGS;
    return this.decodeSettings(row.value, row.revision);
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
        row === undefined ? DEFAULT_DRIFT_SETTINGS : this.decodeSettings(row.value, row.revision);
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

  // --- baseline ---------------------------------------------------------------------------

  async baselineState(): Promise<DriftBaselineState> {
    const row = await this.settingsStore.get(DRIFT_BASELINE_KEY);
    return row === undefined ? DEFAULT_BASELINE : this.decodeBaseline(row.value);
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
      const current = row === undefined ? DEFAULT_BASELINE : this.decodeBaseline(row.value);
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
    const stored = await this.blobs.put(this.encodeSamples(samples));
    const summary: ReferenceSummary = { medians: this.mediansOf(samples) };
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

  // --- checks -----------------------------------------------------------------------------

  /** Cameras with frames within the window span, as `drift.check` jobs (for the scheduler). */
  async scheduledChecks(now: number): Promise<ScheduledJob[]> {
    const cameras = await this.activeCameras(now);
    return cameras.map((camera) => ({
      name: 'drift.check' as const,
      payload: { camera, trigger: 'schedule' as const },
      dedupeKey: driftCheckKey(camera),
    }));
  }

  async activeCameras(now: number = this.now()): Promise<string[]> {
    const settings = await this.settings();
    return this.drift.activeCameras(now - settings.windowSpanSeconds * 1000);
  }

  /**
   * Enqueues a check of `camera` (default: every camera with recent traffic); with `wait`,
   * waits up to `timeoutSeconds` for the jobs and returns the reports they wrote — unless no
   * live worker runs drift checks, then it answers at once (`message` says why). A check
   * already queued or running for a camera is reused.
   */
  async requestCheck(query: DriftCheckQuery): Promise<DriftCheckResponse> {
    const cameras = query.camera === undefined ? await this.activeCameras() : [query.camera];
    const jobs: JobView[] = [];
    for (const camera of cameras) {
      const { job } = await this.queue.enqueue(
        'drift.check',
        { camera, trigger: 'manual' },
        { dedupeKey: driftCheckKey(camera), priority: 1 },
      );
      jobs.push(job);
    }
    const pending = (message: string | null): DriftCheckResponse => ({
      complete: jobs.every((job) => isFinished(job.status)),
      jobs,
      cameras: [],
      message,
    });
    if (!query.wait) return pending(null);
    // Waiting for a job nobody will run would only hold the request open.
    if ((await this.queue.liveWorkers('drift.check')).length === 0) {
      return pending(
        'no worker runs drift.check jobs now: the checks stay queued until one starts (visionloop worker)',
      );
    }
    const timeoutMs = query.timeoutSeconds * 1000;
    const finished = await Promise.all(
      jobs.map((job) => this.queue.waitFor(job.id, { timeoutMs })),
    );
    const reports: DriftCameraStatus[] = [];
    for (const job of finished) {
      const result = job.result;
      if (job.status !== 'succeeded' || typeof result !== 'object' || result === null) continue;
      const reportId = (result as { reportId?: unknown }).reportId;
      if (typeof reportId !== 'string') continue;
      const row = await this.drift.findReport(reportId);
      if (row !== undefined) reports.push(this.view(row));
    }
    return {
      complete: finished.every((job) => isFinished(job.status)),
      jobs: finished,
      cameras: reports,
      message: null,
    };
  }

  /** The `drift.check` job: checks one camera, stores the report, updates observers. */
  async runCheck(
    payload: DriftCheckPayload,
    context: Pick<JobContext, 'jobId' | 'signal' | 'reportProgress'>,
  ): Promise<JsonValue> {
    const status = await this.checkCamera(payload.camera, { jobId: context.jobId });
    context.reportProgress({ fraction: 1, stage: 'stored' });
    await this.syncObservers().catch((error: unknown) => this.onBackgroundError(error));
    return {
      reportId: status.reportId,
      camera: status.camera,
      status: status.status,
      level: status.level,
      driftShare: status.driftShare,
    };
  }

  /**
   * Checks one camera now and stores the report (what a `drift.check` job does). Every input
   * gives a report: no frames and a baseline still being collected are `no_reference`, too few
   * or broken samples `insufficient_data`.
   */
  async checkCamera(
    camera: string,
    options: { jobId?: string | null } = {},
  ): Promise<DriftCameraStatus> {
    const now = this.now();
    const settings = await this.settings();
    const config = configOf(settings);
    const jobId = options.jobId ?? null;
    const newest = await this.drift.newestFrame(camera);
    if (newest === undefined) {
      const report = checkDrift(null, { camera, numeric: {} }, config);
      report.reason = `no frames from camera '${camera}' yet: nothing to compare`;
      return this.storeReport(report, {
        camera,
        modelVersion: null,
        reference: null,
        baseline: null,
        windowStart: now,
        windowEnd: now,
        jobId,
        now,
      });
    }

    const modelVersion = newest.modelVersion;
    const baselineState = await this.baselineState();
    const epoch = Math.max(baselineState.since, baselineState.cameras[camera]?.since ?? 0);
    const baseline = await this.baselineFor(camera, modelVersion, epoch, settings, now);
    const spacingMs = Math.round(settings.minSpacingSeconds * 1000);
    const spanMs = settings.windowSpanSeconds * 1000;

    if (baseline.reference === null) {
      const report = checkDrift(null, { camera, numeric: {} }, config);
      // After a hot swap the new version is judged against its own traffic, never against the
      // condition the previous version drifted on (docs/drift.md, "After a swap").
      const previous = await this.drift.previousVersion(camera, modelVersion);
      const swap =
        previous === undefined
          ? ''
          : ` after the swap from ${previous}: the new version is compared with its own traffic, not with ${previous}'s`;
      report.reason =
        `no reference for camera '${camera}' yet: collecting the baseline of model ` +
        `${modelVersion} (${baseline.samples} of ${settings.baselineSamples} thinned frames ` +
        `${collectingSince(epoch, baseline.firstAt)})${swap}; checks compare once it is complete`;
      return this.storeReport(report, {
        camera,
        modelVersion,
        reference: null,
        baseline: {
          state: 'collecting',
          samples: baseline.samples,
          needed: settings.baselineSamples,
          since: epoch,
        },
        windowStart: epoch,
        windowEnd: newest.capturedAt,
        jobId,
        now,
      });
    }

    const info = baseline.reference;
    const windowEnd = newest.capturedAt;
    // The window starts after the baseline's last clock bucket, so it never shares a frame (or
    // a bucket) with its reference.
    const afterBaseline =
      info.to === null
        ? epoch
        : spacingMs > 0
          ? (Math.floor(info.to / spacingMs) + 1) * spacingMs
          : info.to + 1;
    const windowFrom = Math.max(epoch, afterBaseline, windowEnd - spanMs + 1);
    const frames =
      windowFrom > windowEnd
        ? []
        : await this.drift.thinnedFrames({
            camera,
            modelVersion,
            from: windowFrom,
            to: windowEnd,
            spacingMs,
            limit: settings.windowSamples,
            take: 'newest',
          });
    const selection = selectDriftWindow(
      frames.map((frame) => ({ frame, timestampMs: frame.capturedAt })),
      { maxSamples: settings.windowSamples, spanMs, minSpacingMs: spacingMs },
      windowEnd,
    );
    const framesSeen =
      windowFrom > windowEnd
        ? 0
        : await this.drift.countFrames(camera, modelVersion, windowFrom, windowEnd);
    const samples = selection.samples.map((s) => sampleOfFrame(s.frame));
    const reference = baseline.prepared;
    const report = checkDrift(
      reference,
      {
        camera,
        startMs: selection.startMs,
        endMs: selection.endMs,
        framesSeen,
        ...driftColumns(samples, settings.includeModelOutputs),
      },
      config,
    );
    return this.storeReport(report, {
      camera,
      modelVersion,
      reference: info,
      baseline: {
        state: 'ready',
        samples: info.samples,
        needed: info.samples,
        since: epoch,
      },
      windowStart: Math.min(windowFrom, windowEnd),
      windowEnd,
      jobId,
      now,
    });
  }

  // --- reads ------------------------------------------------------------------------------

  /** The newest report of each camera (GET /api/metrics/drift). */
  async status(query: DriftStatusQuery = {}): Promise<DriftStatusResponse> {
    const now = this.now();
    const [settings, baseline, rows, training] = await Promise.all([
      this.settings(),
      this.baselineState(),
      this.drift.latestReports(now - DRIFT_STATUS_LOOKBACK_MS, query.camera),
      this.drift.listReferences('training', 20),
    ]);
    const cameras = rows.map((row) => this.view(row));
    let level: DriftLevel = 'unknown';
    let share: number | null = null;
    for (const camera of cameras) {
      if (LEVEL_RANK[camera.level] > LEVEL_RANK[level]) level = camera.level;
      if (camera.driftShare !== null) share = Math.max(share ?? 0, camera.driftShare);
    }
    return {
      generatedAt: now,
      overall: {
        level,
        driftShare: share,
        drifting: cameras
          .filter((c) => c.level === 'yellow' || c.level === 'red')
          .map((c) => c.camera),
        cameras: cameras.length,
      },
      thresholds: {
        alpha: settings.alpha,
        driftShareThreshold: settings.driftShareThreshold,
        redShareThreshold: settings.redShareThreshold,
        correction: settings.correction,
      },
      baseline,
      cameras,
      trainingReferences: training.map((row) => this.trainingSummary(row)),
    };
  }

  /** Reports over a time range, oldest first (GET /api/metrics/drift/history). */
  async history(query: DriftHistoryQuery): Promise<DriftHistoryResponse> {
    const now = this.now();
    const to = query.to ?? now + 1;
    const from = query.from ?? to - 86_400_000;
    if (from > to) {
      throw new VisionLoopError('INVALID_ARGUMENT', '`from` must not be after `to`');
    }
    const rows = await this.drift.reportsBetween(from, to, query.limit + 1, query.camera);
    const truncated = rows.length > query.limit;
    const points = rows
      .slice(0, query.limit)
      .reverse()
      .map((row) => {
        const features = parseFeatureList(row.features);
        const status = isDriftStatus(row.status) ? row.status : 'ok';
        const tested = status === 'ok' || status === 'drift';
        return {
          reportId: row.id,
          camera: row.camera,
          at: row.created_at,
          windowStart: row.window_start,
          windowEnd: row.window_end,
          modelVersion: row.model_version,
          status,
          level: row.level,
          driftShare: tested ? row.drift_share : null,
          driftedFeatures: features.filter((f) => f.drifted).map((f) => f.feature),
          pValues: pValuesOf(features),
        };
      });
    return { from, to, points, truncated };
  }

  // --- observers --------------------------------------------------------------------------

  /**
   * Calls `listener` when a camera's drift level changes (in the process that runs
   * `syncObservers`, i.e. every server). Returns the unsubscribe function.
   */
  onLevelChange(listener: DriftLevelListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Reads reports made since the last call (by this process or any worker), publishes a
   * `drift` event and tells the listeners for every level change, and sets the Prometheus
   * gauges from the camera with the highest drift share. The first call only learns the
   * current levels. Calls are serialized.
   */
  syncObservers(): Promise<DriftLevelChange[]> {
    const run = this.syncing.then(
      () => this.syncOnce(),
      () => this.syncOnce(),
    );
    this.syncing = run;
    return run;
  }

  private async syncOnce(): Promise<DriftLevelChange[]> {
    const now = this.now();
    const changes: DriftLevelChange[] = [];
    if (!this.primed) {
      for (const row of await this.drift.latestReports(now - DRIFT_STATUS_LOOKBACK_MS)) {
        if (row.camera === null) continue;
        this.levels.set(row.camera, row.level);
        this.observe(row);
      }
    }
    const since = (this.newestSeen ?? now) - SYNC_LOOKBACK_MS;
    const rows = await this.drift.reportsSince(since, 1000);
    for (const row of rows) {
      if (this.seen.has(row.id)) continue;
      this.seen.set(row.id, row.created_at);
      this.newestSeen = Math.max(this.newestSeen ?? row.created_at, row.created_at);
      if (row.camera === null) continue;
      const previousLevel = this.levels.get(row.camera) ?? 'unknown';
      this.levels.set(row.camera, row.level);
      this.observe(row);
      if (!this.primed || row.level === previousLevel) continue;
      changes.push({
        camera: row.camera,
        level: row.level,
        previousLevel,
        driftShare: this.isTested(row) ? row.drift_share : null,
        reportId: row.id,
        at: now,
        anyDrifting: false,
      });
      const features = parseFeatureList(row.features);
      this.observers.events.publish({
        type: 'drift',
        at: now,
        camera: row.camera,
        level: row.level,
        previousLevel,
        status: isDriftStatus(row.status) ? row.status : 'ok',
        driftShare: this.isTested(row) ? row.drift_share : null,
        driftedFeatures: features.filter((f) => f.drifted).map((f) => f.feature),
        reportId: row.id,
        reason: row.decision_reason,
      });
    }
    for (const [id, at] of this.seen) {
      if (at < since) this.seen.delete(id);
    }
    this.primed = true;
    this.publishGauges();
    const anyDrifting = [...this.levels.values()].some((l) => l === 'yellow' || l === 'red');
    for (const change of changes) {
      change.anyDrifting = anyDrifting;
      for (const listener of this.listeners) {
        try {
          await listener(change);
        } catch (error) {
          this.onBackgroundError(error);
        }
      }
    }
    return changes;
  }

  private isTested(row: DriftReportRow): boolean {
    return row.status === 'ok' || row.status === 'drift';
  }

  private observe(row: DriftReportRow): void {
    if (row.camera === null) return;
    if (!this.isTested(row)) {
      this.observations.delete(row.camera);
      return;
    }
    const pValues: Record<string, number> = {};
    for (const feature of parseFeatureList(row.features)) {
      if (feature.pValue !== null) pValues[feature.feature] = feature.pValue;
    }
    this.observations.set(row.camera, { share: row.drift_share, pValues });
  }

  private publishGauges(): void {
    let worst: DriftObservation | undefined;
    for (const observation of this.observations.values()) {
      if (worst === undefined || observation.share > worst.share) worst = observation;
    }
    if (worst !== undefined) this.observers.prometheus.setDrift(worst);
  }

  // --- internals --------------------------------------------------------------------------

  /**
   * The camera's baseline for `modelVersion` taken from `epoch` on: the stored one, or a new one
   * when enough thinned frames have arrived, or null with how many there are so far.
   */
  private async baselineFor(
    camera: string,
    modelVersion: string,
    epoch: number,
    settings: DriftSettings,
    now: number,
  ): Promise<
    | { reference: DriftReferenceInfo; prepared: DriftReference; samples: number }
    | { reference: null; prepared: null; samples: number; firstAt: number | null }
  > {
    const stored = await this.drift.newestReference('baseline', camera, modelVersion);
    if (stored !== undefined) {
      const summary = this.summaryOf(stored);
      if ((summary.since ?? -1) >= epoch) {
        const prepared = await this.loadPrepared(stored, settings);
        if (prepared !== null) {
          return { reference: this.referenceInfo(stored), prepared, samples: stored.sample_count };
        }
      }
    }
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
    const stored2 = await this.blobs.put(this.encodeSamples(samples));
    const id = newId('ref');
    const summary: ReferenceSummary = {
      since: epoch,
      from: selection.startMs,
      to: selection.endMs,
      spacingMs,
      medians: this.mediansOf(samples),
    };
    const row: DriftReferenceRow = {
      id,
      kind: 'baseline',
      model_version: modelVersion,
      camera,
      sample_count: samples.length,
      samples_blob: stored2.key,
      summary: JSON.stringify(summary),
      created_at: now,
    };
    await this.drift.insertReference(row);
    const prepared = this.prepare(row, samples, settings);
    return { reference: this.referenceInfo(row), prepared, samples: samples.length };
  }

  private referenceInfo(row: DriftReferenceRow): DriftReferenceInfo {
    const summary = this.summaryOf(row);
    return {
      id: row.id,
      kind: row.kind,
      modelVersion: row.model_version,
      description: this.describeReference(row, summary),
      createdAt: row.created_at,
      samples: row.sample_count,
      from: summary.from ?? null,
      to: summary.to ?? null,
    };
  }

  private describeReference(row: DriftReferenceRow, summary: ReferenceSummary): string {
    if (row.kind === 'training') {
      return `${row.sample_count} training images of ${row.model_version ?? 'a model'}`;
    }
    const from = summary.from == null ? '?' : new Date(summary.from).toISOString();
    const to = summary.to == null ? '?' : new Date(summary.to).toISOString();
    return `baseline of camera '${row.camera ?? '?'}' under model ${row.model_version ?? '?'}: ${row.sample_count} thinned frames ${from} – ${to}`;
  }

  private summaryOf(row: DriftReferenceRow): ReferenceSummary {
    const parsed = parseJson(row.summary);
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  }

  private trainingSummary(row: DriftReferenceRow): TrainingReferenceSummary {
    const medians = this.summaryOf(row).medians ?? {};
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
      description: this.describeReference(row, this.summaryOf(row)),
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

  private encodeSamples(samples: DriftSample[]): Buffer {
    const file: SampleFile = { version: 1, features: FEATURE_NAMES, samples };
    // JSON turns NaN and ±Infinity into null, read back as missing.
    return Buffer.from(JSON.stringify(file), 'utf8');
  }

  private mediansOf(samples: readonly DriftSample[]): Record<string, number | null> {
    const medians: Record<string, number | null> = {};
    FEATURE_NAMES.forEach((name, i) => {
      medians[name] = median(samples.map((s) => s.f[i] ?? Number.NaN));
    });
    return medians;
  }

  private async storeReport(
    report: DriftReport,
    meta: {
      camera: string;
      modelVersion: string | null;
      reference: DriftReferenceInfo | null;
      baseline: DriftCameraStatus['baseline'];
      windowStart: number;
      windowEnd: number;
      jobId: string | null;
      now: number;
    },
  ): Promise<DriftCameraStatus> {
    const record: DriftCheckRecord = {
      version: 1,
      modelVersion: meta.modelVersion,
      reference: meta.reference,
      baseline: meta.baseline,
      report,
    };
    const row: DriftReportRow = {
      id: newId('drp'),
      camera: meta.camera,
      model_version: meta.modelVersion,
      reference_id: report.reference?.id ?? 'none',
      window_start: Math.round(report.window.startMs ?? meta.windowStart),
      window_end: Math.round(report.window.endMs ?? meta.windowEnd),
      sample_count: report.window.samples,
      reference_count: report.reference?.samples ?? 0,
      drift_share: report.driftShare ?? 0,
      level: report.level,
      drifted: report.drifted ? 1 : 0,
      features: JSON.stringify(report.features),
      decision_reason: report.reason,
      created_at: meta.now,
      status: report.status,
      report: JSON.stringify(record),
      job_id: meta.jobId,
    };
    await this.drift.insertReport(row);
    return this.view(row);
  }

  /** A stored report as the API shows it. */
  private view(row: DriftReportRow): DriftCameraStatus {
    const record = parseJson(row.report) as Partial<DriftCheckRecord> | null;
    const report = record?.report;
    const features = parseFeatureList(row.features);
    const status = isDriftStatus(row.status) ? row.status : 'ok';
    const tested = status === 'ok' || status === 'drift';
    const view: DriftCameraStatus = {
      camera: row.camera ?? '',
      reportId: row.id,
      jobId: row.job_id,
      checkedAt: row.created_at,
      modelVersion: row.model_version,
      status,
      level: row.level,
      drifted: row.drifted === 1,
      driftShare: tested ? row.drift_share : null,
      driftedFeatures: features.filter((f) => f.drifted).map((f) => f.feature),
      testedFeatures: features.filter((f) => f.status === 'tested').length,
      pValues: pValuesOf(features),
      features,
      reference: record?.reference ?? null,
      window: {
        startMs: report?.window.startMs ?? null,
        endMs: report?.window.endMs ?? null,
        framesSeen: report?.window.framesSeen ?? null,
        samples: row.sample_count,
      },
      baseline: record?.baseline ?? null,
      reason: row.decision_reason,
    };
    // A report written by another build may not fit the current contract: show what fits.
    const checked = driftCameraStatusSchema.safeParse(view);
    return checked.success ? checked.data : { ...view, reference: null, baseline: null };
  }

  private decodeBaseline(text: string): DriftBaselineState {
    const parsed = driftBaselineStateSchema.safeParse(parseJson(text));
    return parsed.success ? parsed.data : DEFAULT_BASELINE;
  }

  private decodeSettings(text: string, revision: number): DriftSettings {
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
}
