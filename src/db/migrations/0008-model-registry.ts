/**
 * 0008: what the model registry records beyond 0004's tables.
 *
 * - `models.metadata`: the ONNX `metadata_props` as registered (JSON object of strings), so a
 *   version's provenance (Ultralytics author/date/version, the trainer's dataset hash) stays
 *   readable without opening the artifact;
 * - `models.producer`: the ONNX producer (`pytorch 2.x`, `visionloop-trainer 0.1`), for display;
 * - `alias_history.action`: `promote` or `rollback`, so a rollback is told apart from a promotion
 *   without parsing the reason.
 *
 * Released history: add a new migration instead of editing this one.
 */
import type { SchemaMigration } from './migration.js';

export const modelRegistryMigration: SchemaMigration = {
  name: '0008_model_registry',

  async up(db) {
    // SQLite adds one column per ALTER TABLE statement.
    await db.schema
      .alterTable('models')
      .addColumn('metadata', 'text', (col) => col.notNull().defaultTo('{}'))
      .execute();
    await db.schema.alterTable('models').addColumn('producer', 'text').execute();
    await db.schema
      .alterTable('alias_history')
      .addColumn('action', 'text', (col) => col.notNull().defaultTo('promote'))
      .execute();
  },

  async down(db) {
    await db.schema.alterTable('alias_history').dropColumn('action').execute();
    await db.schema.alterTable('models').dropColumn('producer').execute();
    await db.schema.alterTable('models').dropColumn('metadata').execute();
  },
};
