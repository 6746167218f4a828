/**
 * The active-learning sampling contract: the `sampling` section of the agent settings (which
 * frames an agent sends for labeling, how many at most, how near-duplicates are suppressed)
 * and the `sampling` mark a sampled frame result carries (why it was sampled, its priority in
 * the labeling queue, its perceptual hash). Browser-safe (zod only). docs/sampling.md explains
 * every field and the defaults.
 *
 * Compatibility: settings are parsed with unknown keys stripped, so an agent accepts settings
 * from a newer server; the update request (PUT /api/settings/agent) is strict and partial, one
 * level per section. Reasons are open-ended names, so a server accepts results whose agent
 * knows a strategy it does not.
 */
import { z } from 'zod';
import { plainText } from './common.js';

/**
 * The reasons the built-in strategies give, in the order the strategies are evaluated. The
 * first reason of a sampled frame is its labeling-queue `reason`. `committee` (query by
 * committee, issue 18): a shadow model disagreed with the serving one on the frame
 * (`FrameResult.shadow.disagrees`); such a frame is always kept (no draw, no near-duplicate
 * suppression; the master switch and the rate caps still hold) and ranks above all others.
 */
export const SAMPLING_REASONS = [
  'committee',
  'low_confidence',
  'class_filter',
  'detection_count',
  'novelty',
  'drift',
  'random',
] as const;
export type KnownSamplingReason = (typeof SAMPLING_REASONS)[number];

/**
 * The priority tier of each reason: a sampled frame's priority is the tier of its first reason
 * plus its informativeness (0..1), so every uncertainty-band frame ranks above every
 * class-filter frame, and so on down to random frames (see docs/sampling.md).
 */
export const SAMPLING_REASON_TIERS: Readonly<Record<KnownSamplingReason, number>> = Object.freeze({
  committee: 5,
  low_confidence: 4,
  class_filter: 3,
  detection_count: 2,
  novelty: 1,
  drift: 1,
  random: 0,
});

/** Highest priority the built-in strategies give (tier 5 + informativeness 1). */
export const MAX_SAMPLING_PRIORITY = 6;

/** A reason name: lowercase snake case, at most 32 characters. */
export const samplingReasonSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'lowercase letters, digits and _, at most 32');

/** A 64-bit perceptual hash (dHash) as 16 lowercase hex digits. */
export const phashSchema = z.string().regex(/^[0-9a-f]{16}$/, '16 lowercase hex digits');

/** The mark on a sampled frame result (FrameResult.sampling). */
export const frameSamplingSchema = z
  .strictObject({
    /** Why it was sampled, in strategy order; the first is the labeling-queue reason. */
    reasons: z.array(samplingReasonSchema).min(1).max(16),
    /** Orders the labeling queue, higher first. */
    priority: z.number().min(0).max(1000),
    phash: phashSchema,
    /** Of the most informative detection: best minus second-best class score, 0..1. */
    margin: z.number().min(0).max(1).optional(),
    /** Of the most informative detection: normalized entropy of its class scores, 0..1. */
    entropy: z.number().min(0).max(1).optional(),
    /**
     * How new the frame was against the frames sampled before it, 0..1 (the `novelty`
     * strategy's score; set when that strategy was evaluated for it).
     */
    novelty: z.number().min(0).max(1).optional(),
    /**
     * The strategy whose weighted score contributed most to the priority (`ranking.weights`:
     * uncertainty, candidates, diversity, class_balance, random) and its score, 0..1.
     */
    strategy: samplingReasonSchema.optional(),
    strategyScore: z.number().min(0).max(1).optional(),
    /** Uncertainty over the detector's candidates below its confidence cut, 0..1. */
    candidateUncertainty: z.number().min(0).max(1).optional(),
  })
  .meta({ id: 'FrameSampling' });
export type FrameSamplingWire = z.infer<typeof frameSamplingSchema>;

