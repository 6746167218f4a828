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
 * running. Swaps are serialized.
 */
import { VisionLoopError } from '../shared/errors.js';
import type { DetectOptions, Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';

interface Slot {
  readonly detector: Detector;
  readonly model: ModelInfo;
  inFlight: number;
  retired: boolean;
}

export interface SwapResult {
  model: ModelInfo;
  previous: ModelInfo | null;
  /** Load + check + warm-up, ms. */
  loadMs: number;
}

export class SwappableDetector implements Detector {
  private current: Slot | null = null;
  private swapChain: Promise<unknown> = Promise.resolve();
  private readonly releasing = new Set<Promise<void>>();
  private swapCount = 0;
  private disposed = false;

  constructor(
    private readonly createDetector: () => Detector,
    private readonly onReleaseError: (error: unknown) => void = () => undefined,
  ) {}

  get model(): ModelInfo {
    if (this.current === null) {
      throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
    }
    return this.current.model;
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
    const run = this.swapChain.then(() => this.doSwap(modelPath, check));
    this.swapChain = run.catch(() => undefined);
    return run;
  }

  async detect(image: RgbImage, options?: Partial<DetectOptions>): Promise<DetectorOutput> {
    const slot = this.current;
    if (slot === null) throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
    slot.inFlight++;
    try {
      const output = await slot.detector.detect(image, options);
      return { ...output, modelVersion: slot.model.version };
    } finally {
      slot.inFlight--;
      if (slot.retired && slot.inFlight === 0) this.release(slot);
    }
  }

  /** Resolves when every replaced detector has been released. */
  async settled(): Promise<void> {
    await this.swapChain;
    while (this.releasing.size > 0) await Promise.all([...this.releasing]);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.swapChain;
    const slot = this.current;
    this.current = null;
    if (slot !== null) {
      slot.retired = true;
      if (slot.inFlight === 0) this.release(slot);
    }
    await this.settled();
  }

  private async doSwap(
    modelPath: string,
    check: ((model: ModelInfo) => void) | undefined,
  ): Promise<SwapResult> {
    if (this.disposed) {
      throw new VisionLoopError('MODEL_LOAD_FAILED', 'the detector was disposed; no more swaps');
    }
    const started = performance.now();
    const detector = this.createDetector();
    let model: ModelInfo;
    try {
      model = await detector.load(modelPath);
      check?.(model);
      const { inputWidth: width, inputHeight: height } = model;
      await detector.detect({ width, height, data: new Uint8Array(width * height * 3).fill(114) });
    } catch (error) {
      await detector.dispose().catch(this.onReleaseError);
      throw error;
    }
    const previous = this.current;
    this.current = { detector, model, inFlight: 0, retired: false };
    if (previous !== null) {
      this.swapCount++;
      previous.retired = true;
      if (previous.inFlight === 0) this.release(previous);
    }
    return { model, previous: previous?.model ?? null, loadMs: performance.now() - started };
  }

  private release(slot: Slot): void {
    const pending = slot.detector
      .dispose()
      .catch(this.onReleaseError)
      .finally(() => this.releasing.delete(pending));
    this.releasing.add(pending);
  }
}
