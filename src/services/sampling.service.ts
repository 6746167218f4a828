/**
 * The server's half of active-learning sampling: when the JPEG of a frame result arrives
 * (PUT /api/frames/{id}) and that result carries the agent's `sampling` mark, the frame becomes
 * a `pending` labeling-queue item with the sampling reason (the first of the mark's reasons),
 * its priority and perceptual hash, the model version that produced the result, and the
 * result's detections as pre-labels for the reviewer to correct. A frame sampled because its
 * shadow model disagreed (reason `committee`) gets the strategy `committee`, scored by the
 * shadow's disagreement; the reviewer sees the shadow's boxes beside the pre-labels
 * (LabelingItem.alternatives, read from `shadow_predictions`).
 *
 * Exactly one item per prediction: the insert is `ON CONFLICT (prediction_id) DO NOTHING`, and
 * a failure propagates to the upload (the agent retries it; the frame link is idempotent), so
 * an item is never lost and never doubled. Strategies themselves run on the agents (they hold
 * the pixels); this service never decides what is sampled. It never touches the ingest path:
 * the mark is stored with the result at ingest, and read here by primary key.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { SamplingRepository } from '../repositories/sampling.repository.js';
import type { ShadowPredictionRepository } from '../repositories/shadow-prediction.repository.js';
import { detectionSchema } from '../shared/api/ingest.js';
import { frameSamplingSchema } from '../shared/api/sampling.js';
import type { Box, Detection, FrameSampling } from '../shared/domain.js';

/** Where the labeling-queue depth goes (PrometheusExporter implements it). */
export interface QueueDepthGauge {
  setLabelingQueueDepth(status: string, depth: number): void;
}

/** A frame the frame service has just stored and linked to its result. */
export interface StoredFrameInfo {
  /** The frame result's id. */
  id: string;
  /** The blob key of the JPEG. */
  blob: string;
  /** The JPEG's size in pixels. */
  width: number;
  height: number;
}

export type EnqueueOutcome =
  /** A new item was created. */
  | { status: 'created'; itemId: string; reason: string; priority: number }
  /** The prediction already had an item (a repeated upload). */
  | { status: 'exists' }
  /** The result was not sampled (its frame was uploaded for inspection only). */
  | { status: 'not_sampled' };

export interface SamplingServiceOptions {
  now?: () => number;
  gauge?: QueueDepthGauge;
  /** Reports a stored mark or detections that cannot be read (the item is not created). */
  onInvalid?: (resultId: string, problem: string) => void;
  /**
   * The stored shadow outputs: a `committee` item's strategy score is its shadow's
   * disagreement (without it, the mark's own score when its strategy is `committee`).
   */
  shadows?: Pick<ShadowPredictionRepository, 'findById'>;
}

/**
 * The sampling reason (and labeling-queue strategy) of a frame whose shadow model disagreed
 * with the serving model: query by committee (docs/sampling.md, docs/rollouts.md).
 */
export const COMMITTEE_REASON = 'committee';

const storedDetectionsSchema = z.array(detectionSchema);

export class SamplingService {
  private readonly now: () => number;
  private readonly gauge: QueueDepthGauge | undefined;
  private readonly onInvalid: (resultId: string, problem: string) => void;
  private readonly shadows: Pick<ShadowPredictionRepository, 'findById'> | undefined;

  constructor(
    private readonly repository: SamplingRepository,
    options: SamplingServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.gauge = options.gauge;
    this.onInvalid = options.onInvalid ?? (() => undefined);
    this.shadows = options.shadows;
  }

  /**
   * Creates the labeling-queue item of a sampled frame whose JPEG was just stored (see the
   * module comment). Safe to call any number of times for the same frame.
   */
  async enqueueUploadedFrame(frame: StoredFrameInfo): Promise<EnqueueOutcome> {
    const row = await this.repository.findResult(frame.id);
    if (row === undefined || row.sampling === null) return { status: 'not_sampled' };
    const sampling = parseJson(frameSamplingSchema, row.sampling);
    const detections = parseJson(storedDetectionsSchema, row.detections);
    if (sampling === null || detections === null) {
      this.onInvalid(frame.id, 'its stored sampling mark or detections do not parse');
      return { status: 'not_sampled' };
    }
    const now = this.now();
    const itemId = `lq-${randomUUID()}`;
    const reason = primaryReason(sampling);
    const { strategy, strategyScore } = await this.strategyOf(row.id, sampling);
    const preLabels = scaleDetections(
      detections,
      frame.width / row.width,
      frame.height / row.height,
    );
    const inserted = await this.repository.insertQueueItem({
      id: itemId,
      prediction_id: row.id,
      camera: row.camera,
      captured_at: row.captured_at,
      frame_blob: frame.blob,
      width: frame.width,
      height: frame.height,
      status: 'pending',
      priority: sampling.priority,
      reason,
      strategy,
      strategy_score: strategyScore,
      model_version: row.model_version,
      pre_labels: JSON.stringify(preLabels),
      phash: sampling.phash,
      created_at: now,
      updated_at: now,
    });
    if (!inserted) return { status: 'exists' };
    if (this.gauge) {
      this.gauge.setLabelingQueueDepth('pending', await this.repository.countQueueItems('pending'));
    }
    return { status: 'created', itemId, reason, priority: sampling.priority };
  }

  /**
   * The item's strategy: `committee` when the shadow disagreed (the mark has that reason,
   * wherever it stands among the reasons), scored by the shadow's disagreement; else the
   * mark's ranking strategy and score.
   */
  private async strategyOf(
    id: string,
    sampling: FrameSampling,
  ): Promise<{ strategy: string | null; strategyScore: number | null }> {
    if (!sampling.reasons.includes(COMMITTEE_REASON)) {
      return { strategy: sampling.strategy ?? null, strategyScore: sampling.strategyScore ?? null };
    }
    const shadow = await this.shadows?.findById(id);
    const markScore = sampling.strategy === COMMITTEE_REASON ? sampling.strategyScore : undefined;
    return {
      strategy: COMMITTEE_REASON,
      strategyScore: shadow?.disagreement ?? markScore ?? null,
    };
  }
}

function primaryReason(sampling: FrameSampling): string {
  return sampling.reasons[0] ?? 'random';
}

/**
 * Detections in the JPEG's pixels: the agent uploads frames at their own size (factor 1, the
 * detections as they are); a frame stored at another size gets its boxes scaled to match.
 */
export function scaleDetections(
  detections: readonly Detection[],
  sx: number,
  sy: number,
): Detection[] {
  if (sx === 1 && sy === 1) return [...detections];
  const scale = (box: Box): Box => ({
    x1: box.x1 * sx,
    y1: box.y1 * sy,
    x2: box.x2 * sx,
    y2: box.y2 * sy,
  });
  return detections.map((d) => ({ ...d, box: scale(d.box) }));
}

function parseJson<T>(schema: z.ZodType<T>, text: string): T | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
