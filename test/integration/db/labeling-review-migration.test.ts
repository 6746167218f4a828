/**
 * Migration 0006 (labeling review) up, down and up on every available dialect, on the
 * registry as it stood at 0006: the datasets.provenance and reviewed_labels.image_ext columns
 * with their defaults, and the reviewer indexes; down leaves 0005's schema exactly.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '../../../src/db/migrate.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import type { Database } from '../../../src/db/schema.js';
import { databaseTargets, listIndexes } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';

const UP_TO_0006 = MIGRATIONS.slice(
  0,
  MIGRATIONS.findIndex((m) => m.name === '0006_labeling_review') + 1,
);
const NEW_INDEXES = [
  'labeling_queue_reviewed_at_idx',
  'labeling_queue_reviewed_by_reviewed_at_idx',
];

async function hasColumn(db: Kysely<Database>, table: string, column: string): Promise<boolean> {
  try {
    await sql`select ${sql.ref(column)} from ${sql.table(table)} limit 0`.execute(db);
    return true;
  } catch {
    return false;
  }
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`migration 0006 on ${target.dialect}`, () => {
    let handle: TestDatabase;
    beforeAll(async () => {
      handle = await target.open({ migrate: false });
    });
    afterAll(async () => {
      await handle?.cleanup();
    });

    it('is in the registry after 0004 and before any later migration', () => {
      expect(UP_TO_0006.at(-1)?.name).toBe('0006_labeling_review');
      const names = MIGRATIONS.map((m) => m.name);
      expect([...names].sort()).toEqual(names);
    });

    it('adds its columns with defaults and its indexes, and removes them again', async () => {
      await migrateToLatest(handle, UP_TO_0006);
      expect(await hasColumn(handle.db, 'datasets', 'provenance')).toBe(true);
      expect(await hasColumn(handle.db, 'reviewed_labels', 'image_ext')).toBe(true);
      expect(await listIndexes(handle)).toEqual(expect.arrayContaining(NEW_INDEXES));

      await handle.db
        .insertInto('datasets')
        .values({
          id: 'd'.repeat(64),
          parent_id: null,
          source: 'snapshot',
          name: null,
          manifest_blob: 'd'.repeat(64),
          class_names: '[]',
          counts: '{}',
          created_at: 1,
          created_by: null,
        })
        .execute();
      await handle.db
        .insertInto('reviewed_labels')
        .values({
          id: 'rl-1',
          queue_item_id: null,
          prediction_id: null,
          source: 'import',
          source_dataset_id: null,
          camera: null,
          image_blob: 'e'.repeat(64),
          width: 10,
          height: 10,
          labels: '[]',
          labeled_by: null,
          approved_by: null,
          created_at: 1,
          trained_in_model_version: null,
        })
        .execute();
      const dataset = await handle.db
        .selectFrom('datasets')
        .select('provenance')
        .executeTakeFirst();
      const label = await handle.db
        .selectFrom('reviewed_labels')
        .select('image_ext')
        .executeTakeFirst();
      expect(dataset?.provenance).toBe('{}');
      expect(label?.image_ext).toBe('jpg');

      expect(await migrateDown(handle, 1, UP_TO_0006)).toEqual(['0006_labeling_review']);
      expect(await hasColumn(handle.db, 'datasets', 'provenance')).toBe(false);
      expect(await hasColumn(handle.db, 'reviewed_labels', 'image_ext')).toBe(false);
      const indexes = await listIndexes(handle);
      for (const index of NEW_INDEXES) expect(indexes).not.toContain(index);
      // The rows survive the round trip.
      expect(await migrateToLatest(handle, UP_TO_0006)).toEqual(['0006_labeling_review']);
      const after = await handle.db.selectFrom('reviewed_labels').selectAll().execute();
      expect(after.map((row) => [row.id, row.image_ext])).toEqual([['rl-1', 'jpg']]);
    });
  });
}
