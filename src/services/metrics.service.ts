/**
 * `/api/metrics`: what the dashboard shows about the line over a window ending now, per camera
 * and overall — frames and FPS, defect and uncertain rates, latency percentiles, the confidence
 * histogram and class counts.
 *
 * Cost is bounded whatever the window: counts and rates are exact (one GROUP BY over an index
 * range), while the distributions come from at most `sampleLimit` rows (default 20,000), the
 * newest of the window. A day of four 30 FPS cameras is ~10 M rows; reading them all for a
 * dashboard refresh would take seconds and hundreds of MB, and on SQLite every query runs on
 * the event loop, stalling ingest meanwhile: reading and summarizing 20,000 rows takes ~0.1 s
 * here, 50,000 ~0.3 s. 20,000 samples still put ~200 values above a p99. The response says
 * how much of the window the sample covered (`sample.complete`, `sample.oldestCapturedAt`).
 *
 * Definitions (docs/observability.md):
 * - defect and uncertain rates are shares of all frames (carried-forward frames included: each
 *   frame on the line gets a decision);
 * - inference latency, the confidence histogram and class counts use inferred frames only (a
 *   carried-forward frame ran no detector and repeats the previous detections);
 * - end-to-end latency (latencies.totalMs) uses every frame;
 * - percentiles are nearest-rank, as the agent computes them (src/agent/latency-window.ts).
 *
 * It never writes and never reads an unbounded number of rows.
 */
import {
  CONFIDENCE_EDGES,
  DEFAULT_METRICS_WINDOW_SECONDS,
  type ConfidenceHistogram,
  type LatencyPercentiles,
  type MetricsQuery,
  type MetricsResponse,
  type MetricsSummary,
} from '../shared/api/metrics.js';
import type {
  CameraFrameCounts,
  PredictionMetricsRepository,
  PredictionMetricsRow,
} from '../repositories/prediction-metrics.repository.js';

/** Most rows one `/api/metrics` request reads for its distributions. */
export const DEFAULT_METRICS_SAMPLE_LIMIT = 20_000;

const BIN_COUNT = CONFIDENCE_EDGES.length - 1;

export interface MetricsServiceOptions {
  /** Most rows read for the distributions per request. Default 20,000. */
  sampleLimit?: number;
  /** The clock, epoch ms (tests pin it). */
  now?: () => number;
}

/**
 * Nearest-rank percentile of ascending-sorted values: the smallest value with at least p% of
 * the values at or below it. NaN when empty.
 */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** p50/p95/p99 of `values` (any order), or null when empty. */
export function latencyPercentiles(values: readonly number[]): LatencyPercentiles {
  if (values.length === 0) return null;
  // A typed array sorts numerically without a comparator call per comparison (~5× faster).
  const sorted = Float64Array.from(values).sort();
  return {
    p50: nearestRank(sorted, 50),
    p95: nearestRank(sorted, 95),
    p99: nearestRank(sorted, 99),
  };
}

/**
 * The histogram bin of a confidence: bin i holds [i·0.05, (i+1)·0.05), the last bin also holds
 * 1.0. The small epsilon keeps a confidence written as an edge (0.15) in the bin it starts,
 * despite binary floating point (0.15 · 20 may be 2.9999…).
 */
export function confidenceBin(confidence: number): number {
  const bin = Math.floor(confidence * BIN_COUNT + 1e-9);
  return Math.min(BIN_COUNT - 1, Math.max(0, bin));
}

interface DetectionLike {
  className: string;
  confidence: number;
}

function isDetectionList(value: unknown): value is DetectionLike[] {
  return (
    Array.isArray(value) &&
    value.every(
      (item: unknown) =>
        typeof item === 'object' &&
        item !== null &&
        typeof (item as { className?: unknown }).className === 'string' &&
        typeof (item as { confidence?: unknown }).confidence === 'number',
    )
  );
}

/** Distributions of one group of sampled rows, built in one pass. */
class SampleAccumulator {
  rows = 0;
  readonly inferenceMs: number[] = [];
  readonly totalMs: number[] = [];
  readonly bins = new Array<number>(BIN_COUNT).fill(0);
  readonly classCounts = new Map<string, number>();

  add(row: PredictionMetricsRow, detections: readonly DetectionLike[]): void {
    this.rows++;
    this.totalMs.push(row.totalMs);
    if (!row.inferred) return;
    this.inferenceMs.push(row.inferenceMs);
    for (const detection of detections) {
      const bin = confidenceBin(detection.confidence);
      this.bins[bin] = (this.bins[bin] ?? 0) + 1;
      this.classCounts.set(
        detection.className,
        (this.classCounts.get(detection.className) ?? 0) + 1,
      );
    }
  }

