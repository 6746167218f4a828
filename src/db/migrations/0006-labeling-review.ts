/**
 * 0006: what the labeling review and the dataset snapshots record beyond 0002's tables.
 *
 * - `datasets.provenance`: JSON object saying how a snapshot was made (the reviewed labels it
 *   took, the replay sources, sample size and seed, or the imported archive). It is kept out of
 *   the manifest on purpose: a snapshot is named by its content alone, so the same images and
 *   labels get the same name whichever way they were assembled (export → import round trip);
 * - `reviewed_labels.image_ext`: the image file's format (`jpg`, `png`, `webp`, `bmp`), so a
 *   snapshot names its files without reading every image back from the blob store (frames
 *   from agents are JPEGs; imported data sets may hold anything a YOLO data set may);
 * - indexes for the per-reviewer approval statistics (`reviewed_by`, `reviewed_at`) and the
 *   approval window (`reviewed_at`).
 *
 * Released history: add a new migration instead of editing this one.
 */
import { createIndex, indexName } from './migration.js';
import type { SchemaMigration } from './migration.js';

export const labelingReviewMigration: SchemaMigration = {
  name: '0006_labeling_review',

  async up(db) {
    await db.schema
      .alterTable('datasets')
      .addColumn('provenance', 'text', (col) => col.notNull().defaultTo('{}'))
      .execute();
    await db.schema
      .alterTable('reviewed_labels')
      .addColumn('image_ext', 'text', (col) => col.notNull().defaultTo('jpg'))
      .execute();
    await createIndex(db, 'labeling_queue', ['reviewed_by', 'reviewed_at']);
    await createIndex(db, 'labeling_queue', ['reviewed_at']);
  },

  async down(db) {
    await db.schema.dropIndex(indexName('labeling_queue', ['reviewed_at'])).execute();
    await db.schema
      .dropIndex(indexName('labeling_queue', ['reviewed_by', 'reviewed_at']))
      .execute();
    await db.schema.alterTable('reviewed_labels').dropColumn('image_ext').execute();
    await db.schema.alterTable('datasets').dropColumn('provenance').execute();
  },
};
