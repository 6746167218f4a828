/**
 * Drift samples: what a reference or a window holds of each frame (image features and model
 * outputs), how a stored frame row becomes one, how samples become the detector's columns, and
 * the blob format references are stored in. Pure functions over rows and JSON; no I/O.
 */
import { randomBytes } from 'node:crypto';
import type { DriftFrameRow } from '../../repositories/drift.repository.js';
import { FEATURE_NAMES } from '../../shared/domain.js';

/** One sample of a reference or window: a frame's features and model outputs. */
export interface DriftSample {
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

/** A reference's samples blob. */
export interface SampleFile {
  version: 1;
  features: readonly string[];
  samples: DriftSample[];
}

/** A sortable id with `prefix` (references `ref_…`, reports `drp_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

export function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A number from stored JSON: non-numbers become NaN (dropped and counted by the detector). */
function numberOrNaN(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

/** Parsed JSON, or null for null or malformed text. */
export function parseJson(text: string | null): unknown {
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

/** The samples blob of a reference. */
export function encodeSamples(samples: DriftSample[]): Buffer {
  const file: SampleFile = { version: 1, features: FEATURE_NAMES, samples };
  // JSON turns NaN and ±Infinity into null, read back as missing.
  return Buffer.from(JSON.stringify(file), 'utf8');
}

/** Each image feature's median over `samples` (null when none is finite). */
export function mediansOf(samples: readonly DriftSample[]): Record<string, number | null> {
  const medians: Record<string, number | null> = {};
  FEATURE_NAMES.forEach((name, i) => {
    medians[name] = median(samples.map((s) => s.f[i] ?? Number.NaN));
  });
  return medians;
}
