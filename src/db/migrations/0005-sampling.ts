/**
 * 0005: active-learning sampling. `prediction_logs.sampling` holds the JSON mark an agent puts
 * on a result it sampled for labeling (`FrameSampling`: reasons, priority, perceptual hash); it
 * is null for every other result. When the sampled frame's JPEG arrives, the server reads it to
 * create the labeling-queue item. No index: it is only read by primary key.
 *
 * Released history: add a new migration instead of editing this one.
 */
import type { SchemaMigration } from './migration.js';

export const samplingMigration: SchemaMigration = {
  name: '0005_sampling',

  async up(db) {
    await db.schema.alterTable('prediction_logs').addColumn('sampling', 'text').execute();
  },

  async down(db) {
    await db.schema.alterTable('prediction_logs').dropColumn('sampling').execute();
  },
};
