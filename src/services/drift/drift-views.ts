/**
 * How stored drift reports read: one report as the API shows a camera's state
 * (`reportView`), the newest report per camera with the overall level (GET
 * /api/metrics/drift) and the reports over a time range (GET /api/metrics/drift/history).
 * Reports written by another build are shown as far as they fit the current contract.
 *
 * It only reads; it never runs a check or changes a baseline.
 */
import type { DriftLevel, DriftReportRow } from '../../db/schema.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import {
  driftCameraStatusSchema,
  driftDistributionSchema,
  type DriftCameraStatus,
  type DriftDistribution,
  type DriftFeature,
  type DriftHistoryQuery,
  type DriftHistoryResponse,
  type DriftReferenceInfo,
  type DriftStatusQuery,
  type DriftStatusResponse,
} from '../../shared/api/drift.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { DriftReport, FeatureDriftResult } from '../../vision/drift/index.js';
import { finiteOrNull, parseJson } from './drift-samples.js';
import type { DriftReferences } from './drift-references.js';
import type { DriftSettingsStore } from './drift-settings.js';

/** Reports older than this do not count as a camera's current state. */
export const DRIFT_STATUS_LOOKBACK_MS = 7 * 86_400_000;

const LEVEL_RANK: Record<DriftLevel, number> = { unknown: 0, green: 1, yellow: 2, red: 3 };

/** What the `report` column holds. */
export interface DriftCheckRecord {
  version: 1;
  modelVersion: string | null;
  reference: DriftReferenceInfo | null;
  baseline: DriftCameraStatus['baseline'];
  report: DriftReport;
}

/** A stored distribution as the API shows it; null when absent or not the current shape. */
function distributionOf(value: unknown): DriftDistribution | null {
  const parsed = driftDistributionSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
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

function pValuesOf(features: readonly { feature: string; pValue: number | null }[]) {
  return Object.fromEntries(features.map((f) => [f.feature, finiteOrNull(f.pValue)]));
}

/** The `features` column of a report as the API shows it (malformed items are skipped). */
export function parseFeatureList(text: string): DriftFeature[] {
  const parsed = parseJson(text);
  if (!Array.isArray(parsed)) return [];
  const features: DriftFeature[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    features.push(featureView(item as FeatureDriftResult));
  }
  return features;
}

export function isDriftStatus(value: string): value is DriftCameraStatus['status'] {
  return ['ok', 'drift', 'insufficient_data', 'no_reference'].includes(value);
}

/** The report compared something (its drift share means something). */
export function isTested(row: DriftReportRow): boolean {
  return row.status === 'ok' || row.status === 'drift';
}

/** A stored report as the API shows it. */
export function reportView(row: DriftReportRow): DriftCameraStatus {
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

/** One report as a point of the history chart. */
function historyPoint(row: DriftReportRow): DriftHistoryResponse['points'][number] {
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
}

export class DriftViews {
  constructor(
    private readonly drift: DriftRepository,
    private readonly settings: DriftSettingsStore,
    private readonly references: DriftReferences,
    private readonly now: () => number,
  ) {}

  /** The newest report of each camera (GET /api/metrics/drift). */
  async status(query: DriftStatusQuery = {}): Promise<DriftStatusResponse> {
    const now = this.now();
    const [settings, baseline, rows, trainingReferences] = await Promise.all([
      this.settings.settings(),
      this.references.baselineState(),
      this.drift.latestReports(now - DRIFT_STATUS_LOOKBACK_MS, query.camera),
      this.references.trainingReferences(20),
    ]);
    const cameras = rows.map(reportView);
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
      trainingReferences,
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
    const points = rows.slice(0, query.limit).reverse().map(historyPoint);
    return { from, to, points, truncated };
  }
}
