/**
 * The `/api/metrics` contract: what the dashboard shows about the line over a chosen window,
 * per camera and overall. Browser-safe (zod only).
 *
 * Counts and rates (frames, FPS, defect and uncertain rates) are exact over the window.
 * Distributions (latency percentiles, confidence histogram, class counts) come from the newest
 * frame results of the window, at most `sample.limit` of them; `sample.complete` says whether
 * that covered the whole window. See docs/observability.md.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema } from './common.js';

/** Default window of `/api/metrics`, seconds. */
export const DEFAULT_METRICS_WINDOW_SECONDS = 300;
/** Longest window `/api/metrics` accepts, seconds (one day). */
export const MAX_METRICS_WINDOW_SECONDS = 86_400;
/** Width of a confidence histogram bin. */
export const CONFIDENCE_BIN_WIDTH = 0.05;
/** Edges of the confidence histogram: 0, 0.05, …, 1 (21 edges, 20 bins; the last bin is closed). */
export const CONFIDENCE_EDGES: readonly number[] = Array.from(
  { length: 21 },
  (_, i) => Math.round(i * CONFIDENCE_BIN_WIDTH * 100) / 100,
);

export const metricsQuerySchema = z.strictObject({
  window: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_METRICS_WINDOW_SECONDS)
    .default(DEFAULT_METRICS_WINDOW_SECONDS)
    .describe('window length in seconds, ending now'),
  camera: cameraNameSchema.optional().describe('only this camera'),
});
export type MetricsQuery = z.infer<typeof metricsQuerySchema>;

/** Nearest-rank percentiles of a latency, ms; null when there was nothing to measure. */
export const latencyPercentilesSchema = z
  .object({ p50: z.number(), p95: z.number(), p99: z.number() })
  .nullable()
  .meta({ id: 'LatencyPercentiles' });
export type LatencyPercentiles = z.infer<typeof latencyPercentilesSchema>;

export const confidenceHistogramSchema = z
  .object({
    /** Bin edges (21 values, 0 to 1 by 0.05); bin i is [edges[i], edges[i+1]), the last is closed. */
    edges: z.array(z.number()),
    /** Detections per bin (20 values). */
    counts: z.array(z.number().int().min(0)),
    /**
     * The uncertain band agents flag frames by (a confidence strictly between `low` and `high`
     * makes a frame uncertain; 0.4–0.7 by default, both on bin edges), for drawing it.
     */
    uncertainBand: z.object({ low: z.number().min(0).max(1), high: z.number().min(0).max(1) }),
    /** Detections whose confidence lies strictly inside the band. */
    inBand: z.number().int().min(0),
  })
  .meta({ id: 'ConfidenceHistogram' });
export type ConfidenceHistogram = z.infer<typeof confidenceHistogramSchema>;

export const metricsSummarySchema = z
  .object({
    /** Frame results captured in the window (exact). */
    frames: z.number().int().min(0),
    /** Of those, frames that went through the detector (the rest the motion gate skipped). */
    inferredFrames: z.number().int().min(0),
    /**
     * The seconds the rates divide by: from the first frame result in the window to now (the
     * whole window once it is full), at least 1 s. A camera that started 18 s ago is measured
     * over 18 s, not over a 60 s window.
     */
    coveredSeconds: z.number().min(0),
    /** frames / coveredSeconds. */
    fps: z.number().min(0),
    /** inferredFrames / coveredSeconds. */
    inferredFps: z.number().min(0),
    /** Share of frames decided FAIL, 0..1; null without frames. */
    defectRate: z.number().min(0).max(1).nullable(),
    /** Share of frames flagged uncertain, 0..1; null without frames. */
    uncertainRate: z.number().min(0).max(1).nullable(),
    /** Frame results the distributions below were computed from (≤ frames). */
    sampledFrames: z.number().int().min(0),
    latencyMs: z.object({
      /** Detector time of inferred frames. */
      inference: latencyPercentilesSchema,
      /** Capture to result (latencies.totalMs) of every frame. */
      total: latencyPercentilesSchema,
    }),
    /** Confidence of every detection of the sampled inferred frames. */
    confidenceHistogram: confidenceHistogramSchema,
    /** Detections per class name over the sampled inferred frames. */
    classCounts: z.record(z.string(), z.number().int().min(0)),
  })
  .meta({ id: 'MetricsSummary' });
export type MetricsSummary = z.infer<typeof metricsSummarySchema>;

export const cameraMetricsSchema = metricsSummarySchema
  .extend({ camera: z.string() })
  .meta({ id: 'CameraMetrics' });
export type CameraMetrics = z.infer<typeof cameraMetricsSchema>;

export const metricsResponseSchema = z
  .object({
    window: z.object({
      seconds: z.number().int(),
      /** Start of the window (capture time), epoch ms, inclusive. */
      from: epochMsSchema,
      /** Server time the answer was computed, epoch ms. */
      to: epochMsSchema,
    }),
    camera: z.string().nullable().describe('the camera filter, if any'),
    sample: z.object({
      /** Frame results read for the distributions. */
      rows: z.number().int().min(0),
      /** Most rows read per request; the newest are kept. */
      limit: z.number().int().min(1),
      /** True when every frame result of the window was read. */
      complete: z.boolean(),
      /** Capture time of the oldest row read; null when none. */
      oldestCapturedAt: epochMsSchema.nullable(),
    }),
    overall: metricsSummarySchema,
    /** One entry per camera with frames in the window, sorted by name. */
    cameras: z.array(cameraMetricsSchema),
  })
  .meta({ id: 'Metrics' });
export type MetricsResponse = z.infer<typeof metricsResponseSchema>;
