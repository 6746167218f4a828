/**
 * Active-learning selection strategies (issue 17), pure and shared by the agent's sampler and
 * bench/label-efficiency:
 * - candidate uncertainty: what the detector produces *below* its confidence cut (the
 *   candidate boxes' scores and class-score vectors), so a model that half-sees defects in the
 *   dark still ranks frames — least-confidence, margin or entropy per candidate, combined over
 *   the frame's candidates as a noisy-or (the chance that at least one candidate is an
 *   uncertain object), optionally weighted per class by difficulty (PPAL's calibration);
 * - diversity: k-center greedy (Sener & Savarese, ICLR 2018) over frame embeddings, starting
 *   from what is already labeled, with per-camera caps;
 * - two stages (PPAL, Yang et al., CVPR 2024): a candidate pool of the most uncertain frames,
 *   then k-means++ seeding over the pool's embeddings picks a diverse batch within it;
 * - typicality (TypiClust, Hacohen, Dekel & Weinshall, ICML 2022): for a budget too small for
 *   uncertainty to mean anything (a model that sees nothing), cluster the frames and label the
 *   most typical frame (densest neighbourhood) of each of the largest clusters, not the
 *   outliers that k-means++ and k-center favour;
 * - mixing: a weighted mean of the strategies' scores (weights are settings), naming the
 *   strategy whose weighted score contributed most;
 * - class balance: a floor on the share of frames showing rare classes.
 *
 * Never does I/O or reads clocks; randomness is injected.
 */
import { RANKING_STRATEGIES, type RankingStrategy } from '../../shared/api/sampling.js';
import type { Detection } from '../../shared/domain.js';
import { informativeness } from '../../vision/decision.js';

/** How a candidate's uncertainty is measured. */
export type CandidateMetric = 'least_confidence' | 'margin' | 'entropy';

/** A frame's uncertainty over its candidates, 0..1, by each metric. */
export interface CandidateUncertainty {
  leastConfidence: number;
  margin: number;
  entropy: number;
  /** How many candidates counted. */
  candidates: number;
}

/**
 * One candidate's uncertainty by each metric, 0..1.
 * - least confidence: 1 − |2c − 1| (1 at a coin flip, 0 at a sure yes or a sure no);
 * - margin: least confidence × (1 − (top1 − top2) / top1) over the class scores — a box that
 *   could be either of two classes;
 * - entropy: least confidence × the normalized entropy of the class scores.
 * Margin and entropy are scaled by least confidence so that the near-zero background boxes
 * (flat class scores, high entropy) do not rank a blank frame first. Without a class-score
 * vector (one class, end-to-end models), margin and entropy equal least confidence.
 */
export function candidateScores(candidate: Detection): {
  leastConfidence: number;
  margin: number;
  entropy: number;
} {
  const c = clamp01(candidate.confidence);
  const lc = 1 - Math.abs(2 * c - 1);
  const scores = candidate.classScores;
  if (scores === undefined || scores.length < 2)
    return { leastConfidence: lc, margin: lc, entropy: lc };
  const info = informativeness(scores);
  let top1 = 0;
  for (const s of scores) if (s > top1) top1 = s;
  const relativeMargin = top1 > 0 ? clamp01(info.margin / top1) : 0;
  return {
    leastConfidence: lc,
    margin: lc * (1 - relativeMargin),
    entropy: lc * clamp01(info.entropy),
  };
}

/**
 * The frame's uncertainty over its candidates (detections above and below the confidence cut
 * alike): 1 − Π(1 − w·u) over candidates, u each candidate's score by each metric and w the
 * candidate class's difficulty weight (`classWeight`, default 1; clamped to 0..1).
 */
export function candidateUncertainty(
  candidates: readonly Detection[],
  classWeight: (classId: number) => number = () => 1,
): CandidateUncertainty {
  let keepLc = 1;
  let keepMargin = 1;
  let keepEntropy = 1;
  for (const candidate of candidates) {
    const w = clamp01(classWeight(candidate.classId));
    const s = candidateScores(candidate);
    keepLc *= 1 - w * s.leastConfidence;
    keepMargin *= 1 - w * s.margin;
    keepEntropy *= 1 - w * s.entropy;
  }
  return {
    leastConfidence: 1 - keepLc,
    margin: 1 - keepMargin,
    entropy: 1 - keepEntropy,
    candidates: candidates.length,
  };
}

