/**
 * The inspection pipeline of one camera: source → bounded queue → motion gate → detector →
 * frame result. Live sources (a rate is set) drop the oldest waiting frame when inference falls
 * behind; file sources are read only as fast as they are processed, so none of their frames is
 * lost. Up to `maxInFlight` frames (3) are at the detector at once: the next frames are
 * letterboxed and their features computed here while the model runs in the detector's worker,
 * and the worker still has a frame queued when this thread is late by a frame's work. Results
 * are emitted in capture order.
 *
 * After detection, an inspection chain (an optional InspectionChainRunner) runs the later
 * stages on the frame's crops and fills `result.stages`; the decision comes from the chain's
 * rules (decideWithChain; `decidedBy` names the rule on FAIL — `fail-threshold` without rules).
 * An optional ShadowRunner runs a shadow detector beside the serving one on its share of the
 * frames (started together, so a result waits at most for the shadow's own run) and fills
 * `result.shadow`; it never decides.
 *
 * The pipeline never talks to a server: it hands each result to `onResult`, and the caller
 * (the agent's outbox, the detect command) decides where it goes.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import type { Detection, FrameResult, InspectionStages } from '../shared/domain.js';
import { decideWithChain } from '../vision/decision-rules.js';
import {
  DEFAULT_DECISION_POLICY,
  DEFAULT_UNCERTAIN_BAND,
  isUncertain,
  type DecisionPolicy,
  type UncertainBand,
} from '../vision/decision.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, type Detector } from '../vision/detector.js';
import { computeFeatures } from '../vision/features.js';
import { DropOldestQueue } from './frame-queue.js';
import { keepStages, type InspectionChainRunner } from './inspection-chain.js';
import type { CapturedFrame, FrameSource } from './frame-source.js';
import { LatencyWindow } from './latency-window.js';
import { DEFAULT_MOTION_GATE, MotionGate, type MotionGateOptions } from './motion-gate.js';
import { RateMeter } from './rate-meter.js';
import type { ShadowRunner } from './shadow-runner.js';

export interface PipelineOptions {
  camera: string;
  detect: DetectOptions;
  uncertainBand: UncertainBand;
  decision: DecisionPolicy;
  motion: MotionGateOptions;
  /** Frames waiting for the detector; beyond this the oldest is dropped (live sources). */
  queueCapacity: number;
  /** Frames at the detector at once. */
  maxInFlight: number;
  /**
   * The thresholds in force, read at every frame, so a change (an agent following the server's
   * settings) applies to the next frame without a restart. They override `detect.confThreshold`
   * and `decision.failThreshold`; absent, those fixed options hold.
   */
  thresholds?: () => InspectionThresholds;
  /**
   * The stages after `detect` and the chain's decision rules; absent: detect alone, decided
   * by the default rule (the fail threshold).
   */
  chain?: InspectionChainRunner;
  /** A shadow detector run beside the serving one on a share of the frames; it never decides. */
  shadow?: ShadowRunner;
}

/** The two thresholds an operator tunes while the line runs (the agent settings). */
export interface InspectionThresholds {
  /** Detections below this confidence are dropped (the detector's `confThreshold`). */
  confThreshold: number;
  /** A detection at or above this confidence fails the part (`DecisionPolicy.failThreshold`). */
  failThreshold: number;
}

export const DEFAULT_PIPELINE_OPTIONS: PipelineOptions = {
  camera: 'camera-1',
  detect: DEFAULT_DETECT_OPTIONS,
  uncertainBand: DEFAULT_UNCERTAIN_BAND,
  decision: DEFAULT_DECISION_POLICY,
  motion: DEFAULT_MOTION_GATE,
  queueCapacity: 2,
  maxInFlight: 3,
};

export interface PipelineStats {
  camera: string;
  modelVersion: string;
  capturedFrames: number;
  processedFrames: number;
  /** Frames the motion gate let through without inference (result carried forward). */
  skippedFrames: number;
  /** Frames dropped because inference fell behind. */
  droppedFrames: number;
  cameraFps: number;
  processFps: number;
  skippedFps: number;
  inferenceMsP50: number;
  inferenceMsP99: number;
  totalMsP50: number;
  totalMsP99: number;
  failedFrames: number;
  uncertainFrames: number;
}

