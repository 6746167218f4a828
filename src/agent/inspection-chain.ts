/**
 * The stages after `detect` on the agent (docs/agent.md, "Inspection chain and shadow on the
 * agent"): for one frame, picks the detections each stage looks at (confidence ≥ the stage's
 * `minConfidence`, at most `maxCrops`, highest confidence first), pads their boxes by the
 * stage's `padding` (a fraction of each side, clipped to the frame), and makes ONE classify
 * call and ONE segment call with all of the frame's crops (the stage models batch them). The
 * classifier's veto class marks a detection vetoed; vetoed crops are not segmented. The answer
 * is the frame's `InspectionStages`, one entry per detection in detection order.
 *
 * The chain and the stage models can be replaced at any time (a plan from the server); a change
 * applies from the next frame. Frames are run one at a time (a stage model is not reentrant).
 * It never decides: decideWithChain (src/vision/decision-rules.ts) does, from what it returns.
 */
import {
  DEFAULT_CHAIN,
  type ChainConfig,
  type ChainStage,
} from '../shared/api/inspection-chain.js';
import type { Box, Detection, DetectionStages, InspectionStages } from '../shared/domain.js';
import type { RgbImage } from '../vision/image.js';
import type { CropClassifier, CropSegmenter } from '../vision/stage-model.js';

export interface InspectionChainRunnerOptions {
  chain?: ChainConfig;
  classifier?: CropClassifier | null;
  segmenter?: CropSegmenter | null;
  /** Told once per (stage, chain) when the chain names a stage whose model is not loaded. */
  log?: (level: 'info' | 'warn', message: string) => void;
}

/** A detection's box grown by `padding` × its width (height) on each side, clipped to the frame. */
export function paddedBox(box: Box, padding: number, width: number, height: number): Box {
  const padX = (box.x2 - box.x1) * padding;
  const padY = (box.y2 - box.y1) * padding;
  const x1 = Math.min(Math.max(0, box.x1 - padX), Math.max(0, width - 1));
  const y1 = Math.min(Math.max(0, box.y1 - padY), Math.max(0, height - 1));
  // At least one pixel, so a degenerate box still makes a crop.
  const x2 = Math.max(x1 + 1, Math.min(width, box.x2 + padX));
  const y2 = Math.max(y1 + 1, Math.min(height, box.y2 + padY));
  return { x1, y1, x2, y2 };
}

/**
 * Indexes of the detections a stage looks at: confidence ≥ `minConfidence`, not excluded, at
 * most `maxCrops`, highest confidence first (ties: detection order).
 */
export function selectCrops(
  detections: readonly Detection[],
  minConfidence: number,
  maxCrops: number,
  exclude: (index: number) => boolean = () => false,
): number[] {
  return detections
    .map((d, index) => ({ confidence: d.confidence, index }))
    .filter((c) => c.confidence >= minConfidence && !exclude(c.index))
    .sort((a, b) => b.confidence - a.confidence || a.index - b.index)
    .slice(0, maxCrops)
    .map((c) => c.index);
}

export class InspectionChainRunner {
  private chain: ChainConfig;
  private classifier: CropClassifier | null;
  private segmenter: CropSegmenter | null;
  private readonly log: NonNullable<InspectionChainRunnerOptions['log']>;
  /** Frames run one after the other: the stage models take one frame's crops at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly toldMissing = new Set<string>();
  private failedFrames = 0;

  constructor(options: InspectionChainRunnerOptions = {}) {
    this.chain = options.chain ?? DEFAULT_CHAIN;
    this.classifier = options.classifier ?? null;
    this.segmenter = options.segmenter ?? null;
    this.log = options.log ?? (() => undefined);
  }

  get config(): ChainConfig {
    return this.chain;
  }

  get stageModels(): { classifier: CropClassifier | null; segmenter: CropSegmenter | null } {
    return { classifier: this.classifier, segmenter: this.segmenter };
  }

  setChain(chain: ChainConfig): void {
    this.chain = chain;
    this.toldMissing.clear();
  }

  /** Replaces the classifier (null: none); returns the one it replaced, for the caller to dispose. */
  setClassifier(classifier: CropClassifier | null): CropClassifier | null {
    const previous = this.classifier;
    this.classifier = classifier;
    return previous;
  }

  /** Replaces the segmenter (null: none); returns the one it replaced, for the caller to dispose. */
  setSegmenter(segmenter: CropSegmenter | null): CropSegmenter | null {
    const previous = this.segmenter;
    this.segmenter = segmenter;
    return previous;
  }

  /** Whether `run` can produce stages now (the chain has a stage whose model is loaded). */
  get active(): boolean {
    return this.chain.stages.some((stage) =>
      stage.stage === 'classify' ? this.classifier !== null : this.segmenter !== null,
    );
  }

  /** Frames whose stages failed (a stage model threw) since the start. */
  get failures(): number {
    return this.failedFrames;
  }

