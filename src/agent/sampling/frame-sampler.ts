/**
 * The agent's active-learning sampler: decides, frame by frame, whether a frame goes to the
 * labeling queue, why, and how urgently. The agent holds the pixels, so the decision is made
 * here; the server only stores what was sampled.
 *
 * Per frame, in this order (docs/sampling.md):
 * 0. committee (issue 18): a frame on which a shadow model disagreed with the serving one
 *    (`result.shadow.disagrees`) is kept without a draw and without near-duplicate suppression,
 *    with `committee` as its first reason (the highest tier); the rate caps still hold;
 * 1. strategies, in SAMPLING_REASONS order — uncertainty band, class filter, detection count,
 *    novelty, drift, random — each matching strategy keeps the frame with its own probability
 *    (one random draw per matching strategy; while drift is reported the others' probabilities
 *    are multiplied by the drift boost, capped at 1); every strategy that keeps it adds its
 *    reason. Novelty (diversity) runs only while drift is reported, when the rate caps still
 *    have room: it keeps a frame whose embedding (frame-embedding.ts) is at least `minNovelty`
 *    away from each of the latest `memory` samples — an online k-center cover of what the line
 *    shows now, which fills the queue with new-looking frames even when the model sees nothing
 *    and the uncertainty band is empty (a total drift such as night). No random draw;
 * 2. rate caps: at most N samples in any sliding minute, hour and day;
 * 3. near-duplicate suppression: a frame whose perceptual hash is within `maxDistance` bits of
 *    a frame sampled in the last `windowMs` (and, with `matchDetections`, in which the model
 *    found the same defects) is dropped — except a frame novelty kept, which is already far
 *    from the recent samples by its embedding (the hash cannot tell dim frames apart). The
 *    hash is computed only for frames that got this far (and recorded for every sample).
 * A sampled frame counts against the caps and suppresses its near-duplicates from then on.
 * 4. ranking (issue 17, only for a sampled frame): with a `ranking` section, the priority is the
 *    first reason's tier plus the weighted mean (`ranking.weights`) of the strategies' scores —
 *    informativeness of the detections, uncertainty of the candidates below the confidence cut
 *    (selection.ts), novelty against the latest samples (the embedding is then computed for
 *    every sample, so the cover holds them all), the class-balance floor's rare classes and a
 *    random draw; the mark records the strategy that contributed most and its score. Without a
 *    `ranking` section: tier + informativeness (novelty for a novelty-chosen frame).
 *
 * Pure: no I/O, no timers. The clock and the random source are injected, so a seeded test
 * replays every decision exactly. Frames the motion gate skipped (`inferred: false`, their
 * detections carried over from an earlier frame) are never sampled.
 */
import {
  DEFAULT_SAMPLING_SETTINGS,
  SAMPLING_REASON_TIERS,
  type KnownSamplingReason,
  type SamplingSettings,
} from '../../shared/api/sampling.js';
import type { Box, Detection, FrameResult, FrameSampling } from '../../shared/domain.js';
import { informativeness } from '../../vision/decision.js';
import { iou } from '../../vision/nms.js';
import { hammingDistance, hashToHex, type PerceptualHash } from '../../vision/phash.js';
import { noveltyAgainst, type FrameEmbedding } from './frame-embedding.js';
import { candidateUncertainty, mixScores, uncertaintyBy } from './selection.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Boxes of the same class overlapping at least this much are "the same defect" (dedupe). */
export const SAME_DEFECT_IOU = 0.5;

export interface FrameSamplerDeps {
  /** Uniform in [0, 1). Default Math.random; inject a seeded one in tests. */
  random?: () => number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
}

export interface SampleInput {
  result: FrameResult;
  /** The frame's perceptual hash; called at most once, only when the dedupe step needs it. */
  hash: () => PerceptualHash;
  /** The drift monitor reports drift (the agent settings' `driftActive`). */
  driftActive: boolean;
  /**
   * The frame's embedding for novelty sampling; called at most once, only while the novelty
   * strategy runs (drift reported, caps not reached). Without it, novelty never matches.
   */
  embedding?: () => FrameEmbedding;
  /** The detector's boxes below its confidence cut (DetectOptions.candidateThreshold). */
  candidates?: readonly Detection[];
}

