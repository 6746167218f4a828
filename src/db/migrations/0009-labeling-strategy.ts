/**
 * 0009: which ranking strategy queued a labeling-queue item, and its score (issue 17). Copied
 * from the agent's sampling mark (`FrameSampling.strategy`, `strategyScore`) when the item is
 * created; null for items queued before, or by an agent without a ranking section.
 *
 * Released history: add a new migration instead of editing this one.
 */
import type { SchemaMigration } from './migration.js';

export const labelingStrategyMigration: SchemaMigration = {
  name: '0009_labeling_strategy',

  async up(db) {
    await db.schema.alterTable('labeling_queue').addColumn('strategy', 'text').execute();
    await db.schema.alterTable('labeling_queue').addColumn('strategy_score', 'real').execute();
  },

  async down(db) {
    await db.schema.alterTable('labeling_queue').dropColumn('strategy_score').execute();
    await db.schema.alterTable('labeling_queue').dropColumn('strategy').execute();
  },
};
