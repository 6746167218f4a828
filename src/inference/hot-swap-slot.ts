/**
 * The one hot-swap slot: a model behind which the running detector can be replaced while
 * calls flow. Both the agent (SwappableDetector, frames) and the server (ModelServingService,
 * /api/predict) hold one; what each knows about a model (`M`: its ModelInfo, or the registry
 * row's version and sha256) rides along with the detector.
 *
 * A swap creates a NEW detector (for ONNX: a new worker thread that owns the new session),
 * lets the caller load, check and warm it up, and only then switches with one assignment, so
 * every call runs wholly on the old or wholly on the new model. Calls already holding the old
 * model finish there; the old detector is disposed — its worker terminated, which hands the
 * runtime's native memory back whole — when the last of them is done. A detector whose
 * preparation fails is disposed and the current one keeps running. Swaps are serialized in
 * call order.
 *
 * It never decides which model should run (its callers do) and never drops a call: a call
 * that started is answered by the model it started on.
 */
import type { Detector } from '../vision/detector.js';

interface Entry<M> {
  readonly detector: Detector;
  readonly model: M;
  inFlight: number;
  retired: boolean;
}

export interface SlotSwap<M> {
  model: M;
  /** What ran before, or null on the first load. */
  previous: M | null;
}

export class HotSwapSlot<M> {
  private active: Entry<M> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly releasing = new Set<Promise<void>>();
  private isClosed = false;

  constructor(
    private readonly createDetector: () => Detector,
    /** Where a failed dispose goes (nobody waits for a retired detector). */
    private readonly onReleaseError: (error: unknown) => void = () => undefined,
  ) {}

  /** What runs now; null before the first swap and after close. */
  get model(): M | null {
    return this.active?.model ?? null;
  }

  /** Calls running on the current model. */
  get inFlight(): number {
    return this.active?.inFlight ?? 0;
  }

  /** True once `close` was called: callers refuse new swaps. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Runs `task` after every task queued before it (whether those failed or not). */
  serialize<R>(task: () => Promise<R>): Promise<R> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Creates a detector, `prepare`s it (load, check, warm-up; returns what the slot should
   * know about the model, or throws to refuse it) and switches to it. On failure the new
   * detector is disposed and the error thrown; the current model keeps running. Call it from
   * a `serialize`d task.
   */
  async swapIn(prepare: (detector: Detector) => Promise<M>): Promise<SlotSwap<M>> {
    const detector = this.createDetector();
    let model: M;
    try {
      model = await prepare(detector);
    } catch (error) {
      await detector.dispose().catch(this.onReleaseError);
      throw error;
    }
    const previous = this.active;
    this.active = { detector, model, inFlight: 0, retired: false };
    if (previous !== null) this.retire(previous);
    return { model, previous: previous?.model ?? null };
  }

  /**
   * Runs `call` on the current model and holds that model until it is done (a swap meanwhile
   * does not dispose it under the call). Throws `whenEmpty()` when nothing is loaded.
   */
  async use<R>(
    call: (detector: Detector, model: M) => Promise<R>,
    whenEmpty: () => Error,
  ): Promise<R> {
    const entry = this.active;
    if (entry === null) throw whenEmpty();
    entry.inFlight++;
    try {
      return await call(entry.detector, entry.model);
    } finally {
      entry.inFlight--;
      if (entry.retired && entry.inFlight === 0) this.release(entry);
    }
  }

  /** Resolves when queued swaps are done and every retired detector has been disposed. */
  async settled(): Promise<void> {
    await this.chain;
    while (this.releasing.size > 0) await Promise.all([...this.releasing]);
  }

  /** Refuses further swaps (`closed`), waits for queued ones, and disposes the current model after its calls. */
  async close(): Promise<void> {
    this.isClosed = true;
    await this.chain;
    const entry = this.active;
    this.active = null;
    if (entry !== null) this.retire(entry);
    await this.settled();
  }

  private retire(entry: Entry<M>): void {
    entry.retired = true;
    if (entry.inFlight === 0) this.release(entry);
  }

  private release(entry: Entry<M>): void {
    const pending = entry.detector
      .dispose()
      .catch(this.onReleaseError)
      .finally(() => this.releasing.delete(pending));
    this.releasing.add(pending);
  }
}