const probability = z.number().min(0).max(1);
const keepProbability = probability.describe(
  'chance that a frame this strategy matches is kept, 0..1 (drawn per frame)',
);
/** Most detections a frame result may carry (MAX_DETECTIONS_PER_FRAME of ingest.ts). */
const MAX_DETECTIONS = 300;
const detectionCount = z.number().int().min(0).max(MAX_DETECTIONS);
const capCount = z.number().int().min(0).max(1_000_000);
const className = plainText(z.string().min(1).max(64));

// One shape per section: the settings use them as they are (unknown keys stripped), the update
// request as strict partial objects.
const uncertaintyShape = {
  enabled: z.boolean(),
  keepProbability,
  /** A detection with low < confidence < high (both exclusive) makes the frame uncertain. */
  low: probability,
  high: probability,
};
const classFilterShape = {
  enabled: z.boolean(),
  keepProbability,
  /** Frames with a detection of one of these classes (at ≥ minConfidence) match. */
  classes: z.array(className).max(64),
  minConfidence: probability,
};
const detectionCountShape = {
  enabled: z.boolean(),
  keepProbability,
  /** Frames with more than this many detections (at ≥ minConfidence) match; null: off. */
  moreThan: detectionCount.nullable(),
  /** Frames with fewer than this many detections (at ≥ minConfidence) match; null: off. */
  fewerThan: detectionCount.nullable(),
  minConfidence: probability,
};
const randomShape = {
  enabled: z.boolean(),
  /** Any inferred frame, with or without detections (to catch defects the model misses). */
  keepProbability,
};
const driftShape = {
  enabled: z.boolean(),
  /** While drift is reported: any inferred frame is kept with this probability (`drift`). */
  keepProbability,
  /** While drift is reported: the other strategies' keep-probabilities are multiplied by this. */
  boost: z.number().min(1).max(100),
};
const noveltyShape = {
  enabled: z.boolean(),
  /**
   * While drift is reported: a frame at least this new (0..1) against the nearest of the
   * frames sampled before it is kept (`novelty`). The embedding and the score are described
   * in docs/sampling.md ("Diversity under drift").
   */
  minNovelty: probability,
  /** How many of the latest samples a frame is compared with. */
  memory: z.number().int().min(1).max(1000),
};
/** The queue-priority mix (issue 17; docs/sampling.md, "Ranking"). */
export const RANKING_STRATEGIES = [
  'uncertainty',
  'candidates',
  'diversity',
  'class_balance',
  'random',
] as const;
export type RankingStrategy = (typeof RANKING_STRATEGIES)[number];
const weight = z.number().min(0).max(100);
const rankingShape = {
  /**
   * Weights of the strategies' scores (each 0..1) in a sampled frame's priority: priority =
   * reason tier + the weighted mean. uncertainty: informativeness of the detections above the
   * cut; candidates: uncertainty of the boxes below it; diversity: novelty against the latest
   * samples; class_balance: 1 when the frame shows a class of `rareClasses`; random: a draw.
   */
  weights: z.object({
    uncertainty: weight,
    candidates: weight,
    diversity: weight,
    class_balance: weight,
    random: weight,
  }),
  /** How a candidate's uncertainty is measured. */
  candidateMetric: z.enum(['least_confidence', 'margin', 'entropy']),
  /** The detector returns boxes down to this score as candidates; 0 asks for none. */
  candidateThreshold: probability,
  /**
   * Classes the reviewed labels under-represent (the class-balance floor): frames showing
   * one (a detection or candidate of it) get the class_balance score 1.
   */
  rareClasses: z.array(className).max(64),
};

const capsShape = {
  /** Most frames sampled in any sliding minute, hour and day, per agent; 0 samples none. */
  perMinute: capCount,
  perHour: capCount,
  perDay: capCount,
};
const dedupeShape = {
  enabled: z.boolean(),
  /** Frames whose dHash differs from a recent sample's in at most this many bits… */
  maxDistance: z.number().int().min(0).max(64),
  /** …and (when set) in which the model found the same defects, are near-duplicates. */
  matchDetections: z.boolean(),
  /** How long a sampled frame suppresses its near-duplicates, ms. */
  windowMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3_600_000),
  /** Most recent samples remembered (the oldest are forgotten first). */
  maxRecent: z.number().int().min(1).max(10_000),
};

