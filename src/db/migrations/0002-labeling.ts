/**
 * 0002: active learning: the labeling queue, reviewed labels and dataset snapshots.
 * Released history: add a new migration instead of editing this one.
 */
import { booleanColumn, createIndex, required, textPrimaryKey } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const labelingMigration: SchemaMigration = {
  name: '0002_labeling',

  async up(db) {
    await db.schema
      .createTable('labeling_queue')
      .addColumn('id', 'text', textPrimaryKey)
      // No foreign key to prediction_logs: a sampled frame and its result arrive by different
      // routes in either order, and prediction logs may be purged while the item lives on.
      .addColumn('prediction_id', 'text')
      .addColumn('camera', 'text', required)
      .addColumn('captured_at', 'bigint')
      .addColumn('frame_blob', 'text')
      .addColumn('width', 'integer')
      .addColumn('height', 'integer')
      .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending'))
      .addColumn('priority', 'double precision', (col) => col.notNull().defaultTo(0))
      .addColumn('reason', 'text', required)
      .addColumn('model_version', 'text')
      .addColumn('pre_labels', 'text', (col) => col.notNull().defaultTo('[]'))
      .addColumn('phash', 'text')
      .addColumn('claimed_by', 'text')
      .addColumn('claimed_at', 'bigint')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('labels', 'text')
      .addColumn('labeled_by', 'text')
      .addColumn('labeled_at', 'bigint')
      .addColumn('lead_time_ms', 'integer')
      .addColumn('notes', 'text')
      .addColumn('flagged_reason', 'text')
      .addColumn('reviewed_by', 'text')
      .addColumn('reviewed_at', 'bigint')
      .addColumn('review_notes', 'text')
      .addColumn('created_at', 'bigint', required)
      .addColumn('updated_at', 'bigint', required)
      .execute();
    // NULLs are distinct in unique indexes on both dialects: many items without a prediction.
    await db.schema
      .createIndex('labeling_queue_prediction_id_key')
      .on('labeling_queue')
      .column('prediction_id')
      .unique()
      .execute();
    await createIndex(db, 'labeling_queue', ['status', 'priority', 'created_at']);
    await createIndex(db, 'labeling_queue', ['status', 'lease_expires_at']);
    await createIndex(db, 'labeling_queue', ['created_at']);
    await createIndex(db, 'labeling_queue', ['labeled_at']);
    await createIndex(db, 'labeling_queue', ['labeled_by', 'labeled_at']);
    await createIndex(db, 'labeling_queue', ['camera', 'created_at']);

    await db.schema
      .createTable('reviewed_labels')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('queue_item_id', 'text', (col) => col.unique())
      .addColumn('prediction_id', 'text')
      .addColumn('source', 'text', required)
      .addColumn('source_dataset_id', 'text')
      .addColumn('camera', 'text')
      .addColumn('image_blob', 'text', required)
      .addColumn('width', 'integer', required)
      .addColumn('height', 'integer', required)
      .addColumn('labels', 'text', required)
      .addColumn('labeled_by', 'text')
      .addColumn('approved_by', 'text')
      .addColumn('created_at', 'bigint', required)
      .addColumn('used_for_training', 'integer', booleanColumn('used_for_training', 0))
      .addColumn('trained_in_model_version', 'text')
      .execute();
    await createIndex(db, 'reviewed_labels', ['created_at']);
    await createIndex(db, 'reviewed_labels', ['used_for_training', 'created_at']);
    await createIndex(db, 'reviewed_labels', ['image_blob']);

    await db.schema
      .createTable('datasets')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('parent_id', 'text')
      .addColumn('source', 'text', required)
      .addColumn('name', 'text')
      .addColumn('manifest_blob', 'text', required)
      .addColumn('class_names', 'text', required)
      .addColumn('counts', 'text', required)
      .addColumn('created_at', 'bigint', required)
      .addColumn('created_by', 'text')
      .execute();
    await createIndex(db, 'datasets', ['created_at']);
    await createIndex(db, 'datasets', ['parent_id']);
  },

  async down(db) {
    await db.schema.dropTable('datasets').execute();
    await db.schema.dropTable('reviewed_labels').execute();
    await db.schema.dropTable('labeling_queue').execute();
  },
};
