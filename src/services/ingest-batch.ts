/**
 * Pure helpers of ingest (src/services/ingest.service.ts) over validated frame results: a
 * batch's distinct results, and the per-camera latencies the Prometheus histograms record.
 * No imports that have side effects.
 */
import type { FrameResult } from '../shared/domain.js';

/** One camera's results of a batch: how many, and their latencies in milliseconds. */
export interface CameraLatencies {
  camera: string;
  results: number;
  /** Inference time of each result that ran the model (carried-forward results have none). */
  inferenceMs: Float64Array;
  /** Capture-to-result time of each result. */
  totalMs: Float64Array;
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
