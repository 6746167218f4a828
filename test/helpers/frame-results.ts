/**
 * Frame results for tests: deterministic, and the same JSON length for every index < 900 (ids
 * `r-000`…`r-899`), so byte accounting can be asserted exactly.
 *
 * Test-only: never imported by src/.
 */
import type { FrameResult } from '../../src/shared/domain.js';

export function makeResult(i: number, overrides: Partial<FrameResult> = {}): FrameResult {
  return {
    id: `r-${String(i).padStart(3, '0')}`,
    camera: 'cam-1',
    // Same digit count for every i < 900, so every row has the same size.
    frameIndex: 100 + i,
    capturedAt: 1_700_000_000_000 + i,
    width: 640,
    height: 480,
    detections: [],
    uncertain: false,
    decision: 'PASS',
    features: {
      brightness: 0.5,
      contrast: 0.25,
      sharpness: 0.125,
      saturation: 0.5,
      noise: 0.0625,
      colorCast: 0,
      edgeDensity: 0.25,
    },
    latencies: { queueMs: 1, preprocessMs: 2, inferenceMs: 3, postprocessMs: 4, totalMs: 10 },
    modelVersion: 'v1',
    inferred: true,
    ...overrides,
  };
}