/** The score of `metric` in an uncertainty. */
export function uncertaintyBy(uncertainty: CandidateUncertainty, metric: CandidateMetric): number {
  switch (metric) {
    case 'least_confidence':
      return uncertainty.leastConfidence;
    case 'margin':
      return uncertainty.margin;
    case 'entropy':
      return uncertainty.entropy;
  }
}

/**
 * PPAL's difficulty calibration: a class the model finds hard (low per-class AP or recall on
 * the reviewed labels so far) weighs more. Weight = (1 − quality) scaled so the hardest class
 * weighs 1 (all classes weigh 1 when every quality is equal). Unknown classes weigh 1.
 */
export function difficultyWeights(quality: readonly number[]): (classId: number) => number {
  const difficulty = quality.map((q) => 1 - clamp01(q));
  const hardest = Math.max(0, ...difficulty);
  return (classId) => {
    const d = difficulty[classId];
    if (d === undefined || hardest <= 0) return 1;
    return d / hardest;
  };
}

/** A selection's pick, with the distance to its nearest already-covered point when chosen. */
export interface CoverPick {
  index: number;
  distance: number;
}

/**
 * k-center greedy: repeatedly picks the point farthest from everything covered so far
 * (`covered`: e.g. frames already labeled or in the training set; then each pick), so the
 * picks cover the points with the smallest radius (a 2-approximation). `group`/`perGroupCap`
 * cap how many picks one group (a camera) gets. Ties go to the lower index. O(n·(k + |covered|)).
 */
export function kCenterGreedy<T>(
  points: readonly T[],
  k: number,
  distance: (a: T, b: T) => number,
  options: {
    covered?: readonly T[];
    group?: (index: number) => string;
    perGroupCap?: number;
  } = {},
): CoverPick[] {
  const n = points.length;
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  for (const c of options.covered ?? []) {
    for (let i = 0; i < n; i++) {
      const d = distance(points[i] as T, c);
      if (d < nearest[i]!) nearest[i] = d;
    }
  }
  const taken = new Uint8Array(n);
  const perGroup = new Map<string, number>();
  const cap = options.perGroupCap ?? Number.POSITIVE_INFINITY;
  const picks: CoverPick[] = [];
  while (picks.length < Math.min(k, n)) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (taken[i] === 1) continue;
      if (options.group !== undefined && (perGroup.get(options.group(i)) ?? 0) >= cap) continue;
      if (best < 0 || nearest[i]! > nearest[best]!) best = i;
    }
    if (best < 0) break;
    taken[best] = 1;
    picks.push({ index: best, distance: nearest[best]! });
    if (options.group !== undefined) {
      const g = options.group(best);
      perGroup.set(g, (perGroup.get(g) ?? 0) + 1);
    }
    const chosen = points[best] as T;
    for (let i = 0; i < n; i++) {
      if (taken[i] === 1) continue;
      const d = distance(points[i] as T, chosen);
      if (d < nearest[i]!) nearest[i] = d;
    }
  }
  return picks;
}

/**
 * k-means++ seeding (Arthur & Vassilvitskii, 2007) as a batch selector: the first pick is
 * `first` (e.g. the most uncertain point), each next one is drawn with probability ∝ D², its
 * squared distance to the nearest pick so far; `random` is uniform in [0, 1). Returns indices
 * in pick order. When every remaining point sits on a pick (D = 0), the lowest index is taken.
 */
export function kMeansPlusPlus<T>(
  points: readonly T[],
  k: number,
  distance: (a: T, b: T) => number,
  random: () => number,
  first = 0,
): number[] {
  const n = points.length;
  if (n === 0 || k <= 0) return [];
  const d2 = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const taken = new Uint8Array(n);
  const picks: number[] = [];
  let next = Math.min(Math.max(0, first), n - 1);
  while (picks.length < Math.min(k, n)) {
    taken[next] = 1;
    picks.push(next);
    const chosen = points[next] as T;
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (taken[i] === 1) {
        d2[i] = 0;
        continue;
      }
      const d = distance(points[i] as T, chosen);
      if (d * d < d2[i]!) d2[i] = d * d;
      total += d2[i]!;
    }
    if (picks.length >= Math.min(k, n)) break;
    next = -1;
    if (total > 0) {
      let r = random() * total;
      for (let i = 0; i < n; i++) {
        if (taken[i] === 1 || d2[i]! <= 0) continue;
        r -= d2[i]!;
        if (r < 0) {
          next = i;
          break;
        }
      }
      // Float rounding left r a hair above 0: the last eligible point.
      if (next < 0)
        for (let i = n - 1; i >= 0 && next < 0; i--) if (taken[i] !== 1 && d2[i]! > 0) next = i;
    }
    if (next < 0) for (let i = 0; i < n && next < 0; i++) if (taken[i] !== 1) next = i;
  }
  return picks;
}

