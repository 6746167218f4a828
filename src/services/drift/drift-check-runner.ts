/**
 * Runs one drift check: takes a camera's current window (the newest thinned frames of its
 * current model version, after its baseline), compares it with the baseline, and stores the
 * report in `drift_reports` — which reference, which window, how many samples, and why it
 * decided — whatever the input: no frames, a baseline still being collected
 * (`no_reference`), too few samples or broken features (`insufficient_data`) are reports,
 * never errors.
 *
 * It never enqueues jobs (drift-check-queue.ts does) and never tells observers (the facade
 * syncs them after a check).
 */
import type { DriftReportRow } from '../../db/schema.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import type {
  DriftCameraStatus,
  DriftReferenceInfo,
  DriftSettings,
} from '../../shared/api/drift.js';
import {
  checkDrift,
  selectDriftWindow,
  type DriftConfig,
  type DriftReference,
  type DriftReport,
} from '../../vision/drift/index.js';
import { driftColumns, newId, sampleOfFrame } from './drift-samples.js';
import type { DriftReferences } from './drift-references.js';
import type { DriftSettingsStore } from './drift-settings.js';
import { reportView, type DriftCheckRecord } from './drift-views.js';

/** Model-output features compared when `includeModelOutputs` is on. */
export const OUTPUT_FEATURES = ['meanConfidence', 'detectionsPerFrame'] as const;
export const CATEGORICAL_FEATURES = ['classMix', 'uncertainShare'] as const;

/** What a report row records besides the detector's report. */
interface ReportMeta {
  camera: string;
  modelVersion: string | null;
  reference: DriftReferenceInfo | null;
  baseline: DriftCameraStatus['baseline'];
  windowStart: number;
  windowEnd: number;
  jobId: string | null;
  now: number;
}

/** One check's inputs once the camera's newest frame is known. */
interface CheckContext {
  camera: string;
  modelVersion: string;
  newestAt: number;
  epoch: number;
  settings: DriftSettings;
  config: Partial<DriftConfig>;
  jobId: string | null;
  now: number;
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

export class DriftCheckRunner {
  constructor(
    private readonly drift: DriftRepository,
    private readonly settings: DriftSettingsStore,
    private readonly references: DriftReferences,
    private readonly now: () => number,
  ) {}

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
    const settings = await this.settings.settings();
    const config = configOf(settings);
    const jobId = options.jobId ?? null;
    const newest = await this.drift.newestFrame(camera);
    if (newest === undefined) {
      const report = checkDrift(null, { camera, numeric: {} }, config);
      report.reason = `no frames from camera '${camera}' yet: nothing to compare`;
      const meta = { camera, modelVersion: null, reference: null, baseline: null };
      return this.storeReport(report, { ...meta, windowStart: now, windowEnd: now, jobId, now });
    }
    const baselineState = await this.references.baselineState();
    const context: CheckContext = {
      camera,
      modelVersion: newest.modelVersion,
      newestAt: newest.capturedAt,
      epoch: Math.max(baselineState.since, baselineState.cameras[camera]?.since ?? 0),
      settings,
      config,
      jobId,
      now,
    };
    const { epoch, modelVersion } = context;
    const baseline = await this.references.baselineFor(camera, modelVersion, epoch, settings, now);
    if (baseline.reference === null) {
      return this.reportCollecting(context, baseline.samples, baseline.firstAt);
    }
    return this.compareWindow(context, baseline.reference, baseline.prepared);
  }

  /** The `no_reference` report of a camera whose baseline is still being collected. */
  private async reportCollecting(
    context: CheckContext,
    samples: number,
    firstAt: number | null,
  ): Promise<DriftCameraStatus> {
    const { camera, modelVersion, epoch, settings } = context;
    const report = checkDrift(null, { camera, numeric: {} }, context.config);
    // After a hot swap the new version is judged against its own traffic, never against the
    // condition the previous version drifted on (docs/drift.md, "After a swap").
    const previous = await this.drift.previousVersion(camera, modelVersion);
    const swap =
      previous === undefined
        ? ''
        : ` after the swap from ${previous}: the new version is compared with its own traffic, not with ${previous}'s`;
    report.reason =
      `no reference for camera '${camera}' yet: collecting the baseline of model ` +
      `${modelVersion} (${samples} of ${settings.baselineSamples} thinned frames ` +
      `${collectingSince(epoch, firstAt)})${swap}; checks compare once it is complete`;
    return this.storeReport(report, {
      camera,
      modelVersion,
      reference: null,
      baseline: { state: 'collecting', samples, needed: settings.baselineSamples, since: epoch },
      windowStart: epoch,
      windowEnd: context.newestAt,
      jobId: context.jobId,
      now: context.now,
    });
  }

  /** Compares the camera's current window with its ready baseline and stores the report. */
  private async compareWindow(
    context: CheckContext,
    info: DriftReferenceInfo,
    reference: DriftReference,
  ): Promise<DriftCameraStatus> {
    const { camera, modelVersion, epoch, settings } = context;
    const spacingMs = Math.round(settings.minSpacingSeconds * 1000);
    const spanMs = settings.windowSpanSeconds * 1000;
    const windowEnd = context.newestAt;
    // The window starts after the baseline's last clock bucket, so it never shares a frame (or
    // a bucket) with its reference.
    const afterBaseline =
      info.to === null
        ? epoch
        : spacingMs > 0
          ? (Math.floor(info.to / spacingMs) + 1) * spacingMs
          : info.to + 1;
    const windowFrom = Math.max(epoch, afterBaseline, windowEnd - spanMs + 1);
    const empty = windowFrom > windowEnd;
    const frames = empty
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
    const framesSeen = empty
      ? 0
      : await this.drift.countFrames(camera, modelVersion, windowFrom, windowEnd);
    const samples = selection.samples.map((s) => sampleOfFrame(s.frame));
    const window = { camera, startMs: selection.startMs, endMs: selection.endMs, framesSeen };
    const columns = driftColumns(samples, settings.includeModelOutputs);
    const report = checkDrift(reference, { ...window, ...columns }, context.config);
    return this.storeReport(report, {
      camera,
      modelVersion,
      reference: info,
      baseline: { state: 'ready', samples: info.samples, needed: info.samples, since: epoch },
      windowStart: Math.min(windowFrom, windowEnd),
      windowEnd,
      jobId: context.jobId,
      now: context.now,
    });
  }

  private async storeReport(report: DriftReport, meta: ReportMeta): Promise<DriftCameraStatus> {
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
    return reportView(row);
  }
}
