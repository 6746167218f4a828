/**
 * The `rollouts` table, the canary steps a rollout writes to `alias_history`, and the
 * aggregates of a rollout's live metrics over `prediction_logs` and `shadow_predictions`
 * (docs/rollouts.md). Thin: which cameras belong to which side, the thresholds and the
 * verdict are the rollout service's.
 *
 * A rollout starts and ends in one transaction with its alias-history step, and ends by
 * compare-and-set on `state = 'running'`, so two admins (or an admin and the automatic
 * verdict) cannot both end it. Aggregates never read rows one by one: counts and sums are
 * grouped in SQL on the (model_version, captured_at) index, and a median is one ordered
 * `LIMIT 1 OFFSET n/2` read.
 */
import { sql, type Kysely } from 'kysely';
import type { AliasAction, Database, NewRollout, RolloutRow } from '../db/schema.js';
import type { RolloutState } from '../shared/api/rollouts.js';

/** An `alias_history` entry written with a rollout step. */
export interface AliasStepRecord {
  id: string;
  alias: string;
  fromVersion: string | null;
  toVersion: string | null;
  action: AliasAction;
  actor: string | null;
  reason: string | null;
  at: number;
  /** JSON array of camera names; null: not a fixed list. */
  scope: string | null;
}

/** Counts of one camera's frame results of one model version since a time. */
export interface PredictionGroupCounts {
  camera: string;
  modelVersion: string;
  frames: number;
  inferred: number;
  /** FAIL among inferred frames. */
  failed: number;
  /** Uncertain among inferred frames. */
  uncertain: number;
}

/** Counts of one camera's shadow outputs of one model version since a time. */
export interface ShadowGroupCounts {
  camera: string;
  frames: number;
  failed: number;
  disagreeing: number;
  disagreementSum: number;
}

export interface ShadowFilter {
  from: number;
  modelVersion: string;
  /** Only rows that ran beside this production version; null: any. */
  productionVersion: string | null;
}

