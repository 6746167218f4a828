/**
 * The model plan of a camera (docs/inspection-chain.md, docs/rollouts.md): everything its agent
 * must run, resolved from the registry's aliases, the camera's inspection chain and the running
 * rollouts. Sent on the agents' event stream and in heartbeat answers.
 *
 * - detect: `production`; for a camera in a running detect canary, the candidate (and the
 *   baseline runs as its shadow on CANARY_BASELINE_SHADOW_SHARE of the frames).
 * - classify / segment: the model behind the chain's stage alias (null when the chain has no
 *   such stage, or the alias is empty); a canary of that stage covering the camera swaps in its
 *   candidate.
 * - shadow: a running shadow rollout whose cameras include this one (all cameras when it names
 *   none), its candidate at its share of frames. A shadow rollout's `share` is a share of
 *   frames, not of cameras, so it never selects cameras by hash.
 * - rollout: the canary this camera takes part in, as `canary` or `baseline`; null when no
 *   canary runs (a shadow rollout is named by `shadow.rolloutId` alone).
 *
 * Read-only: it never moves an alias or changes a rollout.
 */
import { CANARY_BASELINE_SHADOW_SHARE, type Rollout } from '../shared/api/rollouts.js';
import type { AgentModelPlan, ChainConfig } from '../shared/api/inspection-chain.js';
import type { ProductionRef } from '../shared/api/models.js';
import { PRODUCTION_ALIAS } from '../shared/api/models.js';
import type { ModelTask } from '../shared/domain.js';
import { isVisionLoopError } from '../shared/errors.js';
import { rolloutCovers } from '../shared/rollout-membership.js';
import type { StageModel } from './inspection-chain.service.js';

/** The rollouts now running (the rollouts service implements it). */
export interface RunningRollouts {
  running(): Promise<Rollout[]>;
}

/** No rollouts: for servers (and tests) without the rollouts service. */
export const NO_RUNNING_ROLLOUTS: RunningRollouts = { running: () => Promise.resolve([]) };

/** The registry as the plan reads it (ModelRegistryService fits). */
export interface PlanModelLookup {
  resolveAlias(alias: string): Promise<StageModel | null>;
  /** One version; throws MODEL_NOT_FOUND when it is not registered. */
  get(version: string): Promise<StageModel>;
}

/** The chain of a camera (InspectionChainService fits). */
export interface CameraChains {
  chainFor(camera: string): Promise<ChainConfig>;
}

function refOf(model: StageModel | null): ProductionRef | null {
  return model === null ? null : { version: model.version, sha256: model.sha256 };
}

/** Whether a running shadow rollout runs on `camera` (its share is of frames, not cameras). */
function shadowCovers(rollout: Rollout, camera: string): boolean {
  return rolloutCovers({ cameras: rollout.cameras, share: null }, camera);
}

export class AgentPlanService {
  constructor(
    private readonly models: PlanModelLookup,
    private readonly chains: CameraChains,
    private readonly rollouts: RunningRollouts,
  ) {}

  /** The plan of `camera`'s agent. */
  async planFor(camera: string): Promise<AgentModelPlan> {
    const [chain, all] = await Promise.all([this.chains.chainFor(camera), this.rollouts.running()]);
    const running = all.filter((rollout) => rollout.state === 'running');
    const canaryOf = (stage: ModelTask): Rollout | undefined =>
      running.find((rollout) => rollout.kind === 'canary' && rollout.stage === stage);

    const plan: AgentModelPlan = {
      detect: refOf(await this.models.resolveAlias(PRODUCTION_ALIAS)),
      classify: null,
      segment: null,
      chain,
      shadow: null,
      rollout: null,
    };

    const detectCanary = canaryOf('detect');
    if (detectCanary !== undefined && rolloutCovers(detectCanary, camera)) {
      const candidate = await this.version(detectCanary.candidateVersion);
      if (candidate !== null) plan.detect = candidate;
      const baseline = await this.version(detectCanary.baselineVersion);
      if (baseline !== null) {
        plan.shadow = {
          model: baseline,
          share: CANARY_BASELINE_SHADOW_SHARE,
          rolloutId: detectCanary.id,
        };
      }
    }

    for (const stage of chain.stages) {
      let model = refOf(await this.models.resolveAlias(stage.alias));
      const canary = canaryOf(stage.stage);
      if (canary !== undefined && rolloutCovers(canary, camera)) {
        model = (await this.version(canary.candidateVersion)) ?? model;
      }
      plan[stage.stage] = model;
    }

    if (plan.shadow === null) {
      const shadow = running.find(
        (rollout) =>
          rollout.kind === 'shadow' && rollout.stage === 'detect' && shadowCovers(rollout, camera),
      );
      const candidate = shadow === undefined ? null : await this.version(shadow.candidateVersion);
      if (shadow !== undefined && candidate !== null) {
        plan.shadow = { model: candidate, share: shadow.share ?? 1, rolloutId: shadow.id };
      }
    }

    // The canary this camera takes part in: detect's first, then the stages'; a camera in
    // any canary is on its canary side before it is on another's baseline side.
    const canaries = (['detect', 'classify', 'segment'] as const)
      .map((stage) => canaryOf(stage))
      .filter((rollout): rollout is Rollout => rollout !== undefined);
    const mine = canaries.find((rollout) => rolloutCovers(rollout, camera));
    if (mine !== undefined) plan.rollout = { id: mine.id, role: 'canary' };
    else if (canaries[0] !== undefined) plan.rollout = { id: canaries[0].id, role: 'baseline' };
    return plan;
  }

  /** A registered version's ref; null when it is gone (the plan keeps what it had). */
  private async version(version: string): Promise<ProductionRef | null> {
    try {
      return refOf(await this.models.get(version));
    } catch (error) {
      if (isVisionLoopError(error) && error.code === 'MODEL_NOT_FOUND') return null;
      throw error;
    }
  }
}
