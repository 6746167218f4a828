/**
 * Where the agent applies active-learning sampling: between the pipeline and the outbox. For
 * each frame result it asks the FrameSampler (with the sampling settings in force and the
 * frame's pixels for the perceptual hash), marks a sampled result with its `sampling` (the
 * outbox writer then stores its JPEG for upload), and keeps payloads small: class-score vectors
 * stay only on sampled results (rounded), and are dropped from all others.
 *
 * Settings are read at every frame, so a new revision from the server applies to the next
 * frame; the sampler's caps and recent samples carry over. It never does I/O.
 */
import type { AgentSettings } from '../../shared/api/agents.js';
import { MAX_CLASS_SCORES } from '../../shared/api/ingest.js';
import { DEFAULT_SAMPLING_SETTINGS, type SamplingSettings } from '../../shared/api/sampling.js';
import type { Detection, FrameResult } from '../../shared/domain.js';
import type { RgbImage } from '../../vision/image.js';
import { dHash, type PerceptualHash } from '../../vision/phash.js';
import { embedFrame, type FrameEmbedding } from './frame-embedding.js';
import { FrameSampler, type FrameSamplerDeps, type SamplerStats } from './frame-sampler.js';

export interface SamplingStageOptions extends FrameSamplerDeps {
  /** The agent settings in force (read at every frame). */
  settings: () => AgentSettings;
  /** The perceptual hash; default dHash. */
  hash?: (image: RgbImage) => PerceptualHash;
  /** The novelty embedding; default embedFrame. */
  embed?: (image: RgbImage) => FrameEmbedding;
}

export class SamplingStage {
  private readonly sampler: FrameSampler;
  private readonly hash: (image: RgbImage) => PerceptualHash;
  private readonly embed: (image: RgbImage) => FrameEmbedding;
  private applied: SamplingSettings;

  constructor(private readonly options: SamplingStageOptions) {
    this.applied = options.settings().sampling ?? DEFAULT_SAMPLING_SETTINGS;
    this.sampler = new FrameSampler(this.applied, options);
    this.hash = options.hash ?? dHash;
    this.embed = options.embed ?? embedFrame;
  }

  stats(): SamplerStats {
    return this.sampler.stats();
  }

  /** The result to store: marked when sampled, class scores kept only then. */
  apply(result: FrameResult, image: RgbImage, candidates: readonly Detection[] = []): FrameResult {
    const settings = this.options.settings();
    const sampling = settings.sampling ?? DEFAULT_SAMPLING_SETTINGS;
    if (sampling !== this.applied) {
      this.applied = sampling;
      this.sampler.configure(sampling);
    }
    const outcome = this.sampler.sample({
      result,
      hash: () => this.hash(image),
      embedding: () => this.embed(image),
      driftActive: settings.driftActive ?? false,
      candidates,
    });
    if (outcome.sampled) {
      return {
        ...result,
        detections: result.detections.map(withCompactScores),
        sampling: outcome.sampling,
      };
    }
    if (!result.detections.some((d) => d.classScores !== undefined)) return result;
    return { ...result, detections: result.detections.map(withoutScores) };
  }
}

function withoutScores(detection: Detection): Detection {
  if (detection.classScores === undefined) return detection;
  const { classScores: _dropped, ...rest } = detection;
  return rest;
}

/** Scores rounded to 4 decimals (non-finite ones as 0); none beyond the wire's limit. */
function withCompactScores(detection: Detection): Detection {
  const scores = detection.classScores;
  if (scores === undefined) return detection;
  if (scores.length > MAX_CLASS_SCORES) return withoutScores(detection);
  return {
    ...detection,
    classScores: scores.map((s) => (Number.isFinite(s) ? Math.round(s * 10_000) / 10_000 : 0)),
  };
}
