/**
 * 0003: drift monitoring: reference samples and the reports of each check.
 * Released history: add a new migration instead of editing this one.
 */
import { booleanColumn, createIndex, required, textPrimaryKey } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const driftMigration: SchemaMigration = {
  name: '0003_drift',

  async up(db) {
    await db.schema
      .createTable('drift_references')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('kind', 'text', required)
      .addColumn('model_version', 'text')
      .addColumn('camera', 'text')
      .addColumn('sample_count', 'integer', required)
      .addColumn('samples_blob', 'text', required)
      .addColumn('summary', 'text', (col) => col.notNull().defaultTo('{}'))
      .addColumn('created_at', 'bigint', required)
      .execute();
    await createIndex(db, 'drift_references', ['model_version', 'created_at']);

    await db.schema
      .createTable('drift_reports')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('camera', 'text')
      .addColumn('model_version', 'text')
      .addColumn('reference_id', 'text', required)
      .addColumn('window_start', 'bigint', required)
      .addColumn('window_end', 'bigint', required)
      .addColumn('sample_count', 'integer', required)
      .addColumn('reference_count', 'integer', required)
      .addColumn('drift_share', 'double precision', required)
      .addColumn('level', 'text', required)
      .addColumn('drifted', 'integer', booleanColumn('drifted'))
      .addColumn('features', 'text', required)
      .addColumn('decision_reason', 'text', required)
      .addColumn('created_at', 'bigint', required)
      .execute();
    await createIndex(db, 'drift_reports', ['created_at']);
    await createIndex(db, 'drift_reports', ['camera', 'created_at']);
  },

  async down(db) {
    await db.schema.dropTable('drift_reports').execute();
    await db.schema.dropTable('drift_references').execute();
  },
};
