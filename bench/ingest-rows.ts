/**
 * Realistic, seeded frame results for the ingest benchmark and the observability tests: a few
 * cameras at 30 FPS, 0–4 detections of the synthetic classes, image features, latencies, a
 * motion gate that skips about a third of the frames (carrying the previous detections
 * forward, with no inference time), and the FAIL/uncertain rules of the agent
 * (FAIL: a detection ≥ 0.5; uncertain: one in (0.4, 0.7)).
 *
 * Also a result's `prediction_logs` and `prediction_classes` rows, through the encoder ingest
 * itself uses (src/repositories/prediction-rows.ts), so the benchmark's raw-insert baseline
 * writes exactly what ingest writes.
 */
import type { Detection, FrameResult } from '../src/shared/domain.js';
import { SYNTH_CLASSES } from '../src/shared/domain.js';
import {
  LOG_COLUMNS,
  classRowValues,
  putLogRow,
  type SqlValue,
} from '../src/repositories/prediction-rows.js';
import { Rng } from '../src/synth/rng.js';

export interface FrameResultOptions {
  seed: number;
  cameras?: readonly string[];
  /** Capture time of the first frame, epoch ms. */
  startAt?: number;
  /** Milliseconds between a camera's frames. Default 33 (30 FPS). */
  frameIntervalMs?: number;
  /** Prefix of every id, so separate runs never collide. Default `r<seed>`. */
  idPrefix?: string;
  modelVersion?: string;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function detections(rng: Rng, width: number, height: number): Detection[] {
  const count = rng.weighted([40, 30, 15, 10, 5]);
  return Array.from({ length: count }, () => {
    const classId = rng.int(SYNTH_CLASSES.length);
    const w = rng.uniform(12, 160);
    const h = rng.uniform(12, 120);
    const x1 = rng.uniform(0, width - w);
    const y1 = rng.uniform(0, height - h);
    return {
      classId,
      className: SYNTH_CLASSES[classId] ?? 'scratch',
      confidence: round(rng.uniform(0.25, 0.99), 4),
      box: { x1: round(x1, 1), y1: round(y1, 1), x2: round(x1 + w, 1), y2: round(y1 + h, 1) },
    };
  });
}

/** `count` frame results, round-robin over the cameras, deterministic from `seed`. */
export function makeFrameResults(count: number, options: FrameResultOptions): FrameResult[] {
  const rng = new Rng(options.seed);
  const cameras = options.cameras ?? ['line-1', 'line-2', 'line-3', 'line-4'];
  const startAt = options.startAt ?? 1_767_225_600_000;
  const interval = options.frameIntervalMs ?? 33;
  const prefix = options.idPrefix ?? `r${options.seed}`;
  const modelVersion = options.modelVersion ?? 'seed-1';
  const last = new Map<string, Detection[]>();
  const results: FrameResult[] = [];
  for (let i = 0; i < count; i++) {
    const camera = cameras[i % cameras.length] ?? 'line-1';
    const frameIndex = Math.floor(i / cameras.length);
    const previous = last.get(camera);
    const inferred = previous === undefined || rng.chance(0.7);
    const found = inferred ? detections(rng, 640, 480) : (previous ?? []);
    last.set(camera, found);
    const inferenceMs = inferred ? round(rng.logUniform(4, 60), 3) : 0;
    const preprocessMs = inferred ? round(rng.uniform(0.5, 3), 3) : 0;
    const postprocessMs = inferred ? round(rng.uniform(0.1, 1), 3) : 0;
    const queueMs = round(rng.uniform(0, 8), 3);
    const confidences = found.map((d) => d.confidence);
    results.push({
      id: `${prefix}-${camera}-${frameIndex}`,
      camera,
      frameIndex,
      capturedAt: startAt + frameIndex * interval,
      width: 640,
      height: 480,
      detections: found,
      uncertain: confidences.some((c) => c > 0.4 && c < 0.7),
      decision: confidences.some((c) => c >= 0.5) ? 'FAIL' : 'PASS',
      features: {
        brightness: round(rng.uniform(0.35, 0.65), 5),
        contrast: round(rng.uniform(0.1, 0.3), 5),
        sharpness: round(rng.uniform(0.01, 0.2), 5),
        saturation: round(rng.uniform(0.05, 0.3), 5),
        noise: round(rng.uniform(0, 0.05), 5),
        colorCast: round(rng.uniform(0, 0.1), 5),
        edgeDensity: round(rng.uniform(0.02, 0.25), 5),
      },
      latencies: {
        queueMs,
        preprocessMs,
        inferenceMs,
        postprocessMs,
        totalMs: round(queueMs + preprocessMs + inferenceMs + postprocessMs + 0.2, 3),
      },
      modelVersion,
      inferred,
    });
  }
  return results;
}

/** prediction_logs columns in the order `predictionLogValues` returns them. */
export const PREDICTION_LOG_COLUMNS = LOG_COLUMNS;

export type { SqlValue };

/** The prediction_logs row of a result, as ingest encodes it, in PREDICTION_LOG_COLUMNS order. */
export function predictionLogValues(
  result: FrameResult,
  agentId: string | null,
  receivedAt: number,
): SqlValue[] {
  const row = new Array<SqlValue>(LOG_COLUMNS.length);
  putLogRow(row, 0, result, agentId, receivedAt);
  return row;
}

/** prediction_classes rows (prediction_id, class_name, captured_at): one per distinct class. */
export function predictionClassValues(result: FrameResult): SqlValue[][] {
  const values = classRowValues([result], null);
  const rows: SqlValue[][] = [];
  for (let i = 0; i < values.length; i += 3) rows.push(values.slice(i, i + 3));
  return rows;
}
