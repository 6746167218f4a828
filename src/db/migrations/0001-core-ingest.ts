/**
 * 0001: what ingest and auth need: prediction logs (+ their class index), agents, API tokens
 * and settings. Released history: add a new migration instead of editing this one.
 */
import { sql } from 'kysely';
import {
  booleanColumn,
  createIndex,
  required,
  textPrimaryKey,
  type SchemaMigration,
} from './migration.js';

export const coreIngestMigration: SchemaMigration = {
  name: '0001_core_ingest',

  async up(db) {
    await db.schema
      .createTable('prediction_logs')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('agent_id', 'text')
      .addColumn('camera', 'text', required)
      .addColumn('frame_index', 'bigint', required)
      .addColumn('captured_at', 'bigint', required)
      .addColumn('received_at', 'bigint', required)
      .addColumn('width', 'integer', required)
      .addColumn('height', 'integer', required)
      .addColumn('decision', 'text', (col) =>
        col.notNull().check(sql`${sql.ref('decision')} in ('PASS', 'FAIL')`),
      )
      .addColumn('uncertain', 'integer', booleanColumn('uncertain'))
      .addColumn('inferred', 'integer', booleanColumn('inferred', 1))
      .addColumn('model_version', 'text', required)
      .addColumn('detection_count', 'integer', required)
      .addColumn('max_confidence', 'double precision')
      .addColumn('detections', 'text', required)
      .addColumn('features', 'text', required)
      .addColumn('queue_ms', 'double precision', required)
      .addColumn('preprocess_ms', 'double precision', required)
      .addColumn('inference_ms', 'double precision', required)
      .addColumn('postprocess_ms', 'double precision', required)
      .addColumn('total_ms', 'double precision', required)
      .addColumn('frame_blob', 'text')
      .execute();
    // Inspection logs are read newest first with a (captured_at, id) cursor; each filter gets
    // an index that also serves that order, so a filtered page is one index range scan.
    await createIndex(db, 'prediction_logs', ['captured_at', 'id']);
    await createIndex(db, 'prediction_logs', ['camera', 'captured_at', 'id']);
    await createIndex(db, 'prediction_logs', ['decision', 'captured_at', 'id']);
    await createIndex(db, 'prediction_logs', ['uncertain', 'captured_at', 'id']);
    await createIndex(db, 'prediction_logs', ['model_version', 'captured_at', 'id']);

    await db.schema
      .createTable('prediction_classes')
      .addColumn('prediction_id', 'text', (col) =>
        col.notNull().references('prediction_logs.id').onDelete('cascade'),
      )
      .addColumn('class_name', 'text', required)
      .addColumn('captured_at', 'bigint', required)
      .addPrimaryKeyConstraint('prediction_classes_pk', ['prediction_id', 'class_name'])
      .execute();
    await createIndex(db, 'prediction_classes', ['class_name', 'captured_at', 'prediction_id']);

    await db.schema
      .createTable('agents')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('camera', 'text', required)
      .addColumn('name', 'text', required)
      .addColumn('version', 'text')
      .addColumn('model_version', 'text')
      .addColumn('fps', 'double precision')
      .addColumn('outbox_depth', 'integer')
      .addColumn('last_seen_at', 'bigint')
      .addColumn('registered_at', 'bigint', required)
      .addColumn('token_id', 'text')
      .addColumn('info', 'text', (col) => col.notNull().defaultTo('{}'))
      .execute();
    await createIndex(db, 'agents', ['camera']);
    await createIndex(db, 'agents', ['last_seen_at']);

    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('name', 'text', required)
      .addColumn('scope', 'text', required)
      .addColumn('token_hash', 'text', (col) => col.notNull().unique())
      .addColumn('created_at', 'bigint', required)
      .addColumn('created_by', 'text')
      .addColumn('last_used_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();

    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', textPrimaryKey)
      .addColumn('value', 'text', required)
      .addColumn('revision', 'integer', (col) => col.notNull().defaultTo(1))
      .addColumn('updated_at', 'bigint', required)
      .addColumn('updated_by', 'text')
      .execute();
  },

  async down(db) {
    await db.schema.dropTable('settings').execute();
    await db.schema.dropTable('api_tokens').execute();
    await db.schema.dropTable('agents').execute();
    await db.schema.dropTable('prediction_classes').execute();
    await db.schema.dropTable('prediction_logs').execute();
  },
};
