/**
 * Moving aliases, as MLflow's: a name pointing at one version, moved by `promote` (any
 * registered version the promotion gate did not reject, or one it did with `force` and a
 * reason) or `rollback` (back to where it pointed before its latest move; a second rollback
 * goes forward again, as `kubectl rollout undo`). Every move is one compare-and-set plus its
 * history entry in one transaction, retried while other moves win; then alias-deployment.ts
 * announces and deploys it.
 *
 * It never registers a model or reads files.
 */
import { randomBytes } from 'node:crypto';
import type { AliasAction, ModelRow } from '../../db/schema.js';
import type { ModelRegistryRepository } from '../../repositories/model-registry.repository.js';
import {
  PRODUCTION_ALIAS,
  aliasNameSchema,
  type AliasHistoryResponse,
  type AliasMoveResponse,
} from '../../shared/api/models.js';
import { DEFAULT_STAGE_ALIASES } from '../../shared/api/inspection-chain.js';
import type { ModelTask } from '../../shared/domain.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { AliasDeployment } from './alias-deployment.js';
import { historyEntryOf, jsonObject, type ModelCatalog } from './model-catalog.js';
import type { AliasMoveOptions, ModelRegistryOptions } from './registry-types.js';

/** The alias-history reason of a promotion that overrode the gate starts with this. */
export const GATE_OVERRIDE_PREFIX = 'gate override:';

/**
 * Attempts at a compare-and-set alias move before giving up with CONFLICT. A failed attempt
 * means another move succeeded, so this bounds only pathological contention.
 */
const MOVE_ATTEMPTS = 25;

let historySequence = 0;

/**
 * Ids that sort in creation order within this process, even within one millisecond (also the
 * ids of the history steps rollouts write).
 */
export function historyId(at: number): string {
  historySequence = (historySequence + 1) % 1_000_000;
  const time = String(at).padStart(15, '0');
  return `ah_${time}_${String(historySequence).padStart(6, '0')}_${randomBytes(4).toString('hex')}`;
}

/** The gate's rejection stored with a version's metrics (reasons), or null when it passed or has none. */
export function gateRejectionOf(metrics: Record<string, unknown> | null): string[] | null {
  const gate = metrics?.gate;
  if (typeof gate !== 'object' || gate === null) return null;
  const { decision, reasons } = gate as { decision?: unknown; reasons?: unknown };
  if (decision !== 'rejected') return null;
  return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === 'string') : [];
}

/**
 * The move options of a promotion of `target`: unchanged when the gate did not reject it;
 * GATE_REJECTED without `force`, INVALID_ARGUMENT without a reason, else the reason marked
 * as a gate override.
 */
function gateChecked(target: ModelRow, options: AliasMoveOptions): AliasMoveOptions {
  const rejection = gateRejectionOf(jsonObject(target.metrics));
  if (rejection === null) return options;
  const why = rejection.length > 0 ? rejection.join('; ') : 'no reasons stored';
  if (options.force !== true) {
    throw new VisionLoopError(
      'GATE_REJECTED',
      `the promotion gate rejected ${target.version} (${why}); to promote it anyway, ` +
        'override with force and a reason (CLI: --force --reason "…")',
    );
  }
  const reason = options.reason?.trim() ?? '';
  if (reason.length === 0) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `overriding the gate's rejection of ${target.version} needs a reason (kept in the alias history)`,
    );
  }
  return {
    ...options,
    reason: `${GATE_OVERRIDE_PREFIX} ${reason} (the gate rejected it: ${why})`.slice(0, 1000),
  };
}

/** The task a model must do to sit in one of the stage aliases; null for any other alias. */
export function aliasTask(alias: string): ModelTask | null {
  if (alias === PRODUCTION_ALIAS) return 'detect';
  if (alias === DEFAULT_STAGE_ALIASES.classify) return 'classify';
  if (alias === DEFAULT_STAGE_ALIASES.segment) return 'segment';
  return null;
}

/** MODEL_TASK_MISMATCH when `target` cannot serve the stage `alias` stands for. */
function checkTask(alias: string, target: ModelRow): void {
  const task = aliasTask(alias);
  if (task === null || target.task === task) return;
  throw new VisionLoopError(
    'MODEL_TASK_MISMATCH',
    `${target.version} is a ${target.task} model; '${alias}' serves the ${task} stage and ` +
      `takes ${task} models only`,
  );
}

/**
 * Alias-history actions that moved the alias itself; `canary` and `canary-rollback` steps
 * applied to some cameras only and are not what a rollback returns from.
 */
const MOVE_ACTIONS: readonly AliasAction[] = ['promote', 'rollback'];

