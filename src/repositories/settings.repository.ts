/**
 * The `settings` table: named JSON values with a revision that increases on every change.
 * Changes are compare-and-set on the revision, so two servers changing one setting at the same
 * time cannot both win. No rules here; the services own what the values mean.
 */
import type { Kysely } from 'kysely';
import type { Database, SettingRow } from '../db/schema.js';

export class SettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  get(key: string): Promise<SettingRow | undefined> {
    return this.db.selectFrom('settings').selectAll().where('key', '=', key).executeTakeFirst();
  }

  /** Creates the setting at revision 1. Returns false when it already exists. */
  async insertFirst(key: string, value: string, at: number, by: string | null): Promise<boolean> {
    const result = await this.db
      .insertInto('settings')
      .values({ key, value, revision: 1, updated_at: at, updated_by: by })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  /**
   * Replaces the value and moves the revision from `fromRevision` to `fromRevision + 1`.
   * Returns false when the stored revision is no longer `fromRevision` (someone else won).
   */
  async replaceIfRevision(
    key: string,
    fromRevision: number,
    value: string,
    at: number,
    by: string | null,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('settings')
      .set({ value, revision: fromRevision + 1, updated_at: at, updated_by: by })
      .where('key', '=', key)
      .where('revision', '=', fromRevision)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
