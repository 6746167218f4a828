/**
 * Shadow and canary rollouts (docs/rollouts.md, contract src/shared/api/rollouts.ts): start
 * one per stage, measure the candidate against the baseline since it started, end it by hand
 * or — canaries only — by the rules (`evaluate`, run by the `rollout.evaluate` job).
 *
 * The alias moves for every camera only on `promote`, through the registry's own move (the
 * promotion's history entry and deployment); a canary's start and rollback are history steps
 * with their scope, and which cameras follow the candidate is the agents' model plan's job
 * (it reads `running()`). It never loads a model and never decides a frame.
 *
 * Over 500 lines on purpose: one rollout's life (start, measure, evaluate by its rules, promote,
 * roll back, end) over one table; every transition shares the same checks and alias-history
 * steps, so they are read together.
 */
import { randomBytes } from 'node:crypto';
import type { RolloutRow } from '../db/schema.js';
import type {
  AliasStepRecord,
  PredictionGroupCounts,
  RolloutRepository,
  ShadowFilter,
  ShadowGroupCounts,
} from '../repositories/rollout.repository.js';
import { DEFAULT_STAGE_ALIASES } from '../shared/api/inspection-chain.js';
import { PRODUCTION_ALIAS } from '../shared/api/models.js';
import {
  DEFAULT_ROLLOUT_RULES,
  rolloutRulesSchema,
  type Rollout,
  type RolloutBreach,
  type RolloutGroupMetrics,
  type RolloutMetrics,
  type RolloutRules,
  type StartRolloutRequest,
} from '../shared/api/rollouts.js';
import type { ModelTask } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { rolloutCovers } from '../shared/rollout-membership.js';
import type { EventBus } from './event-bus.js';
import type { RolloutEvaluatePayload, ScheduledJob } from './jobs/job-catalogue.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';
import { historyId, type ModelRegistryService } from './registry/index.js';

/** The actor of the rules' automatic promotions and rollbacks. */
export const AUTO_ACTOR = 'auto';

/** Most rollouts `list` returns. */
const LIST_LIMIT = 200;

/** The alias a stage's production model is found under. */
export function stageAlias(stage: ModelTask): string {
  return stage === 'detect' ? PRODUCTION_ALIAS : DEFAULT_STAGE_ALIASES[stage];
}

/** The registry operations rollouts use. */
export type RolloutRegistry = Pick<ModelRegistryService, 'get' | 'resolveAlias' | 'promote'>;

export interface RolloutServiceOptions {
  now?: () => number;
  /** Period of the scheduled `rollout.evaluate`, ms. Default 15 s. */
  evaluateEveryMs?: number;
}

/** What one `evaluate` pass did. */
export interface RolloutEvaluation {
  evaluated: number;
  promoted: string[];
  rolledBack: string[];
  /** Rollouts whose evaluation failed (the next pass tries again). */
  failed: { id: string; error: string }[];
}

type GroupMetrics = Omit<RolloutGroupMetrics, 'cameras'>;
type CameraMetrics = RolloutMetrics['perCamera'][number];

let rolloutSequence = 0;

/** Ids that sort in start order within this process, even within one millisecond. */
function rolloutId(at: number): string {
  rolloutSequence = (rolloutSequence + 1) % 1_000_000;
  const sequence = String(rolloutSequence).padStart(6, '0');
  return `ro_${String(at).padStart(15, '0')}_${sequence}_${randomBytes(4).toString('hex')}`;
}

function parseCameras(text: string | null): string[] | null {
  if (text === null) return null;
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed.filter((c): c is string => typeof c === 'string') : null;
}

export function rolloutOf(row: RolloutRow): Rollout {
  return {
    id: row.id,
    kind: row.kind,
    stage: row.stage,
    candidateVersion: row.candidate_version,
    baselineVersion: row.baseline_version,
    cameras: parseCameras(row.cameras),
    share: row.share,
    state: row.state,
    rules: rolloutRulesSchema.parse(JSON.parse(row.rules)),
    reason: row.reason,
    createdBy: row.created_by,
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    endReason: row.end_reason,
  };
}

