/**
 * Keeps an agent on the model plan the server resolved for its camera (docs/agent.md,
 * "Inspection chain and shadow on the agent"): the detector (`plan.detect`: production, or a
 * canary's candidate), the classifier and the segmenter of its inspection chain, the chain
 * itself, and a shadow detector on a share of the frames.
 *
 * Plans arrive as `plan` events on `GET /api/agents/{id}/events` and in heartbeat answers
 * (`plan`). Each model is a ModelSlot (model-updater.ts): the file comes from the verified
 * cache or a download checked against the plan's sha256, and is applied between two frames —
 * the detector by hot swap, a stage model by `load` on the runner's instance (the old session
 * serves until the new one is ready), the shadow by hot swap of its own detector. A null
 * `classify`/`segment` means nothing is in that alias yet: the agent keeps the stage model it
 * runs (if any); the chain skips a stage without a model. A null `shadow` stops the shadow and
 * disposes its detector. The chain applies from the next frame.
 *
 * A server that never sends a plan: the follower behaves exactly as the model updater did (the
 * `production` model events and the heartbeat's `production`). Once a plan arrived, the plan
 * names the detector and `production` events are ignored (a canary camera runs the candidate).
 *
 * It never changes what the server decided and never stops the pipeline: on any failure the
 * running models keep running.
 */
import type { AgentModelPlan } from '../shared/api/inspection-chain.js';
import type { ProductionRef } from '../shared/api/models.js';
import type { HeartbeatResponse } from '../shared/api/agents.js';
import { SwappableDetector } from '../inference/swappable-detector.js';
import type { Detector } from '../vision/detector.js';
import type { CropClassifier, CropSegmenter, StageModel } from '../vision/stage-model.js';
import type { InspectionChainRunner } from './inspection-chain.js';
import {
  AgentModelFollowing,
  ModelSlot,
  checkSha,
  detectorSlotModel,
  productionOf,
  type ModelSlotStats,
  type ModelUpdaterDeps,
  type ModelUpdaterOptions,
  type ModelUpdaterStats,
  type SlotModel,
} from './model-updater.js';
import type { ShadowRunner } from './shadow-runner.js';
import type { AgentStreamEvent } from './uplink/model-client.js';
import type { LogLevel } from './uplink/sender.js';

export interface PlanFollowerDeps extends ModelUpdaterDeps {
  /** The pipeline's inspection chain: its chain and stage models follow the plan. */
  chain: InspectionChainRunner;
  /** The pipeline's shadow runner: started, replaced and stopped by the plan. */
  shadow: ShadowRunner;
  /** A new, unloaded classifier (agent.main: the ONNX one); null: classify stages are skipped. */
  createClassifier?: (() => CropClassifier) | null;
  /** A new, unloaded segmenter; null: segment stages are skipped. */
  createSegmenter?: (() => CropSegmenter) | null;
  /** A new, unloaded detector for the shadow (its own worker); null: no shadow runs. */
  createShadowDetector?: (() => Detector) | null;
}

export interface PlanFollowerStats extends ModelUpdaterStats {
  /** Plans received (events and heartbeats); 0: the server sends none (production only). */
  plansReceived: number;
  /** The rollout the last plan put this camera in, and its side. */
  rollout: AgentModelPlan['rollout'];
  classify: ModelSlotStats;
  segment: ModelSlotStats;
  shadow: ModelSlotStats & { share: number };
}

export class PlanFollower {
  private readonly following: AgentModelFollowing;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly detect: ModelSlot;
  private readonly classify: ModelSlot;
  private readonly segment: ModelSlot;
  private readonly shadowSlot: ModelSlot;
  private shadowDetector: SwappableDetector | null = null;
  private shadowShare = 0;
  /** The shadow the latest plan asks for; null: none. */
  private wantedShadow: AgentModelPlan['shadow'] = null;
  private shadowStop: Promise<void> = Promise.resolve();
  private plansReceived = 0;
  private rollout: AgentModelPlan['rollout'] = null;
  private lastPlanJson: string | null = null;

  constructor(
    private readonly deps: PlanFollowerDeps,
    options: ModelUpdaterOptions = {},
  ) {
    this.following = new AgentModelFollowing(deps, options, () => this.keep());
    this.log = this.following.log;
    const { slotDeps } = this.following;
    this.detect = new ModelSlot('model', detectorSlotModel(deps.detector, this.log), slotDeps);
    this.classify = new ModelSlot(
      'classify model',
      this.stageSlotModel(
        'classify',
        deps.createClassifier ?? null,
        () => deps.chain.stageModels.classifier,
        (model) => deps.chain.setClassifier(model),
      ),
      slotDeps,
    );
    this.segment = new ModelSlot(
      'segment model',
      this.stageSlotModel(
        'segment',
        deps.createSegmenter ?? null,
        () => deps.chain.stageModels.segmenter,
        (model) => deps.chain.setSegmenter(model),
      ),
      slotDeps,
    );
    this.shadowSlot = new ModelSlot('shadow model', this.shadowSlotModel(), slotDeps);
  }

  stats(): PlanFollowerStats {
    return {
      ...this.following.detectorStats(this.detect),
      plansReceived: this.plansReceived,
      rollout: this.rollout,
      classify: this.classify.stats(),
      segment: this.segment.stats(),
      shadow: { ...this.shadowSlot.stats(), share: this.deps.shadow.share },
    };
  }

  /** Starts following the agent's events (model and plan events). */
  start(): void {
    this.following.start((event) => this.onEvent(event));
  }

