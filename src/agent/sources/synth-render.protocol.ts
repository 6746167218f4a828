/** Messages between SynthSource and its render worker (synth-render.worker.ts). */
import type { ErrorCode } from '../../shared/errors.js';
import type { GroundTruthObject } from '../../synth/camera.js';

export interface SynthWorkerData {
  /** The scenario as written after `synth:` (parsed again in the worker). */
  scenario: string;
  seed: number;
  fps: number;
  width?: number;
  height?: number;
}

export interface SynthRenderRequest {
  requestId: number;
  index: number;
}

export type SynthRenderResponse =
  | {
      requestId: number;
      ok: true;
      index: number;
      width: number;
      height: number;
      pixels: Uint8Array;
      objects: GroundTruthObject[];
      preset: string;
    }
  | { requestId: number; ok: false; code: ErrorCode; message: string };
