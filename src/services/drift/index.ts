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
 * The folder, one module per job:
 * - drift-settings.ts     thresholds and schedule (settings table, compare-and-set)
 * - drift-references.ts   baseline epoch and reset, camera baselines, training references,
 *                         the prepared-reference cache
 * - drift-check-runner.ts one check of one camera → a stored report
 * - drift-check-queue.ts  `drift.check` jobs: scheduled cameras, on-demand requests
 * - drift-views.ts        reports as the API shows them: status, history
 * - drift-observers.ts    level-change events, listeners, Prometheus gauges
 * - drift-samples.ts      frame rows → samples → detector columns; the samples blob format
 *
 * Why a facade. Routes, job handlers, the schedule, the retraining policy and the composition
 * roots all hold one `DriftService` built from the same five dependencies, and the parts share
 * state that must exist once per process (the prepared-reference cache, the levels the
 * observers have seen). So `DriftService` stays the one object callers get: it builds the
 * parts once and each method is one delegation, plus `runCheck`, the `drift.check` job, which
 * is the one place a check and the observers meet. A newcomer reads the part named for the
 * feature; callers keep a single, stable interface.
 */
import type { JobContext, JsonValue } from '../jobs/job-context.js';
import type { ScheduledJob } from '../jobs/job-catalogue.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import type { SettingsRepository } from '../../repositories/settings.repository.js';
import type {
  DriftBaselineState,
  DriftCameraStatus,
  DriftCheckPayload,
  DriftCheckQuery,
  DriftCheckResponse,
  DriftHistoryQuery,
  DriftHistoryResponse,
  DriftReferenceInfo,
  DriftSettings,
  DriftStatusQuery,
  DriftStatusResponse,
  UpdateDriftSettingsRequest,
} from '../../shared/api/drift.js';
import type { FrameFeatures } from '../../shared/domain.js';
import { DriftCheckQueue } from './drift-check-queue.js';
import { DriftCheckRunner } from './drift-check-runner.js';
import {
  DriftObserverSync,
  type DriftLevelChange,
  type DriftLevelListener,
  type DriftObservers,
} from './drift-observers.js';
import { DriftReferences } from './drift-references.js';
import { DriftSettingsStore } from './drift-settings.js';
import { DriftViews } from './drift-views.js';

export { DRIFT_SETTINGS_KEY } from './drift-settings.js';
export { DRIFT_BASELINE_KEY } from './drift-references.js';
export { DRIFT_STATUS_LOOKBACK_MS } from './drift-views.js';
export { driftCheckKey } from './drift-check-queue.js';
export { CATEGORICAL_FEATURES, OUTPUT_FEATURES, collectingSince } from './drift-check-runner.js';
export { driftColumns, sampleOfFrame } from './drift-samples.js';
export type { DriftLevelChange, DriftLevelListener, DriftObservers } from './drift-observers.js';

export interface DriftServiceOptions {
  now?: () => number;
  /** Failures of listeners and of syncing after a check. */
  onBackgroundError?: (error: unknown) => void;
}

export class DriftService {
  private readonly settingsStore: DriftSettingsStore;
  private readonly references: DriftReferences;
  private readonly checks: DriftCheckRunner;
  private readonly checkQueue: DriftCheckQueue;
  private readonly views: DriftViews;
  private readonly observerSync: DriftObserverSync;
  private readonly onBackgroundError: (error: unknown) => void;

  constructor(
    drift: DriftRepository,
    settingsStore: SettingsRepository,
    blobs: BlobStore,
    queue: JobQueue,
    observers: DriftObservers,
    options: DriftServiceOptions = {},
  ) {
    const now = options.now ?? Date.now;
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
    this.settingsStore = new DriftSettingsStore(settingsStore, now);
    this.references = new DriftReferences(drift, settingsStore, blobs, now);
    this.checks = new DriftCheckRunner(drift, this.settingsStore, this.references, now);
    this.checkQueue = new DriftCheckQueue(drift, this.settingsStore, queue, now);
    this.views = new DriftViews(drift, this.settingsStore, this.references, now);
    this.observerSync = new DriftObserverSync(drift, observers, now, this.onBackgroundError);
  }

  // --- settings (drift-settings.ts) -------------------------------------------------------

  settings(): Promise<DriftSettings> {
    return this.settingsStore.settings();
  }

  /** Stores `values` only on a first start; returns the settings in force. */
  initSettings(values: UpdateDriftSettingsRequest, actor: string | null): Promise<DriftSettings> {
    return this.settingsStore.initSettings(values, actor);
  }

  /** Applies `changes` (INVALID_ARGUMENT when they contradict each other) and bumps the revision. */
  updateSettings(
    changes: UpdateDriftSettingsRequest,
    actor: string | null,
  ): Promise<DriftSettings> {
    return this.settingsStore.updateSettings(changes, actor);
  }

  /** The scheduled check period, ms (the `drift.check` schedule reads it every tick). */
  checkIntervalMs(): Promise<number> {
    return this.settingsStore.checkIntervalMs();
  }

  // --- references (drift-references.ts) ---------------------------------------------------

  baselineState(): Promise<DriftBaselineState> {
    return this.references.baselineState();
  }

  /** (Re)takes the baseline from now on, for every camera or only `camera`. */
  resetBaseline(
    reason: string,
    options: { camera?: string; actor?: string | null } = {},
  ): Promise<DriftBaselineState> {
    return this.references.resetBaseline(reason, options);
  }

  /** Stores a model version's training-image features as a display reference. */
  storeTrainingReference(
    modelVersion: string,
    features: readonly FrameFeatures[],
    options: { description?: string } = {},
  ): Promise<DriftReferenceInfo> {
    return this.references.storeTrainingReference(modelVersion, features, options);
  }

  // --- checks (drift-check-queue.ts, drift-check-runner.ts) -------------------------------

  /** Cameras with frames within the window span, as `drift.check` jobs (for the scheduler). */
  scheduledChecks(now: number): Promise<ScheduledJob[]> {
    return this.checkQueue.scheduledChecks(now);
  }

  activeCameras(now?: number): Promise<string[]> {
    return this.checkQueue.activeCameras(now);
  }

  /** Enqueues checks (one camera or every active one) and, with `wait`, waits for reports. */
  requestCheck(query: DriftCheckQuery): Promise<DriftCheckResponse> {
    return this.checkQueue.requestCheck(query);
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

  /** Checks one camera now and stores the report; every input gives a report. */
  checkCamera(camera: string, options: { jobId?: string | null } = {}): Promise<DriftCameraStatus> {
    return this.checks.checkCamera(camera, options);
  }

  // --- views (drift-views.ts) -------------------------------------------------------------

  /** The newest report of each camera (GET /api/metrics/drift). */
  status(query: DriftStatusQuery = {}): Promise<DriftStatusResponse> {
    return this.views.status(query);
  }

  /** Reports over a time range, oldest first (GET /api/metrics/drift/history). */
  history(query: DriftHistoryQuery): Promise<DriftHistoryResponse> {
    return this.views.history(query);
  }

  // --- observers (drift-observers.ts) -----------------------------------------------------

  /** Calls `listener` when a camera's drift level changes. Returns the unsubscribe function. */
  onLevelChange(listener: DriftLevelListener): () => void {
    return this.observerSync.onLevelChange(listener);
  }

  /** Reads new reports, publishes level changes, tells listeners, sets the gauges. */
  syncObservers(): Promise<DriftLevelChange[]> {
    return this.observerSync.sync();
  }
}