  /** A heartbeat answer: its plan when it has one, else its `production`. */
  offerHeartbeat(answer: Pick<HeartbeatResponse, 'production' | 'plan'>): void {
    if (answer.plan !== undefined) this.offerPlan(answer.plan);
    else this.offerProduction(answer.production);
  }

  /** A `production` model (event or heartbeat); ignored once the server sends plans. */
  offerProduction(target: ProductionRef | null | undefined): void {
    if (this.plansReceived > 0) return;
    this.detect.offer(target);
  }

  /** A plan from the server; returns at once, the models follow in the background. */
  offerPlan(plan: AgentModelPlan): void {
    if (this.following.stopped) return;
    this.plansReceived++;
    this.rollout = plan.rollout;
    // Heartbeats repeat the plan; only a change is worth a log line and a chain swap.
    const json = JSON.stringify(plan);
    if (json !== this.lastPlanJson) {
      this.lastPlanJson = json;
      this.deps.chain.setChain(plan.chain);
      this.log(
        'info',
        `model plan: detect ${plan.detect?.version ?? '(keep)'}, classify ${plan.classify?.version ?? '(none)'}, segment ${plan.segment?.version ?? '(none)'}, ${plan.chain.stages.length} chain stage(s), ${plan.chain.rules.length} rule(s), shadow ${plan.shadow === null ? 'off' : `${plan.shadow.model.version} on ${Math.round(plan.shadow.share * 100)} % of frames`}${plan.rollout === null ? '' : `, rollout ${plan.rollout.id} (${plan.rollout.role})`}`,
      );
    }
    this.detect.offer(plan.detect);
    if (plan.classify !== null && this.deps.createClassifier) this.classify.offer(plan.classify);
    if (plan.segment !== null && this.deps.createSegmenter) this.segment.offer(plan.segment);
    this.followShadow(plan.shadow);
  }

  /** Resolves when no update is in progress. */
  async idle(): Promise<void> {
    for (;;) {
      await Promise.all([
        this.detect.idle(),
        this.classify.idle(),
        this.segment.idle(),
        this.shadowSlot.idle(),
        this.shadowStop,
      ]);
      // An update may have started another (a target that moved meanwhile).
      const stop = this.shadowStop;
      await Promise.resolve();
      if (stop === this.shadowStop) return;
    }
  }

  /** Stops following events, waits for updates in progress and disposes the shadow detector. */
  async stop(): Promise<void> {
    await this.following.stop();
    await this.idle();
    await this.stopShadow();
  }

  private onEvent(event: AgentStreamEvent): void {
    if (event.type === 'plan') this.offerPlan(event.plan);
    else this.offerProduction(productionOf(event));
  }

  private keep(): string[] {
    return [this.detect, this.classify, this.segment, this.shadowSlot].flatMap((s) => s.keep());
  }

  private followShadow(shadow: AgentModelPlan['shadow']): void {
    this.wantedShadow = shadow;
    if (shadow === null) {
      if (this.shadowDetector !== null)
        this.shadowStop = this.shadowStop.then(() => this.stopShadowIfUnwanted());
      return;
    }
    if (!this.deps.createShadowDetector) return;
    this.shadowShare = shadow.share;
    this.deps.shadow.setShare(shadow.share);
    this.shadowSlot.offer(shadow.model);
  }

  private async stopShadowIfUnwanted(): Promise<void> {
    await this.shadowSlot.idle();
    if (this.wantedShadow === null) await this.stopShadow();
  }

  private async stopShadow(): Promise<void> {
    const detector = this.shadowDetector;
    if (detector === null) return;
    this.shadowDetector = null;
    this.deps.shadow.set(null, 0);
    // Calls already at the shadow finish first (the slot disposes after its last call).
    await detector.dispose().catch(() => undefined);
    this.log('info', 'shadow stopped');
  }

  private shadowSlotModel(): SlotModel {
    return {
      running: () => (this.shadowDetector === null ? null : this.deps.shadow.model),
      apply: async (path, target) => {
        const factory = this.deps.createShadowDetector;
        if (!factory) throw new Error('this agent cannot run a shadow (no shadow detector)');
        this.shadowDetector ??= new SwappableDetector(factory);
        const result = await this.shadowDetector.swapTo(path, (model) =>
          checkSha(path, model.sha256, target),
        );
        this.deps.shadow.set(
          { detector: this.shadowDetector, model: result.model },
          this.wantedShadow?.share ?? this.shadowShare,
        );
        this.log(
          'info',
          `shadow model ${result.model.version} runs on ${Math.round(this.deps.shadow.share * 100)} % of frames (was ${result.previous?.version ?? 'none'})`,
        );
      },
    };
  }

  private stageSlotModel<M extends StageModel>(
    stage: 'classify' | 'segment',
    factory: (() => M) | null,
    current: () => M | null,
    install: (model: M) => void,
  ): SlotModel {
    return {
      running: () => current()?.info ?? null,
      apply: async (path, target) => {
        const existing = current();
        if (existing !== null) {
          // The running instance swaps its own session: frames in flight finish on the old one.
          const info = await existing.load(path);
          this.log(
            'info',
            `now running ${stage} model ${info.version} (${target.sha256.slice(0, 12)}…)`,
          );
          return;
        }
        if (factory === null) throw new Error(`this agent cannot run a ${stage} model`);
        const model = factory();
        try {
          const info = await model.load(path);
          checkSha(path, info.sha256, target);
        } catch (error) {
          await model.dispose().catch(() => undefined);
          throw error;
        }
        install(model);
        this.log('info', `now running ${stage} model ${model.info.version}`);
      },
    };
  }
}
