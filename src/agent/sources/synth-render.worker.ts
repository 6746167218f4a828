/**
 * Renders the synthetic camera's frames on a worker thread (synth.source.ts): a frame costs
 * tens of milliseconds of pixel work (scene, lighting, noise, blur, JPEG artifacts), and on the
 * thread of `visionloop up` — which also serves the API — back-to-back renders starved the
 * server (it was most of that thread's CPU time, profiled). Same camera options, same pixels:
 * frame(index) is deterministic.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isVisionLoopError } from '../../shared/errors.js';
import { SynthCamera } from '../../synth/camera.js';
import { parseScenario } from '../../synth/scenario.js';
import type {
  SynthRenderRequest,
  SynthRenderResponse,
  SynthWorkerData,
} from './synth-render.protocol.js';

const options = workerData as SynthWorkerData;
const camera = new SynthCamera({
  scenario: parseScenario(options.scenario),
  seed: options.seed,
  fps: options.fps,
  ...(options.width !== undefined ? { width: options.width } : {}),
  ...(options.height !== undefined ? { height: options.height } : {}),
});

parentPort?.on('message', (request: SynthRenderRequest) => {
  let response: SynthRenderResponse;
  try {
    const frame = camera.frame(request.index);
    const { data } = frame.image;
    // A fresh buffer of exactly the image, so it can be transferred.
    const pixels =
      data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    response = {
      requestId: request.requestId,
      ok: true,
      index: frame.index,
      width: frame.image.width,
      height: frame.image.height,
      pixels,
      objects: frame.objects,
      preset: frame.preset,
    };
    parentPort?.postMessage(response, [pixels.buffer as ArrayBuffer]);
  } catch (error) {
    response = {
      requestId: request.requestId,
      ok: false,
      code: isVisionLoopError(error) ? error.code : 'INTERNAL',
      message: error instanceof Error ? error.message : String(error),
    };
    parentPort?.postMessage(response);
  }
});
