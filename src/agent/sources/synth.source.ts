/**
 * The synthetic inspection line as a frame source: wraps SynthCamera, whose frame(index) is
 * deterministic, and attaches each frame's ground-truth boxes. The scenario's timeline runs on
 * the camera's own clock (index / fps, default 15 fps) whether or not delivery is paced, so a
 * run is reproducible from its seed; pacing (options.fps) only decides wall-clock delivery.
 * Never ends on its own: bound it with maxFrames or the abort signal.
 */
import type { Worker } from 'node:worker_threads';
import { SynthCamera, type SynthFrame } from '../../synth/camera.js';
import { parseScenario } from '../../synth/scenario.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { CapturedFrame, FrameSource, OpenSourceOptions } from '../frame-source.js';
import { siblingModuleUrl, startModuleWorker } from '../../inference/module-worker.js';
import type { SynthRenderResponse, SynthWorkerData } from './synth-render.protocol.js';
import { FramePacer } from './frame-pacer.js';
import { iterationSignal, pacingFps, validateSourceOptions } from './source-options.js';

export const DEFAULT_SYNTH_SEED = 1;
export const DEFAULT_SYNTH_FPS = 15;

/**
 * The camera's frames rendered on a worker thread (synth-render.worker.ts), one request at a
 * time; the same options give the same pixels as SynthCamera.frame on this thread.
 */
export class SynthRenderWorker {
  private worker: Worker | null = null;
  private nextRequestId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (frame: SynthFrame) => void; reject: (error: Error) => void }
  >();
  private closed = false;

  constructor(private readonly data: SynthWorkerData) {}

  render(index: number): Promise<SynthFrame> {
    if (this.closed) return Promise.reject(new VisionLoopError('INTERNAL', 'renderer closed'));
    const worker = this.ensureWorker();
    const requestId = this.nextRequestId++;
    return new Promise<SynthFrame>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      // Keep the process alive only while a render is in flight.
      worker.ref();
      worker.postMessage({ requestId, index });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.failAll(new VisionLoopError('INTERNAL', 'renderer closed'));
    await worker?.terminate();
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startModuleWorker(siblingModuleUrl(import.meta.url, 'synth-render.worker'), {
      workerData: this.data,
    });
    worker.on('message', (response: SynthRenderResponse) => {
      const pending = this.pending.get(response.requestId);
      if (!pending) return;
      this.pending.delete(response.requestId);
      if (this.pending.size === 0) worker.unref();
      if (!response.ok) {
        pending.reject(new VisionLoopError(response.code, response.message));
        return;
      }
      const fps = this.data.fps;
      pending.resolve({
        index: response.index,
        timestampMs: (response.index * 1000) / fps,
        image: { width: response.width, height: response.height, data: response.pixels },
        objects: response.objects,
        preset: response.preset,
      });
    });
    worker.on('error', (error) => {
      this.failAll(
        new VisionLoopError('INTERNAL', `synthetic render worker crashed: ${error.message}`, {
          cause: error,
        }),
      );
      if (this.worker === worker) this.worker = null;
    });
    worker.on('exit', (code) => {
      if (this.pending.size > 0) {
        this.failAll(
          new VisionLoopError('INTERNAL', `synthetic render worker exited with code ${code}`),
        );
      }
      if (this.worker === worker) this.worker = null;
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

export class SynthSource implements FrameSource {
  readonly description: string;
  readonly fps: number | null;
  readonly live: boolean;
  private readonly closing = new AbortController();
  /** Set when frames are rendered off this thread (a live source: see openSynthSource). */
  private readonly renderer: SynthRenderWorker | null;

  constructor(
    readonly camera: SynthCamera,
    readonly scenarioSpec: string,
    readonly seed: number,
    private readonly options: OpenSourceOptions,
    renderInWorker = false,
  ) {
    this.fps = pacingFps(options);
    this.live = this.fps !== null;
    const pacing = this.fps === null ? ', unpaced' : '';
    this.description = `synth:${scenarioSpec} (seed ${seed}, ${camera.fps} fps${pacing})`;
    this.renderer = renderInWorker
      ? new SynthRenderWorker({
          scenario: scenarioSpec,
          seed,
          fps: camera.fps,
          width: camera.width,
          height: camera.height,
        })
      : null;
  }

  async *frames(callerSignal?: AbortSignal): AsyncGenerator<CapturedFrame, void, undefined> {
    if (this.closing.signal.aborted) {
      throw new VisionLoopError('INTERNAL', `${this.description} is closed`);
    }
    const signal = iterationSignal(callerSignal, this.closing.signal);
    const maxFrames = this.options.maxFrames ?? Number.POSITIVE_INFINITY;
    const pacer = this.fps !== null ? new FramePacer(this.fps) : null;
    const renderer = this.renderer;
    // Off-thread rendering runs one frame ahead, while this frame waits for its time.
    const ahead = (index: number): Promise<SynthFrame> | null => {
      if (renderer === null || index >= maxFrames) return null;
      const next = renderer.render(index);
      next.catch(() => undefined); // awaited below, or abandoned when the iteration stops
      return next;
    };
    let next = ahead(0);
    for (let index = 0; index < maxFrames; index += 1) {
      if (signal.aborted) return;
      // Render first, then wait: the schedule governs delivery, whatever rendering costs.
      let frame: SynthFrame;
      if (next === null) {
        frame = this.camera.frame(index);
      } else {
        try {
          frame = await next;
        } catch (error) {
          if (signal.aborted) return;
          throw error;
        }
        next = ahead(index + 1);
      }
      if (pacer && !(await pacer.wait(signal))) return;
      if (signal.aborted) return;
      yield {
        index,
        capturedAt: Date.now(),
        image: frame.image,
        groundTruth: frame.objects.map((object) => ({
          classId: object.classId,
          className: object.className,
          box: { ...object.box },
        })),
        label: `synth:${frame.preset}`,
      };
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.renderer?.close();
  }
}

/**
 * Opens `synth:<scenario>`; `scenarioSpec` is the part after `synth:`. Seed defaults to 1; the
 * camera's clock runs at options.fps when given, else 15 fps.
 * @throws VisionLoopError INVALID_ARGUMENT for an unknown scenario (listing the valid ones).
 */
export function openSynthSource(
  scenarioSpec: string,
  options: OpenSourceOptions = {},
): Promise<SynthSource> {
  try {
    validateSourceOptions(options);
    const seed = options.seed ?? DEFAULT_SYNTH_SEED;
    const camera = new SynthCamera({
      scenario: parseScenario(scenarioSpec),
      seed,
      fps: pacingFps(options) ?? DEFAULT_SYNTH_FPS,
      ...(options.width !== undefined ? { width: options.width } : {}),
      ...(options.height !== undefined ? { height: options.height } : {}),
    });
    // A live (paced) line renders on a worker thread: it runs beside a server and an agent
    // (`visionloop up`), whose event loop a frame's tens of milliseconds of pixel work would
    // block. Unpaced reads (evaluation, tests, exports) render here, as fast as they ask.
    const renderInWorker = pacingFps(options) !== null;
    return Promise.resolve(new SynthSource(camera, scenarioSpec, seed, options, renderInWorker));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