/** A frame as the two-stage selector sees it. */
export interface SelectableFrame<E> {
  uncertainty: number;
  embedding: E;
}

/**
 * PPAL's two stages: the `poolFactor`·k most uncertain frames (and any tied with the last of
 * them) form the candidate pool; k-means++ over their embeddings, starting from the most uncertain, chooses
 * k of them. Returns indices into `frames`, in pick order.
 */
export function twoStageSelect<E>(
  frames: readonly SelectableFrame<E>[],
  k: number,
  distance: (a: E, b: E) => number,
  random: () => number,
  poolFactor = 3,
): number[] {
  const byUncertainty = frames
    .map((frame, index) => ({ index, uncertainty: frame.uncertainty }))
    .sort((a, b) => b.uncertainty - a.uncertainty || a.index - b.index);
  // Frames tied with the last one in the pool join it: when the model sees nothing at all
  // (every uncertainty 0, a total drift), diversity chooses among all, not arrival order.
  const size = Math.min(byUncertainty.length, Math.max(k, Math.ceil(poolFactor * k)));
  const cut = byUncertainty[size - 1]?.uncertainty ?? 0;
  let end = size;
  while (end < byUncertainty.length && byUncertainty[end]!.uncertainty >= cut) end++;
  const pool = byUncertainty.slice(0, end);
  const picks = kMeansPlusPlus(
    pool.map((p) => (frames[p.index] as SelectableFrame<E>).embedding),
    k,
    distance,
    random,
    0,
  );
  return picks.map((i) => (pool[i] as { index: number }).index);
}

/**
 * TypiClust's selection: k-means++ seeds `2k` medoids (over-clustering, so outliers end in
 * clusters of their own), a few k-medoids rounds settle them (each point to its nearest
 * medoid; each cluster's medoid the member with the least total distance to the rest), and
 * the k largest clusters (ties: lower medoid index) each give their most typical member — the
 * one whose `neighbors` nearest cluster-mates (at most half the cluster) are closest on
 * average. Returns indices, largest cluster first. O(n²) distances (computed once).
 */
export function typicalSelect<T>(
  points: readonly T[],
  k: number,
  distance: (a: T, b: T) => number,
  random: () => number,
  options: { neighbors?: number; rounds?: number } = {},
): number[] {
  const n = points.length;
  if (n === 0 || k <= 0) return [];
  if (k >= n) return points.map((_, i) => i);
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = distance(points[i] as T, points[j] as T);
      d[i * n + j] = v;
      d[j * n + i] = v;
    }
  }
  const at = (i: number, j: number) => d[i * n + j]!;
  const indices = points.map((_, i) => i);
  let medoids = kMeansPlusPlus(indices, Math.min(n, 2 * k), at, random, 0);
  let members: number[][] = [];
  for (let round = 0; round <= (options.rounds ?? 5); round++) {
    members = medoids.map(() => []);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < medoids.length; c++) {
        if (at(i, medoids[c]!) < at(i, medoids[best]!)) best = c;
      }
      members[best]!.push(i);
    }
    const next = members.map((cluster, c) => {
      let best = medoids[c]!;
      let bestSum = Number.POSITIVE_INFINITY;
      for (const i of cluster) {
        let sum = 0;
        for (const j of cluster) sum += at(i, j);
        if (sum < bestSum) [best, bestSum] = [i, sum];
      }
      return best;
    });
    if (next.every((m, c) => m === medoids[c])) break;
    medoids = next;
  }
  const order = members
    .map((cluster, c) => ({ cluster, medoid: medoids[c]! }))
    .filter((entry) => entry.cluster.length > 0)
    .sort((a, b) => b.cluster.length - a.cluster.length || a.medoid - b.medoid);
  return order.slice(0, k).map(({ cluster }) => mostTypical(cluster, at, options.neighbors ?? 20));
}