  /**
   * The later stages' outputs for one frame's detections; null when the chain has no stages
   * or none of its stage models is loaded. Never rejects: when a stage model fails the frame
   * gets no stages (it is decided on its detections alone, vetoes lost) and the failure is
   * logged — the line keeps running on the detector. `chain`: the chain in force when the
   * frame was dispatched (default: the current one), so its stages and its decision agree.
   */
  run(
    image: RgbImage,
    detections: readonly Detection[],
    chain: ChainConfig = this.chain,
  ): Promise<InspectionStages | null> {
    // Models are read at call time: a change applies from the next frame, not in the middle of one.
    const classifier = this.classifier;
    const segmenter = this.segmenter;
    const next = this.queue.then(() =>
      this.runFrame(image, detections, chain, classifier, segmenter).catch((error: unknown) => {
        this.failedFrames++;
        if (this.failedFrames === 1 || this.failedFrames % 100 === 0) {
          this.log(
            'warn',
            `the inspection chain failed on a frame (${this.failedFrames} so far): ${error instanceof Error ? error.message : String(error)}; the frame is decided on its detections alone`,
          );
        }
        return null;
      }),
    );
    this.queue = next;
    return next;
  }

  private tellMissing(chain: ChainConfig, classifier: unknown, segmenter: unknown): void {
    for (const stage of chain.stages) {
      const loaded = stage.stage === 'classify' ? classifier !== null : segmenter !== null;
      if (loaded || this.toldMissing.has(stage.stage)) continue;
      this.toldMissing.add(stage.stage);
      this.log(
        'warn',
        `the chain has a ${stage.stage} stage (alias ${stage.alias}) but no ${stage.stage} model is loaded; the stage is skipped`,
      );
    }
  }

  private async runFrame(
    image: RgbImage,
    detections: readonly Detection[],
    chain: ChainConfig,
    classifier: CropClassifier | null,
    segmenter: CropSegmenter | null,
  ): Promise<InspectionStages | null> {
    this.tellMissing(chain, classifier, segmenter);
    const find = (kind: ChainStage['stage']) => chain.stages.find((s) => s.stage === kind) ?? null;
    const classifyStage = classifier !== null ? find('classify') : null;
    const segmentStage = segmenter !== null ? find('segment') : null;
    if (classifyStage === null && segmentStage === null) return null;
    const entries: DetectionStages[] = detections.map(() => ({ vetoed: false }));
    const stages: InspectionStages = {
      versions: {},
      detections: entries,
      totalAreaPx: null,
      totalAreaMm2: null,
      maxSeverity: null,
      timings: {},
    };
    const crop = (stage: ChainStage, index: number): Box =>
      paddedBox(detections[index]!.box, stage.padding, image.width, image.height);

    if (classifyStage !== null && classifier !== null) {
      stages.versions.classify = classifier.info.version;
      const picked = selectCrops(detections, classifyStage.minConfidence, chain.maxCrops);
      if (picked.length > 0) {
        const { results, timing } = await classifier.classify(
          image,
          picked.map((index) => crop(classifyStage, index)),
        );
        stages.timings.classifyMs = timing.runMs;
        picked.forEach((index, k) => {
          const classification = results[k];
          if (classification === undefined) return;
          const entry = entries[index]!;
          entry.classification = classification;
          entry.vetoed = chain.vetoClass !== null && classification.className === chain.vetoClass;
        });
        for (const entry of entries) {
          if (entry.classification === undefined || entry.vetoed) continue;
          const severity = entry.classification.classId;
          stages.maxSeverity =
            stages.maxSeverity === null ? severity : Math.max(stages.maxSeverity, severity);
        }
      } else {
        stages.timings.classifyMs = 0;
      }
    }

    if (segmentStage !== null && segmenter !== null) {
      stages.versions.segment = segmenter.info.version;
      stages.totalAreaPx = 0;
      stages.totalAreaMm2 = chain.mmPerPixel === null ? null : 0;
      const picked = selectCrops(
        detections,
        segmentStage.minConfidence,
        chain.maxCrops,
        (index) => entries[index]!.vetoed,
      );
      if (picked.length > 0) {
        const { results, timing } = await segmenter.segment(
          image,
          picked.map((index) => crop(segmentStage, index)),
          chain.mmPerPixel,
        );
        stages.timings.segmentMs = timing.runMs;
        picked.forEach((index, k) => {
          const segmentation = results[k];
          if (segmentation === undefined) return;
          entries[index]!.segmentation = segmentation;
          stages.totalAreaPx = (stages.totalAreaPx ?? 0) + segmentation.areaPx;
          if (stages.totalAreaMm2 !== null && chain.mmPerPixel !== null) {
            stages.totalAreaMm2 +=
              segmentation.areaMm2 ?? segmentation.areaPx * chain.mmPerPixel * chain.mmPerPixel;
          }
        });
      } else {
        stages.timings.segmentMs = 0;
      }
    }
    return stages;
  }
}

/**
 * The stages of the detections `keep` keeps (a still frame's carried detections under a
 * raised confidence cut), with totals and severity recomputed over what is left.
 */
export function keepStages(stages: InspectionStages, keep: readonly boolean[]): InspectionStages {
  const entries = stages.detections.filter((_, index) => keep[index] === true);
  const counted = entries.filter((entry) => !entry.vetoed);
  const sum = (of: (entry: DetectionStages) => number | null | undefined): number =>
    counted.reduce((total, entry) => total + (of(entry) ?? 0), 0);
  const severities = counted.flatMap((entry) =>
    entry.classification === undefined ? [] : [entry.classification.classId],
  );
  return {
    ...stages,
    detections: entries,
    totalAreaPx: stages.totalAreaPx === null ? null : sum((e) => e.segmentation?.areaPx),
    totalAreaMm2: stages.totalAreaMm2 === null ? null : sum((e) => e.segmentation?.areaMm2),
    maxSeverity: severities.length === 0 ? null : Math.max(...severities),
  };
}