export class RolloutRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findById(id: string): Promise<RolloutRow | undefined> {
    return this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Newest first. */
  list(limit: number): Promise<RolloutRow[]> {
    return this.db
      .selectFrom('rollouts')
      .selectAll()
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /** Running rollouts, oldest first. */
  running(): Promise<RolloutRow[]> {
    return this.db
      .selectFrom('rollouts')
      .selectAll()
      .where('state', '=', 'running')
      .orderBy('started_at')
      .orderBy('id')
      .execute();
  }

  /**
   * Inserts a running rollout and its alias-history step unless a rollout of the same stage
   * is running; returns the running one in that case (nothing written), else undefined.
   */
  start(row: NewRollout, step: AliasStepRecord | null): Promise<RolloutRow | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const running = await trx
        .selectFrom('rollouts')
        .selectAll()
        .where('state', '=', 'running')
        .where('stage', '=', row.stage)
        .executeTakeFirst();
      if (running !== undefined) return running;
      await trx.insertInto('rollouts').values(row).execute();
      if (step !== null) await trx.insertInto('alias_history').values(historyRow(step)).execute();
      return undefined;
    });
  }

  /**
   * Ends a running rollout (and writes its alias-history step) if it is still running.
   * False: it had ended already (nothing written).
   */
  end(
    id: string,
    end: { state: Exclude<RolloutState, 'running'>; at: number; reason: string | null },
    step: AliasStepRecord | null,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('rollouts')
        .set({ state: end.state, ended_at: end.at, end_reason: end.reason })
        .where('id', '=', id)
        .where('state', '=', 'running')
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      if (step !== null) await trx.insertInto('alias_history').values(historyRow(step)).execute();
      return true;
    });
  }

  /** Frame-result counts per (camera, model version) of `versions` captured since `from`. */
  async predictionCounts(
    from: number,
    versions: readonly string[],
  ): Promise<PredictionGroupCounts[]> {
    if (versions.length === 0) return [];
    const rows = await this.db
      .selectFrom('prediction_logs')
      .select((eb) => [
        'camera',
        'model_version',
        eb.fn.countAll().as('frames'),
        eb.fn.sum('inferred').as('inferred'),
        eb.fn
          .sum(
            eb
              .case()
              .when(eb.and([eb('inferred', '=', 1), eb('decision', '=', 'FAIL')]))
              .then(1)
              .else(0)
              .end(),
          )
          .as('failed'),
        eb.fn
          .sum(
            eb
              .case()
              .when(eb.and([eb('inferred', '=', 1), eb('uncertain', '=', 1)]))
              .then(1)
              .else(0)
              .end(),
          )
          .as('uncertain'),
      ])
      .where('model_version', 'in', [...versions])
      .where('captured_at', '>=', from)
      .groupBy(['camera', 'model_version'])
      .execute();
    return rows.map((row) => ({
      camera: row.camera,
      modelVersion: row.model_version,
      frames: Number(row.frames),
      inferred: Number(row.inferred),
      failed: Number(row.failed),
      uncertain: Number(row.uncertain),
    }));
  }

  /** Median (lower) inference time of inferred frames of `version` on `cameras` since `from`. */
  async predictionLatencyP50(
    from: number,
    version: string,
    cameras: readonly string[],
  ): Promise<number | null> {
    if (cameras.length === 0) return null;
    const base = this.db
      .selectFrom('prediction_logs')
      .where('model_version', '=', version)
      .where('captured_at', '>=', from)
      .where('inferred', '=', 1)
      .where('camera', 'in', [...cameras]);
    const count = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const n = Number(count?.n ?? 0);
    if (n === 0) return null;
    const row = await base
      .select('inference_ms')
      .orderBy('inference_ms')
      .limit(1)
      .offset(Math.floor((n - 1) / 2))
      .executeTakeFirst();
    return row === undefined ? null : Number(row.inference_ms);
  }

  /** Shadow-output counts per camera since `filter.from`. */
  async shadowCounts(filter: ShadowFilter): Promise<ShadowGroupCounts[]> {
    let query = this.db
      .selectFrom('shadow_predictions')
      .select((eb) => [
        'camera',
        eb.fn.countAll().as('frames'),
        eb.fn.sum(eb.case().when('decision', '=', 'FAIL').then(1).else(0).end()).as('failed'),
        eb.fn.sum('disagrees').as('disagreeing'),
        eb.fn.sum('disagreement').as('disagreement_sum'),
      ])
      .where('model_version', '=', filter.modelVersion)
      .where('captured_at', '>=', filter.from);
    if (filter.productionVersion !== null) {
      query = query.where('production_version', '=', filter.productionVersion);
    }
    const rows = await query.groupBy('camera').execute();
    return rows.map((row) => ({
      camera: row.camera,
      frames: Number(row.frames),
      failed: Number(row.failed),
      disagreeing: Number(row.disagreeing),
      disagreementSum: Number(row.disagreement_sum),
    }));
  }

  /** Median (lower) inference time of the shadow outputs on `cameras`. */
  async shadowLatencyP50(filter: ShadowFilter, cameras: readonly string[]): Promise<number | null> {
    if (cameras.length === 0) return null;
    let base = this.db
      .selectFrom('shadow_predictions')
      .where('model_version', '=', filter.modelVersion)
      .where('captured_at', '>=', filter.from)
      .where('camera', 'in', [...cameras]);
    if (filter.productionVersion !== null) {
      base = base.where('production_version', '=', filter.productionVersion);
    }
    const count = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const n = Number(count?.n ?? 0);
    if (n === 0) return null;
    const row = await base
      .select(sql<number>`${sql.ref('inference_ms')}`.as('inference_ms'))
      .orderBy('inference_ms')
      .limit(1)
      .offset(Math.floor((n - 1) / 2))
      .executeTakeFirst();
    return row === undefined ? null : Number(row.inference_ms);
  }
}

function historyRow(step: AliasStepRecord) {
  return {
    id: step.id,
    alias: step.alias,
    from_version: step.fromVersion,
    to_version: step.toVersion,
    actor: step.actor,
    reason: step.reason,
    created_at: step.at,
    action: step.action,
    scope: step.scope,
  };
}
