/**
 * 0004: the model registry (versions, aliases, alias history), retraining events and the job
 * queue. Released history: add a new migration instead of editing this one.
 */
import { sql } from 'kysely';
import { booleanColumn, createIndex, required, textPrimaryKey } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const registryJobsMigration: SchemaMigration = {
  name: '0004_registry_jobs',

  async up(db) {
    await db.schema
      .createTable('models')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('version', 'text', (col) => col.notNull().unique())
      .addColumn('source', 'text', required)
      .addColumn('artifact_blob', 'text', required)
      .addColumn('artifact_sha256', 'text', required)
      .addColumn('artifact_bytes', 'bigint', required)
      .addColumn('weights_blob', 'text')
      .addColumn('layout', 'text', required)
      .addColumn('class_names', 'text', required)
      .addColumn('imgsz', 'integer')
      .addColumn('parent_version', 'text')
      .addColumn('dataset_id', 'text')
      .addColumn('trainer_params', 'text')
      .addColumn('metrics', 'text')
      .addColumn('training_log_blob', 'text')
      .addColumn('notes', 'text')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', required)
      .execute();
    await createIndex(db, 'models', ['created_at']);

    await db.schema
      .createTable('model_aliases')
      .addColumn('alias', 'text', textPrimaryKey)
      // An alias can only point at a registered version; such a version cannot be deleted.
      .addColumn('version', 'text', (col) => col.notNull().references('models.version'))
      .addColumn('updated_at', 'bigint', required)
      .addColumn('updated_by', 'text')
      .execute();
    await createIndex(db, 'model_aliases', ['version']);

    await db.schema
      .createTable('alias_history')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('alias', 'text', required)
      .addColumn('from_version', 'text')
      .addColumn('to_version', 'text')
      .addColumn('actor', 'text')
      .addColumn('reason', 'text')
      .addColumn('created_at', 'bigint', required)
      .execute();
    await createIndex(db, 'alias_history', ['alias', 'created_at']);
    await createIndex(db, 'alias_history', ['created_at']);

    await db.schema
      .createTable('retraining_events')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('job_id', 'text')
      .addColumn('kind', 'text', required)
      .addColumn('trigger', 'text')
      .addColumn('reason', 'text')
      .addColumn('model_version', 'text')
      .addColumn('details', 'text', (col) => col.notNull().defaultTo('{}'))
      .addColumn('actor', 'text')
      .addColumn('created_at', 'bigint', required)
      .execute();
    await createIndex(db, 'retraining_events', ['created_at']);
    await createIndex(db, 'retraining_events', ['job_id', 'created_at']);

    await db.schema
      .createTable('jobs')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('name', 'text', required)
      .addColumn('payload', 'text', (col) => col.notNull().defaultTo('{}'))
      .addColumn('status', 'text', (col) => col.notNull().defaultTo('queued'))
      .addColumn('priority', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('dedupe_key', 'text')
      .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('max_attempts', 'integer', (col) => col.notNull().defaultTo(3))
      .addColumn('run_at', 'bigint', required)
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('cancel_requested', 'integer', booleanColumn('cancel_requested', 0))
      .addColumn('progress', 'text')
      .addColumn('result', 'text')
      .addColumn('error', 'text')
      .addColumn('created_at', 'bigint', required)
      .addColumn('updated_at', 'bigint', required)
      .addColumn('started_at', 'bigint')
      .addColumn('finished_at', 'bigint')
      .execute();
    // A dedupe key is unique only among active jobs, and a finished job keeps its key for
    // history. Partial unique indexes exist on both dialects (SQLite since 3.8.0); nothing has
    // to remember to clear the key when a job finishes.
    await db.schema
      .createIndex('jobs_dedupe_key_active_key')
      .on('jobs')
      .column('dedupe_key')
      .unique()
      .where(sql.ref('status'), 'in', sql`('queued', 'running')`)
      .execute();
    await createIndex(db, 'jobs', ['status', 'priority', 'run_at']);
    await createIndex(db, 'jobs', ['status', 'lease_expires_at']);
    await createIndex(db, 'jobs', ['name', 'created_at']);
    await createIndex(db, 'jobs', ['created_at']);
  },

  async down(db) {
    await db.schema.dropTable('jobs').execute();
    await db.schema.dropTable('retraining_events').execute();
    await db.schema.dropTable('alias_history').execute();
    await db.schema.dropTable('model_aliases').execute();
    await db.schema.dropTable('models').execute();
  },
};