/**
 * Receives each result in capture order, with the detector's below-threshold candidates of
 * that frame (empty when not asked for, or when the motion gate skipped inference).
 */
export type ResultHandler = (
  result: FrameResult,
  frame: CapturedFrame,
  candidates: readonly Detection[],
) => void | Promise<void>;

interface Settled {
  result: FrameResult;
  frame: CapturedFrame;
  candidates: readonly Detection[];
}

/** What a still frame carries forward from the latest inferred frame. */
interface CarriedFindings {
  detections: Detection[];
  version: string | null;
  stages: InspectionStages | null;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class InspectionPipeline {
  private readonly options: PipelineOptions;
  private readonly gate: MotionGate;
  private readonly runId = randomUUID().slice(0, 8);
  private readonly cameraMeter = new RateMeter();
  private readonly processMeter = new RateMeter();
  private readonly skipMeter = new RateMeter();
  private readonly inferenceMs = new LatencyWindow();
  private readonly totalMs = new LatencyWindow();
  /**
   * Detections of the latest frame sent to the detector and the model version that made them
   * (still frames carry both forward); null version: none yet, the detector's current one.
   */
  private lastDetections: Promise<CarriedFindings> = Promise.resolve({
    detections: [],
    version: null,
    stages: null,
  });
  private processed = 0;
  private skipped = 0;
  private uncertainCount = 0;
  private failed = 0;
  private queue: DropOldestQueue<CapturedFrame> | null = null;

  constructor(
    private readonly source: FrameSource,
    private readonly detector: Detector,
    private readonly onResult: ResultHandler,
    options: Partial<PipelineOptions> = {},
  ) {
    this.options = { ...DEFAULT_PIPELINE_OPTIONS, ...options };
    this.gate = new MotionGate(this.options.motion);
  }

  stats(now = Date.now()): PipelineStats {
    return {
      camera: this.options.camera,
      modelVersion: this.detector.model.version,
      capturedFrames: this.cameraMeter.total,
      processedFrames: this.processed,
      skippedFrames: this.skipped,
      droppedFrames: this.queue?.dropped ?? 0,
      cameraFps: this.cameraMeter.rate(now),
      processFps: this.processMeter.rate(now),
      skippedFps: this.skipMeter.rate(now),
      inferenceMsP50: this.inferenceMs.percentile(50),
      inferenceMsP99: this.inferenceMs.percentile(99),
      totalMsP50: this.totalMs.percentile(50),
      totalMsP99: this.totalMs.percentile(99),
      failedFrames: this.failed,
      uncertainFrames: this.uncertainCount,
    };
  }

  /**
   * Runs until the source ends or `signal` aborts; resolves with the final stats. A source
   * failure (an unreadable file) or a detector failure fails the run and stops the source.
   */
  async run(signal?: AbortSignal): Promise<PipelineStats> {
    const queue = new DropOldestQueue<CapturedFrame>(this.options.queueCapacity);
    this.queue = queue;
    const stopSource = new AbortController();
    const onAbort = () => stopSource.abort();
    if (signal?.aborted) stopSource.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const live = this.source.live;
    const producer = (async (): Promise<Error | null> => {
      try {
        for await (const frame of this.source.frames(stopSource.signal)) {
          if (!live) await queue.waitForSpace();
          if (stopSource.signal.aborted) break;
          queue.push(frame);
          this.cameraMeter.mark();
        }
        return null;
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      } finally {
        queue.close();
      }
    })();
    const inFlight: Promise<Settled>[] = [];
    try {
      for (;;) {
        const frame = await queue.take();
        if (frame === null) break;
        inFlight.push(this.process(frame));
        while (inFlight.length >= this.options.maxInFlight) await this.emit(inFlight.shift());
        // A frame's work here (features, letterbox) is a few ms of synchronous CPU; when
        // frames and answers are already waiting, promises alone would chain frame after frame
        // without ever giving timers and I/O a turn. One macrotask hop per frame bounds that.
        await yieldToEventLoop();
      }
      while (inFlight.length > 0) await this.emit(inFlight.shift());
    } catch (error) {
      stopSource.abort();
      queue.close();
      // Settle what is still at the detector so nothing rejects unobserved.
      await Promise.allSettled(inFlight);
      await producer;
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const failure = await producer;
    if (failure) throw failure;
    return this.stats();
  }

  private async emit(pending: Promise<Settled> | undefined): Promise<void> {
    if (!pending) return;
    const { result, frame, candidates } = await pending;
    await this.onResult(result, frame, candidates);
  }

  private async process(frame: CapturedFrame): Promise<Settled> {
    const dispatchedAt = Date.now();
    const verdict = this.gate.check(frame.image, frame.capturedAt);
    const features = computeFeatures(frame.image);
    let detections: Detection[];
    let stages: InspectionStages | null;
    let candidates: readonly Detection[] = [];
    // The version of the model that produced these detections: a hot swap may happen while
    // this frame is at the detector, and the result must name the model that ran.
    let modelVersion: string | null;
    let inferred: boolean;
    let timings = { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 };
    let shadowPending: ReturnType<ShadowRunner['start']> = null;
    const thresholds = this.options.thresholds?.();
    const detect =
      thresholds === undefined
        ? this.options.detect
        : { ...this.options.detect, confThreshold: thresholds.confThreshold };
    const decision =
      thresholds === undefined
        ? this.options.decision
        : { ...this.options.decision, failThreshold: thresholds.failThreshold };
    const runner = this.options.chain;
    // The chain in force when the frame was dispatched: its stages and its decision agree.
    const chain = runner?.config ?? DEFAULT_CHAIN;
    if (verdict === 'still') {
      this.skipped++;
      this.skipMeter.mark();
      ({ detections, version: modelVersion, stages } = await this.lastDetections);
      // Carried forward from a frame detected under an older, lower threshold: drop what the
      // threshold in force would have dropped.
      if (thresholds !== undefined) {
        const keep = detections.map((d) => d.confidence >= thresholds.confThreshold);
        detections = detections.filter((_, index) => keep[index]);
        if (stages !== null && keep.includes(false)) stages = keepStages(stages, keep);
      }
      inferred = false;
    } else {
      const pending = this.detector.detect(frame.image, detect);
      // Started with the serving detection (its own worker): the result waits at most for it.
      shadowPending = this.options.shadow?.start(frame.index, frame.image, detect) ?? null;
      const found = pending.then(async (output) => ({
        output,
        stages:
          runner === undefined ? null : await runner.run(frame.image, output.detections, chain),
      }));
      this.lastDetections = found.then(
        ({ output, stages: carried }) => ({
          detections: output.detections,
          version: output.modelVersion ?? null,
          stages: carried,
        }),
        () => ({ detections: [], version: null, stages: null }),
      );
      const { output, stages: frameStages } = await found;
      detections = output.detections;
      stages = frameStages;
      candidates = output.candidates ?? [];
      modelVersion = output.modelVersion ?? null;
      timings = output.timings;
      inferred = true;
      this.processed++;
      this.processMeter.mark();
      this.inferenceMs.add(timings.inferenceMs);
    }
    const verdictOfChain = decideWithChain(detections, stages, chain, decision);
    const doneAt = Date.now();
    const result: FrameResult = {
      id: `${this.runId}-${frame.index}`,
      camera: this.options.camera,
      frameIndex: frame.index,
      capturedAt: frame.capturedAt,
      width: frame.image.width,
      height: frame.image.height,
      detections,
      uncertain: isUncertain(detections, this.options.uncertainBand),
      decision: verdictOfChain.decision,
      features,
      latencies: {
        queueMs: Math.max(0, dispatchedAt - frame.capturedAt),
        preprocessMs: timings.preprocessMs,
        inferenceMs: timings.inferenceMs,
        postprocessMs: timings.postprocessMs,
        totalMs: Math.max(0, doneAt - frame.capturedAt),
      },
      modelVersion: modelVersion ?? this.detector.model.version,
      inferred,
    };
    if (stages !== null) result.stages = stages;
    if (verdictOfChain.decidedBy !== undefined) result.decidedBy = verdictOfChain.decidedBy;
    const shadowFound = shadowPending === null ? null : await shadowPending;
    if (shadowFound !== null && this.options.shadow !== undefined) {
      result.shadow = this.options.shadow.compare(shadowFound, detections, chain, decision);
    }
    this.totalMs.add(result.latencies.totalMs);
    if (result.uncertain) this.uncertainCount++;
    if (result.decision === 'FAIL') this.failed++;
    return { result, frame, candidates };
  }
}
