/**
 * A Detector whose model can be replaced while frames flow: the inspection pipeline holds
 * this one object, and `swapTo` puts a new model behind it between two frames.
 *
 * A swap loads the new model in a NEW inner detector (for ONNX: a new worker thread), lets the
 * caller check it, warms it up through the whole detect path, then switches with one
 * assignment: every `detect` runs wholly on the old or wholly on the new model, and its output
 * names the version that ran (`modelVersion`). Calls already at the old detector finish there;
 * the old one is disposed (its worker terminated, which hands the runtime's memory back) when
 * the last of them is done. A model that fails any step is disposed and the old one keeps
 * running. Swaps are serialized. The slot mechanics are HotSwapSlot's (hot-swap-slot.ts), the
 * same slot the server's /api/predict swaps with.
 */
import { VisionLoopError } from '../shared/errors.js';
import type { DetectOptions, Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import { HotSwapSlot } from './hot-swap-slot.js';

export interface SwapResult {
  model: ModelInfo;
  previous: ModelInfo | null;
  /** Load + check + warm-up, ms. */
  loadMs: number;
}

function noModelYet(): VisionLoopError {
  return new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
}

export class SwappableDetector implements Detector {
  private readonly slot: HotSwapSlot<ModelInfo>;
  private swapCount = 0;

  constructor(
    createDetector: () => Detector,
    onReleaseError: (error: unknown) => void = () => undefined,
  ) {
    this.slot = new HotSwapSlot(createDetector, onReleaseError);
  }

  get model(): ModelInfo {
    const model = this.slot.model;
    if (model === null) throw noModelYet();
    return model;
  }

  /** Models swapped in after the first load. */
  get swaps(): number {
    return this.swapCount;
  }

  /** The first load (or a swap, when a model is already loaded). */
  async load(modelPath: string): Promise<ModelInfo> {
    return (await this.swapTo(modelPath)).model;
  }

  /**
   * Loads `modelPath` in a new detector, runs `check` on what loaded (throw to refuse it),
   * warms it up and switches to it. On any failure the new detector is disposed, the current
   * one keeps running, and the error is thrown.
   */
  swapTo(modelPath: string, check?: (model: ModelInfo) => void): Promise<SwapResult> {
    return this.slot.serialize(() => this.doSwap(modelPath, check));
  }

  detect(image: RgbImage, options?: Partial<DetectOptions>): Promise<DetectorOutput> {
    return this.slot.use(async (detector, model) => {
      const output = await detector.detect(image, options);
      return { ...output, modelVersion: model.version };
    }, noModelYet);
  }

  /** Resolves when every replaced detector has been released. */
  settled(): Promise<void> {
    return this.slot.settled();
  }

  dispose(): Promise<void> {
    return this.slot.close();
  }

  private async doSwap(
    modelPath: string,
    check: ((model: ModelInfo) => void) | undefined,
  ): Promise<SwapResult> {
    if (this.slot.closed) {
      throw new VisionLoopError('MODEL_LOAD_FAILED', 'the detector was disposed; no more swaps');
    }
    const started = performance.now();
    const { model, previous } = await this.slot.swapIn(async (detector) => {
      const loaded = await detector.load(modelPath);
      check?.(loaded);
      const { inputWidth: width, inputHeight: height } = loaded;
      await detector.detect({ width, height, data: new Uint8Array(width * height * 3).fill(114) });
      return loaded;
    });
    if (previous !== null) this.swapCount++;
    return { model, previous, loadMs: performance.now() - started };
  }
}
