/**
 * Current windows for the drift monitor: which recent frames of one camera are compared with
 * the reference.
 *
 * Why thin: the KS test assumes independent draws. Consecutive frames of a video are nearly the
 * same picture (at 15 fps the belt moves a few pixels between frames), so 100 consecutive
 * frames carry the evidence of a handful of independent ones; fed to KS as 100 samples they make
 * p-values far too small and stable windows raise false alarms. Keeping at most one frame per
 * `minSpacingMs` bucket of the clock (buckets aligned to t = 0, so the same frames are kept
 * whichever check looks at them) brings the sample size closer to the effective one.
 *
 * A window is then the newest `maxSamples` kept frames within `spanMs` before its end.
 * Pure: no clocks (the end time is an argument), no I/O.
 */
import { FEATURE_NAMES, type FrameFeatures } from '../../shared/domain.js';
import { VisionLoopError } from '../../shared/errors.js';

export interface DriftWindowOptions {
  /** The newest this many thinned frames form the window (default 50). */
  maxSamples: number;
  /** Only frames within this span before the window's end (default 30 minutes). */
  spanMs: number;
  /**
   * At most one frame per clock bucket of this length (default 10 s); set it to about the time
   * one object stays in view. 0 keeps every frame with a distinct timestamp.
   */
  minSpacingMs: number;
}

/**
 * Defaults, measured on the synthetic line (docs/drift.md): a part stays in view for about 10 s,
 * and frames closer than that share parts — at 5 s spacing 12% of nominal KS tests reject at
 * α = 0.05, at 10 s 5%, as they should. 50 samples at 10 s span about 8 minutes.
 */
export const DEFAULT_DRIFT_WINDOW: Readonly<DriftWindowOptions> = Object.freeze({
  maxSamples: 50,
  spanMs: 30 * 60_000,
  minSpacingMs: 10_000,
});

export interface TimedSample {
  /** Capture time, epoch ms (or any monotonic ms clock shared by the whole stream). */
  timestampMs: number;
}

export interface DriftWindowSelection<T extends TimedSample> {
  /** The window's frames, oldest first. */
  samples: T[];
  /** Timestamp of the oldest and newest selected frame (null when empty). */
  startMs: number | null;
  endMs: number | null;
  /** Frames offered whose timestamps fell within the span, before thinning. */
  framesInSpan: number;
  /** Frames dropped because their timestamp was not a finite number. */
  invalidTimestamps: number;
}

/** Validates and completes window options (INVALID_ARGUMENT naming the bad one). */
export function resolveWindowOptions(
  options: Partial<DriftWindowOptions> = {},
): DriftWindowOptions {
  const resolved = { ...DEFAULT_DRIFT_WINDOW, ...options };
  if (!Number.isInteger(resolved.maxSamples) || resolved.maxSamples < 1) {
    throw new VisionLoopError('INVALID_ARGUMENT', 'window maxSamples must be an integer ≥ 1');
  }
  if (!(resolved.spanMs > 0)) {
    throw new VisionLoopError('INVALID_ARGUMENT', 'window spanMs must be > 0');
  }
  if (!(resolved.minSpacingMs >= 0) || !Number.isFinite(resolved.minSpacingMs)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      'window minSpacingMs must be a finite number ≥ 0',
    );
  }
  return resolved;
}

function bucketOf(timestampMs: number, minSpacingMs: number): number {
  return minSpacingMs > 0 ? Math.floor(timestampMs / minSpacingMs) : timestampMs;
}

/**
 * Selects the current window from a camera's frames (any order; sorted by time here): frames
 * after `endMs` are ignored (default: the newest frame's time); of the rest the first frame of
 * every `minSpacingMs` clock bucket is kept if it lies in (endMs − spanMs, endMs]; of those,
 * the newest `maxSamples`.
 */