/** How far back a rollback looks past canary steps for the alias's latest move. */
const ROLLBACK_HISTORY_DEPTH = 200;

function checkAlias(alias: string): string {
  const parsed = aliasNameSchema.safeParse(alias);
  if (!parsed.success) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `'${alias.slice(0, 80)}' is not a valid alias: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function contended(alias: string): VisionLoopError {
  return new VisionLoopError(
    'CONFLICT',
    `alias '${alias}' kept moving while this change was applied; try again`,
  );
}

export class AliasMoves {
  private readonly now: () => number;

  constructor(
    private readonly models: ModelRegistryRepository,
    private readonly catalog: ModelCatalog,
    private readonly deployment: AliasDeployment,
    options: ModelRegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Points `alias` at `version`. A no-op (changed: false) when it already does. For
   * `production`, the result says what this server's inference did (it keeps serving the old
   * model when the new one cannot be loaded; the alias move stands either way).
   */
  async promote(
    version: string,
    alias: string,
    options: AliasMoveOptions,
  ): Promise<AliasMoveResponse> {
    const name = checkAlias(alias);
    const target = await this.catalog.row(version);
    checkTask(name, target);
    const checked = gateChecked(target, options);
    for (let attempt = 0; attempt < MOVE_ATTEMPTS; attempt++) {
      const current = await this.models.findAlias(name);
      if (current?.version === target.version) {
        return {
          alias: name,
          changed: false,
          fromVersion: current.version,
          toVersion: target.version,
          entry: null,
          serving: null,
        };
      }
      const moved = await this.move(name, current?.version ?? null, target, 'promote', checked);
      if (moved !== null) return moved;
    }
    throw contended(name);
  }

  /**
   * Moves `alias` back to the version it pointed at before its latest move. CONFLICT when it
   * has no previous version (it was only ever set once); NOT_FOUND when it does not exist.
   */
  async rollback(alias: string, options: AliasMoveOptions): Promise<AliasMoveResponse> {
    const name = checkAlias(alias);
    for (let attempt = 0; attempt < MOVE_ATTEMPTS; attempt++) {
      const current = await this.models.findAlias(name);
      if (current === undefined) {
        throw new VisionLoopError('NOT_FOUND', `there is no alias '${name}' to roll back`);
      }
      const recent = await this.models.history(name, ROLLBACK_HISTORY_DEPTH);
      const latest = recent.find((entry) => MOVE_ACTIONS.includes(entry.action));
      const previous = latest?.to_version === current.version ? latest.from_version : null;
      if (previous === null || previous === undefined) {
        const since =
          latest === undefined
            ? ''
            : ` since ${latest.actor ?? 'someone'} set it at ${new Date(latest.created_at).toISOString()}`;
        throw new VisionLoopError(
          'CONFLICT',
          `alias '${name}' has no previous version to roll back to: it has pointed at ` +
            `${current.version}${since} and at nothing before`,
        );
      }
      const target = await this.catalog.row(previous);
      const moved = await this.move(name, current.version, target, 'rollback', {
        actor: options.actor,
        reason: options.reason ?? `rollback from ${current.version}`,
      });
      if (moved !== null) return moved;
    }
    throw contended(name);
  }

  async history(alias: string, limit: number): Promise<AliasHistoryResponse> {
    const name = checkAlias(alias);
    const [current, rows] = await Promise.all([
      this.models.findAlias(name),
      this.models.history(name, limit),
    ]);
    return { alias: name, current: current?.version ?? null, history: rows.map(historyEntryOf) };
  }

  /** One compare-and-set move; null when another move won (the caller retries). */
  private async move(
    alias: string,
    fromVersion: string | null,
    target: ModelRow,
    action: AliasAction,
    options: AliasMoveOptions,
  ): Promise<AliasMoveResponse | null> {
    const at = this.now();
    const id = historyId(at);
    const reason = options.reason ?? null;
    const toVersion = target.version;
    const applied = await this.models.moveAlias({
      alias,
      expectedVersion: fromVersion,
      toVersion,
      action,
      actor: options.actor,
      reason,
      at,
      historyId: id,
    });
    if (!applied) return null;
    this.deployment.remember(alias, toVersion);
    const sha256 = target.artifact_sha256;
    this.deployment.announce({
      alias,
      fromVersion,
      toVersion,
      sha256,
      actor: options.actor,
      reason,
    });
    const serving =
      alias === PRODUCTION_ALIAS && this.deployment.hasDeployer
        ? await this.deployment.deploy(toVersion, `${action} by ${options.actor ?? 'someone'}`)
        : null;
    const entry = { id, alias, action, fromVersion, toVersion, actor: options.actor, reason, at };
    return { alias, changed: true, fromVersion, toVersion, entry, serving };
  }
}
