/**
 * The synthetic inspection line as a frame source: wraps SynthCamera, whose frame(index) is
 * deterministic, and attaches each frame's ground-truth boxes. The scenario's timeline runs on
 * the camera's own clock (index / fps, default 15 fps) whether or not delivery is paced, so a
 * run is reproducible from its seed; pacing (options.fps) only decides wall-clock delivery.
 * Never ends on its own: bound it with maxFrames or the abort signal.
 */
import { SynthCamera } from '../../synth/camera.js';
import { parseScenario } from '../../synth/scenario.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { CapturedFrame, FrameSource, OpenSourceOptions } from '../frame-source.js';
import { FramePacer } from './frame-pacer.js';
import { iterationSignal, pacingFps, validateSourceOptions } from './source-options.js';

export const DEFAULT_SYNTH_SEED = 1;
export const DEFAULT_SYNTH_FPS = 15;

export class SynthSource implements FrameSource {
  readonly description: string;
  readonly fps: number | null;
  readonly live: boolean;
  private readonly closing = new AbortController();

  constructor(
    readonly camera: SynthCamera,
    readonly scenarioSpec: string,
    readonly seed: number,
    private readonly options: OpenSourceOptions,
  ) {
    this.fps = pacingFps(options);
    this.live = this.fps !== null;
    const pacing = this.fps === null ? ', unpaced' : '';
    this.description = `synth:${scenarioSpec} (seed ${seed}, ${camera.fps} fps${pacing})`;
  }

  async *frames(callerSignal?: AbortSignal): AsyncGenerator<CapturedFrame, void, undefined> {
    if (this.closing.signal.aborted) {
      throw new VisionLoopError('INTERNAL', `${this.description} is closed`);
    }
    const signal = iterationSignal(callerSignal, this.closing.signal);
    const maxFrames = this.options.maxFrames ?? Number.POSITIVE_INFINITY;
    const pacer = this.fps !== null ? new FramePacer(this.fps) : null;
    for (let index = 0; index < maxFrames; index += 1) {
      if (signal.aborted) return;
      // Render first, then wait: the schedule governs delivery, whatever rendering costs.
      const frame = this.camera.frame(index);
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

  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
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
    return Promise.resolve(new SynthSource(camera, scenarioSpec, seed, options));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
