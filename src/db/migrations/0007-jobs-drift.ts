/**
 * 0007: what the job system and the drift monitor need beyond 0003/0004.
 *
 * - `job_schedules`: one row per periodic schedule (e.g. `drift.check`), holding when it is next
 *   due. A scheduler enqueues a schedule's jobs only after moving `next_run_at` forward with a
 *   compare-and-set, so with many workers or replicas exactly one of them fires each period.
 * - `job_workers`: the workers alive now (each refreshes `expires_at` on a heartbeat and deletes
 *   its row when it stops), so the server knows whether anyone will run a job it waits for.
 * - `drift_reports.status` (`ok`, `drift`, `insufficient_data`, `no_reference`), `report` (the
 *   whole DriftReport JSON: reference, window, samples, per-feature tests, config, reason) and
 *   `job_id` (the drift.check job that wrote it).
 * - an index for the newest baseline of a camera.
 *
 * Released history: add a new migration instead of editing this one.
 */
import { createIndex, required, textPrimaryKey } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const jobsDriftMigration: SchemaMigration = {
  name: '0007_jobs_drift',

  async up(db) {
    await db.schema
      .createTable('job_schedules')
      .addColumn('key', 'text', textPrimaryKey)
      .addColumn('next_run_at', 'bigint', required)
      .addColumn('last_run_at', 'bigint')
      .addColumn('last_owner', 'text')
      .addColumn('updated_at', 'bigint', required)
      .execute();

    await db.schema
      .createTable('job_workers')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('host', 'text', required)
      .addColumn('pid', 'integer', required)
      .addColumn('job_names', 'text', required)
      .addColumn('concurrency', 'integer', required)
      .addColumn('started_at', 'bigint', required)
      .addColumn('last_seen_at', 'bigint', required)
      .addColumn('expires_at', 'bigint', required)
      .execute();

    // SQLite adds one column per ALTER TABLE statement.
    await db.schema
      .alterTable('drift_reports')
      .addColumn('status', 'text', (col) => col.notNull().defaultTo('ok'))
      .execute();
    await db.schema.alterTable('drift_reports').addColumn('report', 'text').execute();
    await db.schema.alterTable('drift_reports').addColumn('job_id', 'text').execute();

    await createIndex(db, 'drift_references', ['camera', 'kind', 'created_at']);
  },

  async down(db) {
    await db.schema.dropIndex('drift_references_camera_kind_created_at_idx').execute();
    await db.schema.alterTable('drift_reports').dropColumn('job_id').execute();
    await db.schema.alterTable('drift_reports').dropColumn('report').execute();
    await db.schema.alterTable('drift_reports').dropColumn('status').execute();
    await db.schema.dropTable('job_workers').execute();
    await db.schema.dropTable('job_schedules').execute();
  },
};
