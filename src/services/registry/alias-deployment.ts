/**
 * What follows an alias move: the `model` event, the `visionloop_model_info{alias,version}`
 * gauge, and, for `production`, this server's inference told to swap (through the
 * `ModelDeployer`, whose report is passed on; a deployer that throws never undoes a move).
 * It remembers where each alias pointed when this process last looked, so `syncAliases`
 * (run by the server on a timer) notices moves made by other processes — a job worker
 * promoting, another replica — and `start` puts `production` into service at server start.
 *
 * It never moves an alias itself (alias-moves.ts does).
 */
import type { ModelRegistryRepository } from '../../repositories/model-registry.repository.js';
import { PRODUCTION_ALIAS, type ServingOutcome } from '../../shared/api/models.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { EventBus } from '../event-bus.js';
import type { ModelRegistryOptions } from './registry-types.js';

/** One alias move as announced. */
export interface AliasMoveNotice {
  alias: string;
  fromVersion: string | null;
  toVersion: string;
  sha256: string;
  actor: string | null;
  reason: string | null;
}

function failedOutcome(error: unknown): ServingOutcome {
  return {
    swapped: false,
    version: null,
    previousVersion: null,
    loadMs: null,
    error: {
      code: error instanceof VisionLoopError ? error.code : 'INTERNAL',
      message: error instanceof Error ? error.message : String(error),
    },
  };
}

export class AliasDeployment {
  private readonly now: () => number;
  /** Where each alias pointed when this process last looked (for `syncAliases`). */
  private readonly knownAliases = new Map<string, string>();

  /** `options` is shared with the facade: `deployer` may be replaced after construction. */
  constructor(
    private readonly models: ModelRegistryRepository,
    private readonly events: EventBus,
    private readonly options: ModelRegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** A deployer is set (moves of `production` are deployed). */
  get hasDeployer(): boolean {
    return this.options.deployer !== undefined;
  }

  /** Remembers an alias move made by this process (so `syncAliases` does not repeat it). */
  remember(alias: string, version: string): void {
    this.knownAliases.set(alias, version);
  }

  /** Sets the gauge and publishes the `model` event of a move. */
  announce(move: AliasMoveNotice): void {
    this.options.gauge?.setModelAlias(move.alias, move.toVersion);
    this.events.publish({ type: 'model', at: this.now(), action: 'alias-moved', ...move });
  }

  /** Tells the deployer to serve `version`; null without a deployer. Never throws. */
  async deploy(version: string, reason: string): Promise<ServingOutcome | null> {
    const deployer = this.options.deployer;
    if (deployer === undefined) return null;
    try {
      return await deployer.deploy(version, reason);
    } catch (error) {
      // The contract says deployers report; one that throws still must not undo the move.
      return failedOutcome(error);
    }
  }

  /**
   * Loads where every alias points (no events), sets the alias gauges and puts `production`
   * into service through the deployer. Run once at server start.
   */
  async start(): Promise<ServingOutcome | null> {
    const aliases = await this.models.listAliases();
    this.knownAliases.clear();
    for (const alias of aliases) {
      this.knownAliases.set(alias.alias, alias.version);
      this.options.gauge?.setModelAlias(alias.alias, alias.version);
    }
    const production = this.knownAliases.get(PRODUCTION_ALIAS);
    if (production === undefined || this.options.deployer === undefined) return null;
    return this.deploy(production, 'server start');
  }

  /**
   * Notices alias moves made by other processes (a job worker, another replica) since this
   * one last looked: publishes their `model` events, updates the gauges and deploys a new
   * `production`. Returns the aliases that moved.
   */
  async syncAliases(): Promise<string[]> {
    const aliases = await this.models.listAliases();
    const moved: string[] = [];
    const seen = new Set<string>();
    for (const alias of aliases) {
      seen.add(alias.alias);
      const known = this.knownAliases.get(alias.alias);
      if (known === alias.version) continue;
      this.knownAliases.set(alias.alias, alias.version);
      moved.push(alias.alias);
      const [latest] = await this.models.history(alias.alias, 1);
      const entry = latest?.to_version === alias.version ? latest : undefined;
      this.announce({
        alias: alias.alias,
        fromVersion: entry?.from_version ?? known ?? null,
        toVersion: alias.version,
        sha256: alias.artifact_sha256,
        actor: entry?.actor ?? alias.updated_by,
        reason: entry?.reason ?? null,
      });
      if (alias.alias === PRODUCTION_ALIAS) await this.deploy(alias.version, 'production moved');
    }
    for (const alias of [...this.knownAliases.keys()]) {
      if (seen.has(alias)) continue;
      this.knownAliases.delete(alias);
      this.options.gauge?.setModelAlias(alias, null);
      moved.push(alias);
    }
    return moved;
  }
}