export function selectDriftWindow<T extends TimedSample>(
  frames: readonly T[],
  options: Partial<DriftWindowOptions> = {},
  endMs?: number,
): DriftWindowSelection<T> {
  const { maxSamples, spanMs, minSpacingMs } = resolveWindowOptions(options);
  const valid = frames.filter((f) => Number.isFinite(f.timestampMs));
  const invalidTimestamps = frames.length - valid.length;
  let ordered = true;
  for (let i = 1; i < valid.length && ordered; i++) {
    ordered = valid[i - 1]!.timestampMs <= valid[i]!.timestampMs;
  }
  const sorted = ordered ? valid : [...valid].sort((a, b) => a.timestampMs - b.timestampMs);
  const end = endMs ?? (sorted.length > 0 ? sorted[sorted.length - 1]!.timestampMs : 0);
  const kept: T[] = [];
  let framesInSpan = 0;
  let lastBucket = Number.NaN;
  for (const frame of sorted) {
    const t = frame.timestampMs;
    if (t > end) break;
    const inSpan = t > end - spanMs;
    if (inSpan) framesInSpan++;
    // Buckets are decided on every frame, in span or not, so a bucket that straddles the span's
    // start keeps the same frame (or none) as the streaming DriftWindow.
    const bucket = bucketOf(t, minSpacingMs);
    if (bucket === lastBucket) continue;
    lastBucket = bucket;
    if (inSpan) kept.push(frame);
  }
  const samples = kept.length > maxSamples ? kept.slice(kept.length - maxSamples) : kept;
  return {
    samples,
    startMs: samples.length > 0 ? samples[0]!.timestampMs : null,
    endMs: samples.length > 0 ? samples[samples.length - 1]!.timestampMs : null,
    framesInSpan,
    invalidTimestamps,
  };
}

/**
 * A streaming window for one camera: push frames as they arrive (in time order; a frame older
 * than the newest kept one is ignored), read the current window at any time. Holds at most
 * `maxSamples` frames. Gives the same frames as selectDriftWindow over the whole stream.
 */
export class DriftWindow<T extends TimedSample> {
  readonly options: DriftWindowOptions;
  private readonly kept: T[] = [];
  private lastBucket = Number.NaN;
  private lastTimestamp = -Infinity;

  constructor(options: Partial<DriftWindowOptions> = {}) {
    this.options = resolveWindowOptions(options);
  }

  /** Offers a frame; returns true when it was kept (the first of its bucket). */
  push(frame: T): boolean {
    const t = frame.timestampMs;
    if (!Number.isFinite(t) || t < this.lastTimestamp) return false;
    this.lastTimestamp = t;
    const bucket = bucketOf(t, this.options.minSpacingMs);
    if (bucket === this.lastBucket) return false;
    this.lastBucket = bucket;
    this.kept.push(frame);
    if (this.kept.length > this.options.maxSamples) this.kept.shift();
    return true;
  }

  /** The window ending at `endMs` (default: the newest frame pushed), oldest first. */
  samples(endMs: number = this.lastTimestamp): T[] {
    return this.kept.filter(
      (f) => f.timestampMs <= endMs && f.timestampMs > endMs - this.options.spanMs,
    );
  }

  get size(): number {
    return this.kept.length;
  }
}

/**
 * Per-feature columns from rows of values: { name: [row₀[name], row₁[name], …] }, for the
 * detector. A missing or non-numeric value becomes NaN, which the detector drops and counts.
 */
export function featureColumns<Row extends object>(
  rows: readonly Row[],
  names: readonly (keyof Row & string)[],
): Record<string, number[]> {
  const columns: Record<string, number[]> = {};
  for (const name of names) {
    columns[name] = rows.map((row) => {
      const value = row[name];
      return typeof value === 'number' ? value : Number.NaN;
    });
  }
  return columns;
}

/** The image-quality feature columns (FEATURE_NAMES order) of a list of frames' features. */
export function imageFeatureColumns(rows: readonly FrameFeatures[]): Record<string, number[]> {
  return featureColumns(rows, FEATURE_NAMES);
}