  histogram(): ConfidenceHistogram {
    return { edges: [...CONFIDENCE_EDGES], counts: [...this.bins] };
  }

  classCountRecord(): Record<string, number> {
    const sorted = [...this.classCounts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(sorted);
  }
}

const NO_COUNTS: Omit<CameraFrameCounts, 'camera'> = {
  frames: 0,
  failed: 0,
  uncertain: 0,
  inferred: 0,
};

/** One summary from exact counts and a sample. */
function summarize(
  counts: Omit<CameraFrameCounts, 'camera'>,
  sample: SampleAccumulator,
  windowSeconds: number,
): MetricsSummary {
  // The sample is read before the counts, so counts include every sampled row; max() only
  // guards against rows deleted in between (retention).
  const frames = Math.max(counts.frames, sample.rows);
  const inferredFrames = Math.max(counts.inferred, sample.inferenceMs.length);
  return {
    frames,
    inferredFrames,
    fps: frames / windowSeconds,
    inferredFps: inferredFrames / windowSeconds,
    defectRate: frames === 0 ? null : Math.min(1, counts.failed / frames),
    uncertainRate: frames === 0 ? null : Math.min(1, counts.uncertain / frames),
    sampledFrames: sample.rows,
    latencyMs: {
      inference: latencyPercentiles(sample.inferenceMs),
      total: latencyPercentiles(sample.totalMs),
    },
    confidenceHistogram: sample.histogram(),
    classCounts: sample.classCountRecord(),
  };
}

function parseDetections(text: string | null): DetectionLike[] {
  if (text === null) return [];
  try {
    const value: unknown = JSON.parse(text);
    return isDetectionList(value) ? value : [];
  } catch {
    // Stored by ingest after schema validation; a corrupt row must not break the dashboard.
    return [];
  }
}

export class MetricsService {
  private readonly sampleLimit: number;
  private readonly now: () => number;

  constructor(
    private readonly predictions: Pick<PredictionMetricsRepository, 'countByCamera' | 'newest'>,
    options: MetricsServiceOptions = {},
  ) {
    this.sampleLimit = options.sampleLimit ?? DEFAULT_METRICS_SAMPLE_LIMIT;
    this.now = options.now ?? Date.now;
  }

  /** The dashboard metrics over the window of `query` (defaults: 300 s, every camera). */
  async summary(query: Partial<MetricsQuery> = {}): Promise<MetricsResponse> {
    const seconds = query.window ?? DEFAULT_METRICS_WINDOW_SECONDS;
    const to = this.now();
    const from = to - seconds * 1000;
    const window = { from, camera: query.camera };

    const rows = await this.predictions.newest(window, this.sampleLimit);
    const counts = await this.predictions.countByCamera(window);

    const overall = new SampleAccumulator();
    const perCamera = new Map<string, SampleAccumulator>();
    let oldest: number | null = null;
    for (const row of rows) {
      const detections = parseDetections(row.detections);
      overall.add(row, detections);
      let camera = perCamera.get(row.camera);
      if (camera === undefined) {
        camera = new SampleAccumulator();
        perCamera.set(row.camera, camera);
      }
      camera.add(row, detections);
      if (oldest === null || row.capturedAt < oldest) oldest = row.capturedAt;
    }

    const countsByCamera = new Map(counts.map((entry) => [entry.camera, entry]));
    const total = { ...NO_COUNTS };
    for (const entry of counts) {
      total.frames += entry.frames;
      total.failed += entry.failed;
      total.uncertain += entry.uncertain;
      total.inferred += entry.inferred;
    }
    const cameraNames = [...new Set([...countsByCamera.keys(), ...perCamera.keys()])].sort();
    const summaryOverall = summarize(total, overall, seconds);

    return {
      window: { seconds, from, to },
      camera: query.camera ?? null,
      sample: {
        rows: rows.length,
        limit: this.sampleLimit,
        complete: rows.length < this.sampleLimit || rows.length >= summaryOverall.frames,
        oldestCapturedAt: oldest,
      },
      overall: summaryOverall,
      cameras: cameraNames.map((camera) => ({
        camera,
        ...summarize(
          countsByCamera.get(camera) ?? NO_COUNTS,
          perCamera.get(camera) ?? new SampleAccumulator(),
          seconds,
        ),
      })),
    };
  }
}