/** Why a frame was not sampled. */
export type SkipReason =
  /** Sampling is switched off. */
  | 'disabled'
  /** The motion gate skipped inference (its detections belong to an earlier frame). */
  | 'not_inferred'
  /** No strategy kept it. */
  | 'not_selected'
  /** A rate cap was reached. */
  | 'capped'
  /** A near-duplicate of a recent sample. */
  | 'duplicate';

export type SampleOutcome =
  { sampled: true; sampling: FrameSampling } | { sampled: false; skipped: SkipReason };

export interface SamplerStats {
  frames: number;
  sampled: number;
  /** Sampled frames by their first reason (the labeling-queue reason). */
  byReason: Record<string, number>;
  skipped: Record<SkipReason, number>;
}

/** How informative one detection is to label, 0..1 (docs/sampling.md, "Priority"). */
export function detectionInformativeness(detection: Detection): {
  score: number;
  margin?: number;
  entropy?: number;
} {
  const scores = detection.classScores;
  if (scores !== undefined && scores.length >= 2) {
    const info = informativeness(scores);
    const margin = clamp01(info.margin);
    const entropy = clamp01(info.entropy);
    return { score: (1 - margin + entropy) / 2, margin, entropy };
  }
  // No class-score vector (end-to-end models, one class): how close the score is to a coin flip.
  return { score: clamp01(1 - Math.abs(2 * detection.confidence - 1)) };
}

/**
 * The frame's informativeness: that of its most informative detection (0 without detections),
 * with that detection's margin and entropy when it had class scores.
 */
export function frameInformativeness(detections: readonly Detection[]): {
  score: number;
  margin?: number;
  entropy?: number;
} {
  let best: { score: number; margin?: number; entropy?: number } = { score: 0 };
  for (const detection of detections) {
    const info = detectionInformativeness(detection);
    if (info.score > best.score) best = info;
  }
  return best;
}

/** Priority of a frame with these reasons and this informativeness: tier + informativeness. */
export function samplingPriority(reasons: readonly string[], informativenessScore: number): number {
  const first = reasons[0];
  const tier =
    first !== undefined && first in SAMPLING_REASON_TIERS
      ? SAMPLING_REASON_TIERS[first as KnownSamplingReason]
      : 0;
  return Math.round((tier + clamp01(informativenessScore)) * 10_000) / 10_000;
}

/** True when a detection's confidence lies strictly inside (low, high). */
export function inBand(detection: Detection, low: number, high: number): boolean {
  return detection.confidence > low && detection.confidence < high;
}

/**
 * Whether the model found the same defects in two frames: every detection of either with
 * confidence ≥ `strong` has a detection of the same class in the other (at any confidence)
 * whose box overlaps it with IoU ≥ SAME_DEFECT_IOU. Matching a strong box against any box is
 * the hysteresis that keeps a box flickering around a threshold from making a still scene new.
 */
export function sameFindings(
  a: readonly Finding[],
  b: readonly Finding[],
  strong: number,
): boolean {
  const covered = (from: readonly Finding[], to: readonly Finding[]) =>
    from.every(
      (d) =>
        d.confidence < strong ||
        to.some((o) => o.className === d.className && iou(o.box, d.box) >= SAME_DEFECT_IOU),
    );
  return covered(a, b) && covered(b, a);
}

/** What dedupe remembers of a detection. */
export interface Finding {
  className: string;
  confidence: number;
  box: Box;
}

interface RecentSample {
  at: number;
  hash: PerceptualHash;
  findings: Finding[];
}

/** Timestamps of past samples, for sliding-window caps. */
class SampleTimes {
  private times: number[] = [];
  private head = 0;

