/**
 * Migration 0008 (model registry columns) on every available dialect: up adds
 * `models.metadata` (default '{}'), `models.producer` and `alias_history.action` (default
 * 'promote'); down removes exactly them, keeping the rows of 0004's tables; up again restores
 * them.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '../../../src/db/migrate.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import type { DatabaseHandle } from '../../../src/db/database.js';
import { databaseTargets } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';

const UP_TO_0008 = MIGRATIONS.slice(
  0,
  MIGRATIONS.findIndex((migration) => migration.name === '0008_model_registry') + 1,
);

async function columnsOf(handle: DatabaseHandle, table: string): Promise<string[]> {
  const { rows } =
    handle.dialect === 'postgres'
      ? await sql<{ name: string }>`
          select column_name as name from information_schema.columns
          where table_schema = current_schema() and table_name = ${table}`.execute(handle.db)
      : await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(
          handle.db,
        );
  return rows.map((row) => row.name).sort();
}

async function insertModel(handle: DatabaseHandle, version: string): Promise<void> {
  await sql`
    insert into models (id, version, source, artifact_blob, artifact_sha256, artifact_bytes,
      layout, class_names, created_at)
    values (${`id-${version}`}, ${version}, 'uploaded', ${'a'.repeat(64)}, ${'a'.repeat(64)},
      10, 'yolov8', '["scratch"]', 1)`.execute(handle.db);
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`migration 0008 on ${target.dialect}`, () => {
    let handle: TestDatabase | undefined;
    afterEach(async () => {
      await handle?.cleanup();
      handle = undefined;
    });

    it('adds the registry columns with their defaults, and down/up keeps 0004 rows', async () => {
      handle = await target.open({ migrate: false });
      const db = handle;
      expect(UP_TO_0008.at(-1)?.name).toBe('0008_model_registry');
      await migrateToLatest(db, UP_TO_0008);
      expect(await columnsOf(db, 'models')).toEqual(
        expect.arrayContaining(['metadata', 'producer']),
      );
      expect(await columnsOf(db, 'alias_history')).toContain('action');

      await insertModel(db, 'v1');
      await sql`insert into alias_history (id, alias, from_version, to_version, created_at)
        values ('ah-1', 'production', null, 'v1', 1)`.execute(db.db);
      const model = await db.db
        .selectFrom('models')
        .select(['metadata', 'producer'])
        .executeTakeFirstOrThrow();
      expect(model).toEqual({ metadata: '{}', producer: null });
      const entry = await db.db
        .selectFrom('alias_history')
        .select('action')
        .executeTakeFirstOrThrow();
      expect(entry.action).toBe('promote');

      expect(await migrateDown(db, 1, UP_TO_0008)).toEqual(['0008_model_registry']);
      expect(await columnsOf(db, 'models')).not.toContain('metadata');
      expect(await columnsOf(db, 'models')).not.toContain('producer');
      expect(await columnsOf(db, 'alias_history')).not.toContain('action');
      const { rows } = await sql<{ version: string }>`select version from models`.execute(db.db);
      expect(rows.map((row) => row.version)).toEqual(['v1']);

      await migrateToLatest(db, UP_TO_0008);
      const again = await sql<{ metadata: string; action: string }>`
        select m.metadata, h.action from models m, alias_history h`.execute(db.db);
      expect(again.rows).toEqual([{ metadata: '{}', action: 'promote' }]);
    });
  });
}