/** The member whose nearest cluster-mates are closest on average (ties: the lower index). */
function mostTypical(
  cluster: readonly number[],
  at: (i: number, j: number) => number,
  neighbors: number,
): number {
  const count = Math.max(1, Math.min(neighbors, Math.floor(cluster.length / 2)));
  let best = cluster[0]!;
  let bestMean = Number.POSITIVE_INFINITY;
  for (const i of cluster) {
    const nearest = cluster
      .filter((j) => j !== i)
      .map((j) => at(i, j))
      .sort((a, b) => a - b)
      .slice(0, count);
    const mean = nearest.length === 0 ? 0 : nearest.reduce((s, v) => s + v, 0) / nearest.length;
    if (mean < bestMean || (mean === bestMean && i < best)) [best, bestMean] = [i, mean];
  }
  return best;
}

/** The strategies the queue's priority mixes, in tie-break order. */
export const MIXED_STRATEGIES = RANKING_STRATEGIES;
export type MixedStrategy = RankingStrategy;
export type MixingWeights = Readonly<Record<MixedStrategy, number>>;

/**
 * The weighted mean of the strategies' scores (each 0..1; a missing score counts 0) and the
 * strategy, among those with a weight above 0, whose weighted score is largest (ties:
 * MIXED_STRATEGIES order). All weights 0: score 0, strategy of the largest raw score.
 */
export function mixScores(
  scores: Partial<Record<MixedStrategy, number>>,
  weights: MixingWeights,
): { score: number; strategy: MixedStrategy; strategyScore: number } {
  let sum = 0;
  let weightSum = 0;
  for (const name of MIXED_STRATEGIES) weightSum += Math.max(0, weights[name]);
  let strategy: MixedStrategy = 'random';
  let bestContribution = -1;
  for (const name of MIXED_STRATEGIES) {
    const w = Math.max(0, weights[name]);
    const s = clamp01(scores[name] ?? 0);
    sum += w * s;
    // Only a strategy that counts (weight > 0) can be named, unless none does.
    if (weightSum > 0 && w <= 0) continue;
    const contribution = weightSum > 0 ? w * s : s;
    if (contribution > bestContribution) {
      bestContribution = contribution;
      strategy = name;
    }
  }
  return {
    score: weightSum > 0 ? sum / weightSum : 0,
    strategy,
    strategyScore: clamp01(scores[strategy] ?? 0),
  };
}

/**
 * Class-balance floor: reorders a ranked list so that, for each class whose share of the
 * reviewed labels so far (`labeledPerClass`) is below `floor`, at least ⌈floor·k⌉ of the first
 * k items show that class (by `classesOf`, e.g. the frame's candidate classes) — as far as the
 * list has such items. Promoted items keep their relative order; the rest follow in rank order.
 */
export function classBalanceFloor<T>(
  ranked: readonly T[],
  k: number,
  classesOf: (item: T) => readonly string[],
  labeledPerClass: Readonly<Record<string, number>>,
  classes: readonly string[],
  floor: number,
): T[] {
  const total = classes.reduce((s, c) => s + (labeledPerClass[c] ?? 0), 0);
  const rare = classes.filter((c) => total === 0 || (labeledPerClass[c] ?? 0) / total < floor);
  const want = Math.ceil(floor * Math.min(k, ranked.length));
  const promoted = new Set<number>();
  for (const name of rare) {
    let have = 0;
    for (let i = 0; i < Math.min(k, ranked.length); i++) {
      if (classesOf(ranked[i] as T).includes(name)) have++;
    }
    for (let i = k; i < ranked.length && have < want; i++) {
      if (promoted.has(i)) continue;
      if (classesOf(ranked[i] as T).includes(name)) {
        promoted.add(i);
        have++;
      }
    }
  }
  if (promoted.size === 0) return [...ranked];
  const head = ranked.slice(0, Math.max(0, k - promoted.size));
  const promotedItems = [...promoted].sort((a, b) => a - b).map((i) => ranked[i] as T);
  const rest = ranked.filter((_, i) => i >= head.length && !promoted.has(i));
  return [...head, ...promotedItems, ...rest];
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}