  /** Samples at times t with now − windowMs < t ≤ now. */
  countSince(now: number, windowMs: number): number {
    const from = now - windowMs;
    let lo = this.head;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! > from) hi = mid;
      else lo = mid + 1;
    }
    return this.times.length - lo;
  }

  record(now: number): void {
    const last = this.times[this.times.length - 1];
    // A clock stepped back must not unsort the list.
    this.times.push(last !== undefined && now < last ? last : now);
  }

  /** Forgets samples older than a day. */
  prune(now: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= now - DAY_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

export class FrameSampler {
  private settings: SamplingSettings;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly times = new SampleTimes();
  private recent: RecentSample[] = [];
  /** Embeddings of the latest samples (any reason), newest last, for novelty. */
  private embeddings: FrameEmbedding[] = [];
  /** Embeddings of the latest samples when diversity ranks them (`ranking.weights.diversity`). */
  private rankCover: FrameEmbedding[] = [];
  private readonly counters: SamplerStats = {
    frames: 0,
    sampled: 0,
    byReason: {},
    skipped: { disabled: 0, not_inferred: 0, not_selected: 0, capped: 0, duplicate: 0 },
  };

  constructor(settings: SamplingSettings = DEFAULT_SAMPLING_SETTINGS, deps: FrameSamplerDeps = {}) {
    this.settings = settings;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
  }

  /** New settings apply from the next frame; caps and recent samples carry over. */
  configure(settings: SamplingSettings): void {
    this.settings = settings;
  }

  get current(): SamplingSettings {
    return this.settings;
  }

  stats(): SamplerStats {
    return {
      ...this.counters,
      byReason: { ...this.counters.byReason },
      skipped: { ...this.counters.skipped },
    };
  }

  /** Decides for one frame (see the module comment) and records a sample. */
  sample(input: SampleInput): SampleOutcome {
    this.counters.frames++;
    const outcome = this.decide(input);
    if (outcome.sampled) {
      this.counters.sampled++;
      const reason = outcome.sampling.reasons[0] ?? 'unknown';
      this.counters.byReason[reason] = (this.counters.byReason[reason] ?? 0) + 1;
    } else {
      this.counters.skipped[outcome.skipped]++;
    }
    return outcome;
  }

  private decide(input: SampleInput): SampleOutcome {
    const settings = this.settings;
    if (!settings.enabled) return { sampled: false, skipped: 'disabled' };
    const { result } = input;
    if (!result.inferred) return { sampled: false, skipped: 'not_inferred' };
    const now = this.now();
    this.times.prune(now);
    const caps = settings.caps;
    const capped =
      this.times.countSince(now, MINUTE_MS) >= caps.perMinute ||
      this.times.countSince(now, HOUR_MS) >= caps.perHour ||
      this.times.countSince(now, DAY_MS) >= caps.perDay;
    const noveltyRule = settings.strategies.novelty;
    let embedding: FrameEmbedding | undefined;
    let noveltyScore: number | undefined;
    if (
      input.driftActive &&
      noveltyRule.enabled &&
      !capped &&
      input.embedding !== undefined &&
      // A frame with a detection inside the band is the uncertainty strategy's to judge.
      !this.bandHit(result.detections)
    ) {
      embedding = input.embedding();
      noveltyScore = round4(noveltyAgainst(embedding, this.embeddings));
    }
    const reasons = this.reasonsFor(result.detections, input.driftActive, noveltyScore);
    // Query by committee: the models disagree, so a label settles which one is right.
    const committee = result.shadow?.disagrees === true;
    if (committee) reasons.unshift('committee');
    if (reasons.length === 0) return { sampled: false, skipped: 'not_selected' };
    if (capped) return { sampled: false, skipped: 'capped' };

    const hash = input.hash();
    const findings = result.detections.map(({ className, confidence, box }) => ({
      className,
      confidence,
      box,
    }));
    const dedupe = settings.dedupe;
    this.recent = this.recent.filter((r) => r.at > now - dedupe.windowMs);
    // A frame novelty kept is already far from every recent sample by a finer measure; the
    // dHash cannot tell dim frames apart (night frames of different parts share most bits).
    if (dedupe.enabled && !reasons.includes('novelty') && !committee) {
      const strong = settings.strategies.uncertainty.low;
      const duplicate = this.recent.some(
        (r) =>
          hammingDistance(r.hash, hash) <= dedupe.maxDistance &&
          (!dedupe.matchDetections || sameFindings(r.findings, findings, strong)),
      );
      if (duplicate) return { sampled: false, skipped: 'duplicate' };
    }

    this.times.record(now);
    this.recent.push({ at: now, hash, findings });
    if (this.recent.length > dedupe.maxRecent) {
      this.recent.splice(0, this.recent.length - dedupe.maxRecent);
    }
    const ranking = settings.ranking;
    // Diversity ranks every sample against every recent sample (its own cover, so novelty's
    // keep-rule is unchanged): embed it (once) when its weight counts.
    let diversity = 0;
    if (ranking !== undefined && ranking.weights.diversity > 0 && input.embedding !== undefined) {
      embedding ??= input.embedding();
      diversity = round4(noveltyAgainst(embedding, this.rankCover));
      this.rankCover.push(embedding);
      if (this.rankCover.length > noveltyRule.memory) {
        this.rankCover.splice(0, this.rankCover.length - noveltyRule.memory);
      }
    }
    // Every sample (whatever chose it) is part of the cover novelty measures against; while
    // novelty does not run, nothing is embedded and the cover keeps what it had.
    if (embedding !== undefined && noveltyScore !== undefined) {
      this.embeddings.push(embedding);
      const memory = noveltyRule.memory;
      if (this.embeddings.length > memory) {
        this.embeddings.splice(0, this.embeddings.length - memory);
      }
    }
    const info = frameInformativeness(result.detections);
    let sampling: FrameSampling;
    if (ranking === undefined) {
      // A novelty-chosen frame ranks by how new it is; a committee frame by how much the
      // models disagree; the others by informativeness.
      const score =
        reasons[0] === 'novelty'
          ? (noveltyScore ?? 0)
          : committee
            ? (result.shadow?.disagreement ?? 0)
            : info.score;
      sampling = { reasons, priority: samplingPriority(reasons, score), phash: hashToHex(hash) };
    } else {
      const candidates = input.candidates ?? [];
      const uncertainty = uncertaintyBy(candidateUncertainty(candidates), ranking.candidateMetric);
      const rare = new Set(ranking.rareClasses);
      const showsRare =
        rare.size > 0 &&
        (result.detections.some((d) => rare.has(d.className)) ||
          candidates.some((d) => rare.has(d.className)));
      const mixed = mixScores(
        {
          uncertainty: info.score,
          candidates: uncertainty,
          diversity,
          class_balance: showsRare ? 1 : 0,
          random: ranking.weights.random > 0 ? this.random() : 0,
        },
        ranking.weights,
      );
      sampling = {
        reasons,
        priority: samplingPriority(reasons, mixed.score),
        phash: hashToHex(hash),
        strategy: mixed.strategy,
        strategyScore: round4(mixed.strategyScore),
      };
      if (candidates.length > 0) sampling.candidateUncertainty = round4(uncertainty);
    }
    if (info.margin !== undefined) sampling.margin = round4(info.margin);
    if (info.entropy !== undefined) sampling.entropy = round4(info.entropy);
    if (noveltyScore !== undefined) sampling.novelty = noveltyScore;
    return { sampled: true, sampling };
  }

  private bandHit(detections: readonly Detection[]): boolean {
    const band = this.settings.strategies.uncertainty;
    return band.enabled && detections.some((d) => inBand(d, band.low, band.high));
  }

  /** The reasons of the strategies that keep the frame, in evaluation order. */
  private reasonsFor(
    detections: readonly Detection[],
    driftActive: boolean,
    noveltyScore: number | undefined,
  ): string[] {
    const strategies = this.settings.strategies;
    const drifting = driftActive && strategies.drift.enabled;
    const boost = drifting ? strategies.drift.boost : 1;
    const keep = (probability: number, boosted = true): boolean => {
      const p = Math.min(1, probability * (boosted ? boost : 1));
      if (p <= 0) return false;
      if (p >= 1) return true;
      return this.random() < p;
    };
    const reasons: KnownSamplingReason[] = [];

    const band = strategies.uncertainty;
    if (
      band.enabled &&
      detections.some((d) => inBand(d, band.low, band.high)) &&
      keep(band.keepProbability)
    ) {
      reasons.push('low_confidence');
    }

    const filter = strategies.classFilter;
    if (filter.enabled && filter.classes.length > 0) {
      const classes = new Set(filter.classes);
      if (
        detections.some((d) => classes.has(d.className) && d.confidence >= filter.minConfidence) &&
        keep(filter.keepProbability)
      ) {
        reasons.push('class_filter');
      }
    }

    const count = strategies.detectionCount;
    if (count.enabled) {
      const n = detections.filter((d) => d.confidence >= count.minConfidence).length;
      const matches =
        (count.moreThan !== null && n > count.moreThan) ||
        (count.fewerThan !== null && n < count.fewerThan);
      if (matches && keep(count.keepProbability)) reasons.push('detection_count');
    }

    if (noveltyScore !== undefined && noveltyScore >= strategies.novelty.minNovelty) {
      reasons.push('novelty');
    }

    if (drifting && keep(strategies.drift.keepProbability, false)) reasons.push('drift');

    const random = strategies.random;
    if (random.enabled && keep(random.keepProbability)) reasons.push('random');
    return reasons;
  }
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
