/**
 * 0010: multi-stage inspection and safe rollouts (issue 18, docs/pipeline.md, docs/rollouts.md).
 *
 * - `models.task`: what a registered model does — `detect` (every model before 0010), `classify`
 *   (one class per crop) or `segment` (a mask per crop);
 * - `prediction_logs.stages`: JSON `InspectionStages` (the classify/segment outputs per
 *   detection, areas, severity), null when the camera runs `detect` alone;
 *   `prediction_logs.decided_by`: the id of the decision rule that failed the part (null on PASS
 *   and for results from before 0010);
 * - `alias_history.scope`: JSON array of the cameras a canary step applied to (null: every
 *   camera);
 * - `shadow_predictions`: a shadow candidate's output for a frame, stored apart from the
 *   production result it ran beside (same id), never deciding;
 * - `rollouts`: shadow and canary rollouts and how they ended.
 *
 * Released history: add a new migration instead of editing this one.
 */
import { createIndex, required, textPrimaryKey } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const inspectionChainRolloutsMigration: SchemaMigration = {
  name: '0010_inspection_chain_rollouts',

  async up(db) {
    // SQLite adds one column per ALTER TABLE statement.
    await db.schema
      .alterTable('models')
      .addColumn('task', 'text', (col) => col.notNull().defaultTo('detect'))
      .execute();
    await db.schema.alterTable('prediction_logs').addColumn('stages', 'text').execute();
    await db.schema.alterTable('prediction_logs').addColumn('decided_by', 'text').execute();
    await db.schema.alterTable('alias_history').addColumn('scope', 'text').execute();

    await db.schema
      .createTable('shadow_predictions')
      // The production prediction's id: one shadow output per frame.
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('camera', 'text', required)
      .addColumn('captured_at', 'bigint', required)
      .addColumn('model_version', 'text', required)
      .addColumn('production_version', 'text', required)
      .addColumn('rollout_id', 'text')
      .addColumn('detections', 'text', required)
      .addColumn('decision', 'text', required)
      .addColumn('disagreement', 'double precision', required)
      .addColumn('disagrees', 'integer', required)
      .addColumn('inference_ms', 'double precision', required)
      .addColumn('received_at', 'bigint', required)
      .execute();
    await createIndex(db, 'shadow_predictions', ['rollout_id', 'captured_at']);
    await createIndex(db, 'shadow_predictions', ['camera', 'captured_at']);
    await createIndex(db, 'shadow_predictions', ['captured_at']);

    await db.schema
      .createTable('rollouts')
      .addColumn('id', 'text', textPrimaryKey)
      .addColumn('kind', 'text', required)
      .addColumn('stage', 'text', required)
      .addColumn('candidate_version', 'text', required)
      .addColumn('baseline_version', 'text', required)
      // JSON array of camera names, or null with `share` set.
      .addColumn('cameras', 'text')
      .addColumn('share', 'double precision')
      .addColumn('state', 'text', required)
      .addColumn('rules', 'text', required)
      .addColumn('reason', 'text')
      .addColumn('created_by', 'text')
      .addColumn('started_at', 'bigint', required)
      .addColumn('ended_at', 'bigint')
      .addColumn('end_reason', 'text')
      .execute();
    await createIndex(db, 'rollouts', ['state', 'started_at']);
    await createIndex(db, 'rollouts', ['started_at']);
  },

  async down(db) {
    await db.schema.dropTable('rollouts').execute();
    await db.schema.dropTable('shadow_predictions').execute();
    await db.schema.alterTable('alias_history').dropColumn('scope').execute();
    await db.schema.alterTable('prediction_logs').dropColumn('decided_by').execute();
    await db.schema.alterTable('prediction_logs').dropColumn('stages').execute();
    await db.schema.alterTable('models').dropColumn('task').execute();
  },
};