const strategiesSettings = z.object({
  uncertainty: z.object(uncertaintyShape),
  classFilter: z.object(classFilterShape),
  detectionCount: z.object(detectionCountShape),
  random: z.object(randomShape),
  drift: z.object(driftShape),
  novelty: z.object(noveltyShape),
});

/** Problems that single fields cannot show, as messages (empty when consistent). */
export function samplingSettingsProblems(settings: SamplingSettings): string[] {
  const problems: string[] = [];
  const band = settings.strategies.uncertainty;
  if (!(band.low < band.high)) {
    problems.push(`strategies.uncertainty: low (${band.low}) must be below high (${band.high})`);
  }
  const count = settings.strategies.detectionCount;
  if (count.enabled && count.moreThan === null && count.fewerThan === null) {
    problems.push('strategies.detectionCount: set moreThan or fewerThan (or disable it)');
  }
  if (
    settings.strategies.classFilter.enabled &&
    settings.strategies.classFilter.classes.length === 0
  ) {
    problems.push('strategies.classFilter: list at least one class (or disable it)');
  }
  return problems;
}

export const samplingSettingsSchema = z
  .object({
    /** Master switch: false samples nothing. */
    enabled: z.boolean(),
    /** Evaluated in the order of SAMPLING_REASONS: uncertainty, classFilter, detectionCount, novelty, drift, random. */
    strategies: strategiesSettings,
    caps: z.object(capsShape),
    dedupe: z.object(dedupeShape),
    /** The queue-priority mix; absent: DEFAULT_RANKING_SETTINGS. */
    ranking: z.object(rankingShape).optional(),
  })
  .superRefine((value, context) => {
    for (const message of samplingSettingsProblems(value)) {
      context.addIssue({ code: 'custom', message });
    }
  })
  .meta({ id: 'SamplingSettings' });
export type SamplingSettings = z.infer<typeof samplingSettingsSchema>;

export type RankingSettings = z.infer<z.ZodObject<typeof rankingShape>>;

/**
 * The ranking defaults (docs/sampling.md, "Ranking"). Diversity is off: in
 * bench/label-efficiency (2026-12-07) a diversity-chosen set did worse than random ones on
 * `night` (N = 50: 0.090 against 0.184–0.413), so within a tier the order stays that of
 * the detections' and candidates' uncertainty, and arrival order where both are 0.
 */
export const DEFAULT_RANKING_SETTINGS: RankingSettings = {
  weights: { uncertainty: 1, candidates: 1, diversity: 0, class_balance: 0.5, random: 0 },
  candidateMetric: 'least_confidence',
  candidateThreshold: 0.05,
  rareClasses: [],
};

/** The defaults (docs/sampling.md explains the numbers). */
export const DEFAULT_SAMPLING_SETTINGS: SamplingSettings = {
  enabled: true,
  strategies: {
    uncertainty: { enabled: true, keepProbability: 0.5, low: 0.4, high: 0.7 },
    classFilter: { enabled: false, keepProbability: 1, classes: [], minConfidence: 0.25 },
    detectionCount: {
      enabled: false,
      keepProbability: 1,
      moreThan: null,
      fewerThan: null,
      minConfidence: 0.25,
    },
    random: { enabled: true, keepProbability: 0.001 },
    drift: { enabled: true, keepProbability: 0.01, boost: 2 },
    novelty: { enabled: true, minNovelty: 0.25, memory: 50 },
  },
  caps: { perMinute: 10, perHour: 120, perDay: 1000 },
  dedupe: {
    enabled: true,
    maxDistance: 6,
    matchDetections: true,
    windowMs: 10 * 60_000,
    maxRecent: 500,
  },
  ranking: DEFAULT_RANKING_SETTINGS,
};

