/**
 * The registry tables: `models` (one row per registered version), `model_aliases` (alias →
 * version) and `alias_history` (every move). Thin: no rules about what may move where — the
 * registry service owns those.
 *
 * An alias moves by compare-and-set on the version it pointed at, in the same transaction as
 * its history entry, so two admins promoting at once cannot both win and the history never
 * misses or invents a move.
 */
import type { Kysely } from 'kysely';
import type {
  AliasAction,
  AliasHistoryRow,
  Database,
  ModelAliasRow,
  ModelRow,
  NewModel,
} from '../db/schema.js';

/** An alias with the sha256 of the version it points at. */
export type AliasWithSha = ModelAliasRow & { artifact_sha256: string };

export interface AliasMoveRecord {
  alias: string;
  /** The version the alias must point at now (null: it must not exist) for the move to apply. */
  expectedVersion: string | null;
  toVersion: string;
  action: AliasAction;
  actor: string | null;
  reason: string | null;
  at: number;
  historyId: string;
}

export class ModelRegistryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts a version. Returns false when the version exists already (nothing written). */
  async insertModel(row: NewModel): Promise<boolean> {
    const result = await this.db
      .insertInto('models')
      .values(row)
      .onConflict((oc) => oc.column('version').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  findByVersion(version: string): Promise<ModelRow | undefined> {
    return this.db
      .selectFrom('models')
      .selectAll()
      .where('version', '=', version)
      .executeTakeFirst();
  }

  /** Newest first (ties by version, so pages are stable). */
  list(limit: number, offset: number): Promise<ModelRow[]> {
    return this.db
      .selectFrom('models')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('version', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('models')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async updateMetrics(version: string, metrics: string): Promise<boolean> {
    const result = await this.db
      .updateTable('models')
      .set({ metrics })
      .where('version', '=', version)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Sets a version's dataset snapshot when it has none; false when it had one or is unknown. */
  async attachDataset(version: string, datasetId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('models')
      .set({ dataset_id: datasetId })
      .where('version', '=', version)
      .where('dataset_id', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Aliases with the sha256 of the artifact each points at. */
  private selectAliases() {
    return this.db
      .selectFrom('model_aliases')
      .innerJoin('models', 'models.version', 'model_aliases.version')
      .select([
        'model_aliases.alias',
        'model_aliases.version',
        'model_aliases.updated_at',
        'model_aliases.updated_by',
        'models.artifact_sha256',
      ]);
  }

  listAliases(): Promise<AliasWithSha[]> {
    return this.selectAliases().orderBy('model_aliases.alias').execute();
  }

  findAlias(alias: string): Promise<AliasWithSha | undefined> {
    return this.selectAliases().where('model_aliases.alias', '=', alias).executeTakeFirst();
  }

  /** The model an alias points at, or undefined. */
  findModelByAlias(alias: string): Promise<ModelRow | undefined> {
    return this.db
      .selectFrom('model_aliases')
      .innerJoin('models', 'models.version', 'model_aliases.version')
      .selectAll('models')
      .where('model_aliases.alias', '=', alias)
      .executeTakeFirst();
  }

  /** Applies a move if the alias still points where the caller saw it. False: it moved since. */
  moveAlias(move: AliasMoveRecord): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      let applied: boolean;
      if (move.expectedVersion === null) {
        const result = await trx
          .insertInto('model_aliases')
          .values({
            alias: move.alias,
            version: move.toVersion,
            updated_at: move.at,
            updated_by: move.actor,
          })
          .onConflict((oc) => oc.column('alias').doNothing())
          .executeTakeFirst();
        applied = (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
      } else {
        const result = await trx
          .updateTable('model_aliases')
          .set({ version: move.toVersion, updated_at: move.at, updated_by: move.actor })
          .where('alias', '=', move.alias)
          .where('version', '=', move.expectedVersion)
          .executeTakeFirst();
        applied = result.numUpdatedRows > 0n;
      }
      if (!applied) return false;
      await trx
        .insertInto('alias_history')
        .values({
          id: move.historyId,
          alias: move.alias,
          from_version: move.expectedVersion,
          to_version: move.toVersion,
          actor: move.actor,
          reason: move.reason,
          created_at: move.at,
          action: move.action,
        })
        .execute();
      return true;
    });
  }

  /** Newest first; ids order moves made in the same millisecond. */
  history(alias: string, limit: number): Promise<AliasHistoryRow[]> {
    return this.db
      .selectFrom('alias_history')
      .selectAll()
      .where('alias', '=', alias)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }
}
