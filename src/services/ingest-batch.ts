/**
 * An ingest batch made ready to store and to observe: its distinct results encoded as the
 * prediction repository inserts them, and the per-camera latencies the Prometheus histograms
 * record. The server prepares request bodies in its decode worker (src/http/json-decode.worker.ts)
 * so that its own thread receives a few long strings and typed arrays instead of thousands of
 * small objects (cloning those and collecting them afterwards cost more than storing them);
 * in-process callers prepare with the same function.
 *
 * Pure functions of their arguments, with no imports that have side effects: this module runs
 * in worker threads.
 */
import {
  encodePredictionRows,
  type PredictionRowFormat,
  type PredictionRows,
} from '../repositories/prediction-rows.js';
import type { IngestBatchRequest } from '../shared/api/ingest.js';
import type { FrameResult } from '../shared/domain.js';

export type { PredictionRowFormat };

/** One camera's results of a batch: how many, and their latencies in milliseconds. */
export interface CameraLatencies {
  camera: string;
  results: number;
  /** Inference time of each result that ran the model (carried-forward results have none). */
  inferenceMs: Float64Array;
  /** Capture-to-result time of each result. */
  totalMs: Float64Array;
}

export interface PreparedIngestBatch {
  agentId: string | null;
  /** Results in the request, repeats included. */
  received: number;
  /** Distinct results (the first of each id). */
  distinct: number;
  /** The distinct results, encoded for the prediction repository. */
  rows: PredictionRows;
  /** Latencies of the distinct results, per camera. */
  latencies: CameraLatencies[];
  /** The distinct results, when at hand; otherwise `body` holds them. */
  results: readonly FrameResult[] | null;
  /** The JSON body the batch was validated from, when `results` is null. */
  body: Uint8Array | null;
}

/**
 * `batch` (already validated) prepared for a repository that takes `format`. With `body`, the
 * validated JSON text of `batch`, rows in a format other than `results` keep the body instead
 * of the results, to be parsed again only if someone needs the results (preparedResults).
 */
export function prepareIngestBatch(
  batch: IngestBatchRequest,
  format: PredictionRowFormat,
  body: Uint8Array | null = null,
): PreparedIngestBatch {
  const distinct = withoutRepeatedIds(batch.results);
  const rows = encodePredictionRows(distinct, format);
  const keepResults = rows.format === 'results' || body === null;
  return {
    agentId: batch.agentId ?? null,
    received: batch.results.length,
    distinct: distinct.length,
    rows,
    latencies: summarizeLatencies(distinct),
    results: keepResults ? distinct : null,
    body: keepResults ? null : body,
  };
}

/** The distinct results of a prepared batch, parsing its body again when it kept only that. */
export function preparedResults(batch: PreparedIngestBatch): readonly FrameResult[] {
  if (batch.results !== null) return batch.results;
  if (batch.body === null) throw new Error('a prepared ingest batch has neither results nor body');
  // The body passed ingestBatchRequestSchema, which has no defaults or transforms: its JSON
  // is the validated batch.
  const parsed = JSON.parse(new TextDecoder().decode(batch.body)) as IngestBatchRequest;
  return withoutRepeatedIds(parsed.results);
}

/** Per camera, in order of first appearance: result count and latencies. */
export function summarizeLatencies(results: readonly FrameResult[]): CameraLatencies[] {
  const byCamera = new Map<string, FrameResult[]>();
  for (const result of results) {
    const list = byCamera.get(result.camera);
    if (list === undefined) byCamera.set(result.camera, [result]);
    else list.push(result);
  }
  const summary: CameraLatencies[] = [];
  for (const [camera, list] of byCamera) {
    let inferred = 0;
    for (const result of list) if (result.inferred) inferred++;
    const inferenceMs = new Float64Array(inferred);
    const totalMs = new Float64Array(list.length);
    let k = 0;
    for (let i = 0; i < list.length; i++) {
      const result = list[i];
      if (result === undefined) continue;
      if (result.inferred) inferenceMs[k++] = result.latencies.inferenceMs;
      totalMs[i] = result.latencies.totalMs;
    }
    summary.push({ camera, results: list.length, inferenceMs, totalMs });
  }
  return summary;
}

/** The results with each id's first occurrence only (a batch may repeat a result). */
export function withoutRepeatedIds(results: readonly FrameResult[]): readonly FrameResult[] {
  const seen = new Set<string>();
  let repeated = false;
  for (const result of results) {
    if (seen.has(result.id)) {
      repeated = true;
      break;
    }
    seen.add(result.id);
  }
  if (!repeated) return results;
  seen.clear();
  return results.filter((result) => {
    if (seen.has(result.id)) return false;
    seen.add(result.id);
    return true;
  });
}