/** Whether a camera is on the candidate's side of a rollout. */
export function candidateCovers(rollout: Rollout, camera: string): boolean {
  // A shadow's share is a share of frames, not of cameras: it runs on every listed camera.
  const share = rollout.kind === 'canary' ? rollout.share : null;
  return rolloutCovers({ cameras: rollout.cameras, share }, camera);
}

function percentOf(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

/** How the cameras of a rollout read in a reason: `cameras a, b` or `50 % of the cameras`. */
function scopeText(rollout: Pick<Rollout, 'kind' | 'cameras' | 'share'>): string {
  if (rollout.cameras !== null) return `cameras ${rollout.cameras.join(', ')}`;
  if (rollout.kind === 'canary' && rollout.share !== null) {
    return `${percentOf(rollout.share)} of the cameras (by camera-name hash)`;
  }
  return 'every camera';
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

function emptyGroup(): GroupMetrics {
  return {
    frames: 0,
    defectRate: null,
    uncertainRate: null,
    disagreement: null,
    shadowFrames: 0,
    inferenceMsP50: null,
  };
}

interface Tally {
  frames: number;
  inferred: number;
  failed: number;
  uncertain: number;
}

interface ShadowTally {
  frames: number;
  failed: number;
  disagreementSum: number;
}

/** Adds each count of `row` into the same field of `tally` (the tally's fields only). */
function addCounts<K extends string>(
  tally: Record<K, number>,
  row: NoInfer<Record<K, number>>,
): void {
  for (const key of Object.keys(tally) as K[]) tally[key] += row[key];
}

function predictionGroup(
  tally: Tally,
  shadow: ShadowTally | null,
  p50: number | null,
): GroupMetrics {
  return {
    frames: tally.frames,
    defectRate: ratio(tally.failed, tally.inferred),
    uncertainRate: ratio(tally.uncertain, tally.inferred),
    disagreement: shadow === null ? null : ratio(shadow.disagreementSum, shadow.frames),
    shadowFrames: shadow?.frames ?? 0,
    inferenceMsP50: p50,
  };
}

function zeroTally(): Tally {
  return { frames: 0, inferred: 0, failed: 0, uncertain: 0 };
}

function zeroShadow(): ShadowTally {
  return { frames: 0, failed: 0, disagreementSum: 0 };
}

const BREACH_WORDING: Record<RolloutBreach['metric'], (b: RolloutBreach) => string> = {
  defectRateDelta: (b) => `defect rate ${signed(b.value)} > +${b.threshold.toFixed(2)}`,
  uncertainRateDelta: (b) => `uncertain rate ${signed(b.value)} > +${b.threshold.toFixed(2)}`,
  disagreement: (b) => `disagreement ${b.value.toFixed(2)} > ${b.threshold.toFixed(2)}`,
  latencyRatio: (b) => `p50 latency ×${b.value.toFixed(2)} > ×${b.threshold.toFixed(2)}`,
};

function signed(value: number): string {
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(2)}`;
}

/** E.g. "defect rate +0.31 > +0.10 over 240 canary frames". */
export function breachReason(breaches: readonly RolloutBreach[], frames: number): string {
  const what = breaches.map((b) => BREACH_WORDING[b.metric](b)).join('; ');
  return `${what} over ${frames} canary frames`;
}

/** The thresholds a rollout's metrics cross (empty when none or when a side has no data). */
export function breachesOf(
  rules: RolloutRules,
  candidate: GroupMetrics,
  baseline: GroupMetrics,
): RolloutBreach[] {
  const breaches: RolloutBreach[] = [];
  const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  const defect = delta(candidate.defectRate, baseline.defectRate);
  if (defect !== null && defect > rules.maxDefectRateDelta) {
    breaches.push({
      metric: 'defectRateDelta',
      value: defect,
      threshold: rules.maxDefectRateDelta,
    });
  }
  const uncertain = delta(candidate.uncertainRate, baseline.uncertainRate);
  if (uncertain !== null && uncertain > rules.maxUncertainRateDelta) {
    breaches.push({
      metric: 'uncertainRateDelta',
      value: uncertain,
      threshold: rules.maxUncertainRateDelta,
    });
  }
  if (candidate.disagreement !== null && candidate.disagreement > rules.maxDisagreement) {
    breaches.push({
      metric: 'disagreement',
      value: candidate.disagreement,
      threshold: rules.maxDisagreement,
    });
  }
  if (
    candidate.inferenceMsP50 !== null &&
    baseline.inferenceMsP50 !== null &&
    baseline.inferenceMsP50 > 0
  ) {
    const latency = candidate.inferenceMsP50 / baseline.inferenceMsP50;
    if (latency > rules.maxLatencyRatio) {
      breaches.push({ metric: 'latencyRatio', value: latency, threshold: rules.maxLatencyRatio });
    }
  }
  return breaches;
}

export class RolloutService {
  private readonly now: () => number;
  private readonly evaluateEveryMs: number;

  constructor(
    private readonly rollouts: RolloutRepository,
    private readonly registry: RolloutRegistry,
    private readonly events: EventBus,
    options: RolloutServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.evaluateEveryMs = options.evaluateEveryMs ?? 15_000;
  }

  /**
   * Starts a rollout. MODEL_NOT_FOUND for an unknown candidate, MODEL_TASK_MISMATCH when it
   * does not do the stage's task, ROLLOUT_CONFLICT when the stage's alias is empty or already
   * points at it, or a rollout of the stage is running; INVALID_ARGUMENT for a shadow of
   * another stage than `detect`, or a canary naming both or neither of cameras and share.
   */
  async start(request: StartRolloutRequest, actor: string | null): Promise<Rollout> {
    const stage = request.stage ?? 'detect';
    const cameras = request.cameras === undefined ? null : [...new Set(request.cameras)];
    const share = request.share ?? null;
    if (request.kind === 'shadow' && stage !== 'detect') {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `shadow rollouts run a candidate detector: stage must be detect, not ${stage}`,
      );
    }
    if (request.kind === 'canary' && (cameras === null) === (share === null)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        'a canary names either its cameras or a share of the cameras (one of the two)',
      );
    }
    const candidate = await this.registry.get(request.candidateVersion);
    if (candidate.task !== stage) {
      throw new VisionLoopError(
        'MODEL_TASK_MISMATCH',
        `${candidate.version} is a ${candidate.task} model; a ${stage} rollout needs a ${stage} model`,
      );
    }
    const alias = stageAlias(stage);
    const baseline = await this.registry.resolveAlias(alias);
    if (baseline === null) {
      throw new VisionLoopError(
        'ROLLOUT_CONFLICT',
        `nothing is in '${alias}' to compare ${candidate.version} with: promote a baseline first`,
      );
    }
    if (baseline.version === candidate.version) {
      throw new VisionLoopError(
        'ROLLOUT_CONFLICT',
        `'${alias}' already points at ${candidate.version}: a rollout needs a different candidate`,
      );
    }
    const rules: RolloutRules = { ...DEFAULT_ROLLOUT_RULES, ...request.rules };
    const at = this.now();
    const id = rolloutId(at);
    const reason = request.reason ?? null;
    const draft = { kind: request.kind, cameras, share };
    const step: AliasStepRecord | null =
      request.kind === 'canary'
        ? {
            id: historyId(at),
            alias,
            fromVersion: baseline.version,
            toVersion: candidate.version,
            action: 'canary',
            actor,
            reason: `canary on ${scopeText(draft)} (rollout ${id})${reason === null ? '' : `: ${reason}`}`,
            at,
            scope: cameras === null ? null : JSON.stringify(cameras),
          }
        : null;
    const running = await this.rollouts.start(
      {
        id,
        kind: request.kind,
        stage,
        candidate_version: candidate.version,
        baseline_version: baseline.version,
        cameras: cameras === null ? null : JSON.stringify(cameras),
        share,
        state: 'running',
        rules: JSON.stringify(rules),
        reason,
        created_by: actor,
        started_at: at,
        ended_at: null,
        end_reason: null,
      },
      step,
    );
    if (running !== undefined) {
      throw new VisionLoopError(
        'ROLLOUT_CONFLICT',
        `a ${running.kind} rollout of ${running.candidate_version} (${running.id}) is already ` +
          `running for the ${stage} stage: promote or roll it back first`,
      );
    }
    const rollout = await this.get(id);
    this.publish(rollout, 'started', actor, reason);
    return rollout;
  }

  /** The running rollouts, oldest first (the agents' model plan reads them). */
  async running(): Promise<Rollout[]> {
    return (await this.rollouts.running()).map(rolloutOf);
  }

  /** Newest first. */
  async list(): Promise<Rollout[]> {
    return (await this.rollouts.list(LIST_LIMIT)).map(rolloutOf);
  }

  /** One rollout; ROLLOUT_NOT_FOUND. */
  async get(id: string): Promise<Rollout> {
    const row = await this.rollouts.findById(id);
    if (row === undefined) {
      throw new VisionLoopError('ROLLOUT_NOT_FOUND', `there is no rollout '${id}'`);
    }
    return rolloutOf(row);
  }

  /** A rollout with its live metrics. */
  async detail(id: string): Promise<{ rollout: Rollout; metrics: RolloutMetrics }> {
    const rollout = await this.get(id);
    return { rollout, metrics: await this.metricsOf(rollout) };
  }

  /** The candidate's side against the baseline's since the rollout started. */
  async metrics(id: string): Promise<RolloutMetrics> {
    return this.metricsOf(await this.get(id));
  }

  /** Metrics of a rollout already read (the end time bounds nothing: ended rollouts show all). */
  async metricsOf(rollout: Rollout): Promise<RolloutMetrics> {
    return rollout.kind === 'canary' ? this.canaryMetrics(rollout) : this.shadowMetrics(rollout);
  }

  /**
   * One pass of the rules over the running canaries: a breach (once the canary has
   * `minFrames` frames) rolls back as `auto`, a clean canary with `promoteAfterFrames` frames
   * promotes. Shadows never end by themselves.
   */
  async evaluate(now: number = this.now()): Promise<RolloutEvaluation> {
    const result: RolloutEvaluation = { evaluated: 0, promoted: [], rolledBack: [], failed: [] };
    for (const rollout of await this.running()) {
      if (rollout.kind !== 'canary') continue;
      result.evaluated++;
      try {
        const metrics = await this.metricsOf(rollout);
        if (metrics.verdict === 'breach') {
          const reason = breachReason(metrics.breaches, metrics.candidate.frames);
          if (await this.end(rollout, 'rolled-back', reason, AUTO_ACTOR, now)) {
            result.rolledBack.push(rollout.id);
          }
        } else if (
          metrics.verdict === 'healthy' &&
          rollout.rules.promoteAfterFrames !== null &&
          metrics.candidate.frames >= rollout.rules.promoteAfterFrames
        ) {
          const reason =
            `${metrics.candidate.frames} canary frames within every threshold ` +
            `(≥ ${rollout.rules.promoteAfterFrames})`;
          if (await this.end(rollout, 'promoted', reason, AUTO_ACTOR, now)) {
            result.promoted.push(rollout.id);
          }
        }
      } catch (error) {
        result.failed.push({
          id: rollout.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return result;
  }

  /**
   * Moves the stage's alias to the candidate for every camera (the registry's `promote`, with
   * its gate) and marks the rollout promoted. ROLLOUT_CONFLICT when it is not running.
   */
  async promote(id: string, reason: string | null, actor: string | null): Promise<Rollout> {
    const rollout = await this.get(id);
    this.checkRunning(rollout);
    const why = reason ?? `promoted by hand after ${rollout.kind} rollout ${rollout.id}`;
    if (!(await this.end(rollout, 'promoted', why, actor, this.now()))) this.ended(rollout.id);
    return this.get(id);
  }

  /**
   * Ends a rollout without promoting: a canary's cameras go back to the baseline (a
   * `canary-rollback` history step), a shadow stops. ROLLOUT_CONFLICT when it is not running.
   */
  async rollback(id: string, reason: string | null, actor: string | null): Promise<Rollout> {
    const rollout = await this.get(id);
    this.checkRunning(rollout);
    const why = reason ?? `rolled back by hand`;
    if (!(await this.end(rollout, 'rolled-back', why, actor, this.now()))) this.ended(rollout.id);
    return this.get(id);
  }

  // --- the rollout.evaluate job ------------------------------------------------------------

  /** How often the scheduler queues `rollout.evaluate`. */
  evaluateIntervalMs(): number {
    return this.evaluateEveryMs;
  }

  /** One `rollout.evaluate` while a canary runs; nothing otherwise. */
  async scheduledEvaluations(): Promise<ScheduledJob[]> {
    const running = await this.rollouts.running();
    if (!running.some((row) => row.kind === 'canary')) return [];
    return [{ name: 'rollout.evaluate', payload: {}, dedupeKey: 'rollout.evaluate' }];
  }

  /** The `rollout.evaluate` handler: one `evaluate` pass, its outcome as the job's result. */
  async runEvaluation(_payload: RolloutEvaluatePayload, context?: JobContext): Promise<JsonValue> {
    const outcome = await this.evaluate();
    for (const id of outcome.rolledBack) context?.log('warn', 'rollout rolled back', { id });
    for (const id of outcome.promoted) context?.log('info', 'rollout promoted', { id });
    for (const failure of outcome.failed) {
      context?.log('warn', 'rollout evaluation failed', { ...failure });
    }
    return { ...outcome, failed: outcome.failed.map((f) => ({ ...f })) };
  }

  // --- internals --------------------------------------------------------------------------

  private checkRunning(rollout: Rollout): void {
    if (rollout.state !== 'running') this.ended(rollout.id, rollout.state);
  }

  private ended(id: string, state?: string): never {
    throw new VisionLoopError(
      'ROLLOUT_CONFLICT',
      `rollout ${id} is not running${state === undefined ? '' : ` (it was ${state})`}`,
    );
  }

  /** Ends a running rollout; false when another caller ended it first. */
  private async end(
    rollout: Rollout,
    state: 'promoted' | 'rolled-back',
    reason: string,
    actor: string | null,
    at: number,
  ): Promise<boolean> {
    const alias = stageAlias(rollout.stage);
    if (state === 'promoted') {
      // Narrows (does not close) the window in which a rollback by someone else and this
      // promotion both act: the alias move is not part of the rollout's transaction.
      const current = await this.rollouts.findById(rollout.id);
      if (current?.state !== 'running') return false;
      // The registry's move: compare-and-set, `promote` history entry, deployment, gate.
      await this.registry.promote(rollout.candidateVersion, alias, {
        actor,
        reason: `rollout ${rollout.id}: ${reason}`,
      });
    }
    const step: AliasStepRecord | null =
      state === 'rolled-back' && rollout.kind === 'canary'
        ? {
            id: historyId(at),
            alias,
            fromVersion: rollout.candidateVersion,
            toVersion: rollout.baselineVersion,
            action: 'canary-rollback',
            actor,
            reason: `canary on ${scopeText(rollout)} rolled back (rollout ${rollout.id}): ${reason}`,
            at,
            scope: rollout.cameras === null ? null : JSON.stringify(rollout.cameras),
          }
        : null;
    const applied = await this.rollouts.end(rollout.id, { state, at, reason }, step);
    if (applied) this.publish(rollout, state, actor, reason);
    return applied;
  }

  private publish(
    rollout: Rollout,
    action: 'started' | 'promoted' | 'rolled-back',
    actor: string | null,
    reason: string | null,
  ): void {
    this.events.publish({
      type: 'rollout',
      at: this.now(),
      action,
      rolloutId: rollout.id,
      kind: rollout.kind,
      stage: rollout.stage,
      candidateVersion: rollout.candidateVersion,
      baselineVersion: rollout.baselineVersion,
      actor,
      reason,
    });
  }

  private verdictOf(
    rollout: Rollout,
    candidate: GroupMetrics,
    baseline: GroupMetrics,
  ): Pick<RolloutMetrics, 'verdict' | 'breaches'> {
    const breaches = breachesOf(rollout.rules, candidate, baseline);
    if (candidate.frames < rollout.rules.minFrames) return { verdict: 'waiting', breaches };
    return { verdict: breaches.length > 0 ? 'breach' : 'healthy', breaches };
  }

  private async canaryMetrics(rollout: Rollout): Promise<RolloutMetrics> {
    const from = rollout.startedAt;
    const counts = await this.rollouts.predictionCounts(from, [
      rollout.candidateVersion,
      rollout.baselineVersion,
    ]);
    // The baseline's shadow on the canary cameras measures the candidate's disagreement.
    const shadowFilter: ShadowFilter = {
      from,
      modelVersion: rollout.baselineVersion,
      productionVersion: rollout.candidateVersion,
    };
    const shadows = (await this.rollouts.shadowCounts(shadowFilter)).filter((row) =>
      candidateCovers(rollout, row.camera),
    );
    const canaryCounts = counts.filter(
      (row) =>
        row.modelVersion === rollout.candidateVersion && candidateCovers(rollout, row.camera),
    );
    const baselineCounts = counts.filter(
      (row) =>
        row.modelVersion === rollout.baselineVersion && !candidateCovers(rollout, row.camera),
    );
    const canaryCameras = canaryCounts.map((row) => row.camera).sort();
    const baselineCameras = baselineCounts.map((row) => row.camera).sort();

    const canaryTally = zeroTally();
    for (const row of canaryCounts) addCounts(canaryTally, row);
    const baselineTally = zeroTally();
    for (const row of baselineCounts) addCounts(baselineTally, row);
    const shadowTally = zeroShadow();
    for (const row of shadows) addCounts(shadowTally, row);
    const shadowByCamera = new Map(shadows.map((row) => [row.camera, row]));

    const [canaryP50, baselineP50] = await Promise.all([
      this.rollouts.predictionLatencyP50(from, rollout.candidateVersion, canaryCameras),
      this.rollouts.predictionLatencyP50(from, rollout.baselineVersion, baselineCameras),
    ]);
    const candidate = predictionGroup(canaryTally, shadowTally, canaryP50);
    const baseline = predictionGroup(baselineTally, null, baselineP50);

    const perCamera = [
      ...(await this.predictionPerCamera(
        from,
        rollout.candidateVersion,
        canaryCounts,
        'canary',
        (camera) => {
          const shadowRow = shadowByCamera.get(camera);
          const shadow = zeroShadow();
          if (shadowRow !== undefined) addCounts(shadow, shadowRow);
          return shadow;
        },
      )),
      ...(await this.predictionPerCamera(
        from,
        rollout.baselineVersion,
        baselineCounts,
        'baseline',
        null,
      )),
    ];
    return this.assembleMetrics(
      rollout,
      { cameras: canaryCameras, ...candidate },
      { cameras: baselineCameras, ...baseline },
      perCamera,
    );
  }

  private async shadowMetrics(rollout: Rollout): Promise<RolloutMetrics> {
    const from = rollout.startedAt;
    const filter: ShadowFilter = {
      from,
      modelVersion: rollout.candidateVersion,
      productionVersion: rollout.baselineVersion,
    };
    const shadows = (await this.rollouts.shadowCounts(filter)).filter((row) =>
      candidateCovers(rollout, row.camera),
    );
    const counts = (await this.rollouts.predictionCounts(from, [rollout.baselineVersion])).filter(
      (row) => candidateCovers(rollout, row.camera),
    );
    const shadowCameras = shadows.map((row) => row.camera).sort();
    const productionCameras = counts.map((row) => row.camera).sort();

    const shadowGroup = (rows: readonly ShadowGroupCounts[], p50: number | null): GroupMetrics => {
      const tally = zeroShadow();
      for (const row of rows) addCounts(tally, row);
      if (tally.frames === 0) return { ...emptyGroup(), inferenceMsP50: p50 };
      return {
        frames: tally.frames,
        defectRate: tally.failed / tally.frames,
        // A shadow's output carries no uncertainty flag.
        uncertainRate: null,
        disagreement: tally.disagreementSum / tally.frames,
        shadowFrames: tally.frames,
        inferenceMsP50: p50,
      };
    };
    const productionTally = zeroTally();
    for (const row of counts) addCounts(productionTally, row);
    const [shadowP50, productionP50] = await Promise.all([
      this.rollouts.shadowLatencyP50(filter, shadowCameras),
      this.rollouts.predictionLatencyP50(from, rollout.baselineVersion, productionCameras),
    ]);
    const candidate = shadowGroup(shadows, shadowP50);
    const baseline = predictionGroup(productionTally, null, productionP50);

    const perCamera: CameraMetrics[] = [];
    for (const row of shadows) {
      const p50 = await this.rollouts.shadowLatencyP50(filter, [row.camera]);
      perCamera.push({ camera: row.camera, role: 'shadow', ...shadowGroup([row], p50) });
    }
    perCamera.push(
      ...(await this.predictionPerCamera(from, rollout.baselineVersion, counts, 'baseline', null)),
    );
    return this.assembleMetrics(
      rollout,
      { cameras: shadowCameras, ...candidate },
      { cameras: productionCameras, ...baseline },
      perCamera,
    );
  }

  /**
   * One `perCamera` row per prediction row (one camera each): its counts, and its median
   * inference time under `version`; `shadowOf` gives a canary camera's shadow tally (the
   * baseline's shadow, which measures disagreement), null: no shadow.
   */
  private async predictionPerCamera(
    from: number,
    version: string,
    rows: readonly PredictionGroupCounts[],
    role: CameraMetrics['role'],
    shadowOf: ((camera: string) => ShadowTally) | null,
  ): Promise<CameraMetrics[]> {
    const perCamera: CameraMetrics[] = [];
    for (const row of rows) {
      const tally = zeroTally();
      addCounts(tally, row);
      const shadow = shadowOf === null ? null : shadowOf(row.camera);
      const p50 = await this.rollouts.predictionLatencyP50(from, version, [row.camera]);
      perCamera.push({ camera: row.camera, role, ...predictionGroup(tally, shadow, p50) });
    }
    return perCamera;
  }

  /** The metrics of both groups, the per-camera rows by camera (then role), and the verdict. */
  private assembleMetrics(
    rollout: Rollout,
    candidate: RolloutGroupMetrics,
    baseline: RolloutGroupMetrics,
    perCamera: CameraMetrics[],
  ): RolloutMetrics {
    perCamera.sort((a, b) => a.camera.localeCompare(b.camera) || a.role.localeCompare(b.role));
    return {
      candidate,
      baseline,
      perCamera,
      ...this.verdictOf(rollout, candidate, baseline),
      at: this.now(),
    };
  }
}
