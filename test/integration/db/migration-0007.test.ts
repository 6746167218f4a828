/**
 * Migration 0007 (job schedules and workers, drift report status/report/job_id, the baseline
 * index) runs
 * up, down and up again on every available dialect, leaving exactly what it adds and removes,
 * and the schedule table keeps one row per key.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../../src/db/database.js';
import { migrateDown, migrateToLatest } from '../../../src/db/migrate.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import {
  databaseTargets,
  listIndexes,
  listTables,
  type TestDatabase,
} from '../../helpers/database.js';

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

const ADDED_REPORT_COLUMNS = ['job_id', 'report', 'status'];
const INDEX = 'drift_references_camera_kind_created_at_idx';

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`migration 0007 on ${target.dialect}`, () => {
    let handle: TestDatabase;
    beforeAll(async () => {
      handle = await target.open({ migrate: false });
    });
    afterAll(async () => {
      await handle?.cleanup();
    });

    it('adds job_schedules, job_workers, the report columns and the index; down removes exactly them', async () => {
      await migrateToLatest(handle);
      expect(await listTables(handle)).toContain('job_schedules');
      expect(await columnsOf(handle, 'job_workers')).toEqual([
        'concurrency',
        'expires_at',
        'host',
        'id',
        'job_names',
        'last_seen_at',
        'pid',
        'started_at',
      ]);
      expect(await columnsOf(handle, 'job_schedules')).toEqual([
        'key',
        'last_owner',
        'last_run_at',
        'next_run_at',
        'updated_at',
      ]);
      const reportColumns = await columnsOf(handle, 'drift_reports');
      for (const column of ADDED_REPORT_COLUMNS) expect(reportColumns).toContain(column);
      expect(await listIndexes(handle)).toContain(INDEX);

      // A report written without the new columns gets status 'ok' and nulls.
      await handle.db
        .insertInto('drift_reports')
        .values({
          id: 'r1',
          camera: 'c',
          model_version: 'v1',
          reference_id: 'ref',
          window_start: 1,
          window_end: 2,
          sample_count: 3,
          reference_count: 4,
          drift_share: 0.5,
          level: 'yellow',
          drifted: 1,
          features: '[]',
          decision_reason: 'because',
          created_at: 5,
        } as never)
        .execute();
      expect(
        await handle.db
          .selectFrom('drift_reports')
          .select(['status', 'report', 'job_id'])
          .executeTakeFirst(),
      ).toEqual({ status: 'ok', report: null, job_id: null });

      const position = MIGRATIONS.findIndex((m) => m.name === '0007_jobs_drift');
      expect(position).toBeGreaterThan(0);
      const steps = MIGRATIONS.length - position;
      const undone = await migrateDown(handle, steps);
      expect(undone.at(-1)).toBe('0007_jobs_drift');
      expect(await listTables(handle)).not.toContain('job_schedules');
      expect(await listTables(handle)).not.toContain('job_workers');
      const before = await columnsOf(handle, 'drift_reports');
      for (const column of ADDED_REPORT_COLUMNS) expect(before).not.toContain(column);
      expect(await listIndexes(handle)).not.toContain(INDEX);
      // Rows of the earlier schema survive the round trip.
      expect(await handle.db.selectFrom('drift_reports').select('id').execute()).toEqual([
        { id: 'r1' },
      ]);

      await migrateToLatest(handle);
      expect(await listTables(handle)).toContain('job_schedules');
      expect(await listIndexes(handle)).toContain(INDEX);
    });

    it('keeps one schedule row per key', async () => {
      await handle.db
        .insertInto('job_schedules')
        .values({ key: 'k', next_run_at: 1, last_run_at: null, last_owner: null, updated_at: 1 })
        .execute();
      await expect(
        handle.db
          .insertInto('job_schedules')
          .values({ key: 'k', next_run_at: 2, last_run_at: null, last_owner: null, updated_at: 2 })
          .execute(),
      ).rejects.toThrow();
    });
  });
}
