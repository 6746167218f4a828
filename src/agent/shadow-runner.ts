/**
 * A shadow model on the agent (docs/agent.md, "Inspection chain and shadow on the agent"): a
 * second Detector — in agent.main an ONNX detector in its own worker — run beside the serving
 * one on `share` of the frames. A frame is chosen by a stable hash of its index (the same
 * frames on every run), and its shadow detection starts at the same time as the serving one,
 * so a production result waits at most for the shadow's own run. What it found becomes the
 * result's `shadow`: its boxes, its decision under the same rules, and how much it disagrees
 * with the serving model (src/vision/disagreement.ts).
 *
 * It never decides, and a shadow that fails costs its frame the `shadow` field only: the
 * production result is emitted as if no shadow ran.
 */
import type { ChainConfig } from '../shared/api/inspection-chain.js';
import type { Detection, ShadowResult } from '../shared/domain.js';
import { decideWithChain } from '../vision/decision-rules.js';
import type { DecisionPolicy } from '../vision/decision.js';
import type { DetectOptions, Detector, ModelInfo } from '../vision/detector.js';
import { boxDisagreement, shadowDisagrees } from '../vision/disagreement.js';
import type { RgbImage } from '../vision/image.js';

/** A stable hash of a frame index onto [0, 1) (murmur3's 32-bit finalizer). */
export function frameHashUnit(frameIndex: number): number {
  let h = (frameIndex | 0) ^ Math.floor(frameIndex / 0x1_0000_0000);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 0x1_0000_0000;
}

/** What the shadow found on one frame, before it is compared. */
export interface ShadowDetections {
  version: string;
  detections: Detection[];
  inferenceMs: number;
}

export interface ShadowRunnerOptions {
  log?: (level: 'info' | 'warn', message: string) => void;
}

export interface ShadowRunnerStats {
  version: string | null;
  share: number;
  frames: number;
  disagreements: number;
  failures: number;
}

export class ShadowRunner {
  private detector: Detector | null = null;
  private modelInfo: ModelInfo | null = null;
  private shareOfFrames = 0;
  private readonly log: NonNullable<ShadowRunnerOptions['log']>;
  private readonly counts = { frames: 0, disagreements: 0, failures: 0 };

  constructor(options: ShadowRunnerOptions = {}) {
    this.log = options.log ?? (() => undefined);
  }

  /** The shadow model running now; null when none. */
  get model(): ModelInfo | null {
    return this.modelInfo;
  }

  get share(): number {
    return this.shareOfFrames;
  }

  stats(): ShadowRunnerStats {
    return { version: this.modelInfo?.version ?? null, share: this.shareOfFrames, ...this.counts };
  }

  /**
   * Puts a loaded detector (or none) in the shadow's place from the next frame; returns the one
   * it replaced, for the caller to dispose once its calls are done (`release`).
   */
  set(shadow: { detector: Detector; model: ModelInfo } | null, share: number): Detector | null {
    const previous = this.detector;
    this.detector = shadow?.detector ?? null;
    this.modelInfo = shadow?.model ?? null;
    this.shareOfFrames = shadow === null ? 0 : Math.min(1, Math.max(0, share));
    return previous;
  }

  setShare(share: number): void {
    if (this.detector !== null) this.shareOfFrames = Math.min(1, Math.max(0, share));
  }

  /** Whether frame `frameIndex` is in the shadow's share. */
  selects(frameIndex: number): boolean {
    return this.detector !== null && frameHashUnit(frameIndex) < this.shareOfFrames;
  }

  /**
   * Starts the shadow's detection of a chosen frame (null when the frame is not chosen). The
   * promise never rejects: a failure is logged and resolves to null.
   */
  start(
    frameIndex: number,
    image: RgbImage,
    options: Partial<DetectOptions>,
  ): Promise<ShadowDetections | null> | null {
    const detector = this.detector;
    const model = this.modelInfo;
    if (detector === null || model === null || !this.selects(frameIndex)) return null;
    // The shadow needs boxes only: no class-score vectors, no candidates below the cut.
    const { classScores: _scores, candidateThreshold: _candidates, ...detect } = options;
    return detector.detect(image, { ...detect, classScores: false }).then(
      (output) => ({
        version: output.modelVersion ?? model.version,
        detections: output.detections,
        inferenceMs: output.timings.inferenceMs,
      }),
      (error: unknown) => {
        this.counts.failures++;
        if (this.counts.failures === 1 || this.counts.failures % 100 === 0) {
          this.log(
            'warn',
            `shadow model ${model.version} failed on frame ${frameIndex} (${this.counts.failures} failures): ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        return null;
      },
    );
  }

  /**
   * The shadow's result on a frame, compared with the serving detections. Both decisions are
   * taken by the chain's rules without stage outputs (the shadow ran no stages), so a rule
   * that needs a stage never makes them differ.
   */
  compare(
    found: ShadowDetections,
    serving: readonly Detection[],
    chain: Pick<ChainConfig, 'rules'>,
    policy: number | DecisionPolicy,
  ): ShadowResult {
    const decision = decideWithChain(found.detections, null, chain, policy).decision;
    const servingDecision = decideWithChain(serving, null, chain, policy).decision;
    const disagreement = boxDisagreement(found.detections, serving);
    const disagrees = shadowDisagrees(decision, servingDecision, disagreement);
    this.counts.frames++;
    if (disagrees) this.counts.disagreements++;
    return {
      version: found.version,
      detections: found.detections.map(({ classScores: _dropped, ...rest }) => rest),
      decision,
      disagreement,
      disagrees,
      inferenceMs: found.inferenceMs,
    };
  }
}