/** PUT /api/settings/agent `sampling`: any field of any section; the rest stays as it is. */
export const samplingSettingsUpdateSchema = z
  .strictObject({
    enabled: z.boolean().optional(),
    strategies: z
      .strictObject({
        uncertainty: z.strictObject(uncertaintyShape).partial().optional(),
        classFilter: z.strictObject(classFilterShape).partial().optional(),
        detectionCount: z.strictObject(detectionCountShape).partial().optional(),
        random: z.strictObject(randomShape).partial().optional(),
        drift: z.strictObject(driftShape).partial().optional(),
        novelty: z.strictObject(noveltyShape).partial().optional(),
      })
      .optional(),
    caps: z.strictObject(capsShape).partial().optional(),
    dedupe: z.strictObject(dedupeShape).partial().optional(),
    ranking: z
      .strictObject({
        ...rankingShape,
        weights: z.strictObject(rankingShape.weights.shape).partial(),
      })
      .partial()
      .optional(),
  })
  .meta({ id: 'UpdateSamplingSettings' });
export type SamplingSettingsUpdate = z.infer<typeof samplingSettingsUpdateSchema>;

/** `base` with `update` applied field by field (not validated: parse the result). */
export function applySamplingUpdate(
  base: SamplingSettings,
  update: SamplingSettingsUpdate,
): SamplingSettings {
  const s = base.strategies;
  const u = update.strategies ?? {};
  return {
    enabled: update.enabled ?? base.enabled,
    strategies: {
      uncertainty: { ...s.uncertainty, ...u.uncertainty },
      classFilter: { ...s.classFilter, ...u.classFilter },
      detectionCount: { ...s.detectionCount, ...u.detectionCount },
      random: { ...s.random, ...u.random },
      drift: { ...s.drift, ...u.drift },
      novelty: { ...s.novelty, ...u.novelty },
    },
    caps: { ...base.caps, ...update.caps },
    dedupe: { ...base.dedupe, ...update.dedupe },
    ...(base.ranking === undefined && update.ranking === undefined
      ? {}
      : {
          ranking: {
            ...(base.ranking ?? DEFAULT_RANKING_SETTINGS),
            ...update.ranking,
            weights: {
              ...(base.ranking ?? DEFAULT_RANKING_SETTINGS).weights,
              ...update.ranking?.weights,
            },
          },
        }),
  };
}

/**
 * The sampling settings a stored value describes: each section (and each strategy) that parses
 * is taken, with fields it lacks from the defaults; one that does not parse falls back to its
 * defaults. So a value written by an older or newer server never loses the sections it got
 * right. Returns the defaults when the result as a whole is inconsistent.
 */
export function resolveSamplingSettings(stored: unknown): SamplingSettings {
  const defaults = DEFAULT_SAMPLING_SETTINGS;
  const value = asRecord(stored);
  const strategies = asRecord(value.strategies);
  const section = <T extends object>(schema: z.ZodType<T>, raw: unknown, fallback: T): T => {
    const parsed = schema.safeParse({ ...fallback, ...asRecord(raw) });
    return parsed.success ? parsed.data : fallback;
  };
  const shape = strategiesSettings.shape;
  const candidate = {
    enabled: typeof value.enabled === 'boolean' ? value.enabled : defaults.enabled,
    strategies: {
      uncertainty: section(
        shape.uncertainty,
        strategies.uncertainty,
        defaults.strategies.uncertainty,
      ),
      classFilter: section(
        shape.classFilter,
        strategies.classFilter,
        defaults.strategies.classFilter,
      ),
      detectionCount: section(
        shape.detectionCount,
        strategies.detectionCount,
        defaults.strategies.detectionCount,
      ),
      random: section(shape.random, strategies.random, defaults.strategies.random),
      drift: section(shape.drift, strategies.drift, defaults.strategies.drift),
      novelty: section(shape.novelty, strategies.novelty, defaults.strategies.novelty),
    },
    caps: section(z.object(capsShape), value.caps, defaults.caps),
    dedupe: section(z.object(dedupeShape), value.dedupe, defaults.dedupe),
    ranking: section(
      z.object(rankingShape),
      value.ranking,
      defaults.ranking ?? DEFAULT_RANKING_SETTINGS,
    ),
  };
  const parsed = samplingSettingsSchema.safeParse(candidate);
  return parsed.success ? parsed.data : defaults;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
