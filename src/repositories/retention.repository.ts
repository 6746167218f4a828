/**
 * The tables the retention job prunes (docs/operations.md, Retention): prediction rows older
 * than a cutoff, taken in small batches by the (captured_at, id) index, and the questions that
 * decide whether a frame may go with them (is its blob still named by a prediction, a
 * labeling-queue item or a reviewed label; which images the dataset snapshots list). No rules
 * here: the retention service decides.
 */
import type { Kysely } from 'kysely';
import type { BlobKey, Database } from '../db/schema.js';

export interface ExpiredPrediction {
  id: string;
  frameBlob: BlobKey | null;
}

export class RetentionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Up to `limit` of the oldest predictions captured before `cutoff`. */
  async expiredPredictions(cutoff: number, limit: number): Promise<ExpiredPrediction[]> {
    const rows = await this.db
      .selectFrom('prediction_logs')
      .select(['id', 'frame_blob'])
      .where('captured_at', '<', cutoff)
      .orderBy('captured_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ id: row.id, frameBlob: row.frame_blob }));
  }

  /** Deletes the predictions and their class rows in one short transaction; rows deleted. */
  async deletePredictions(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('prediction_classes').where('prediction_id', 'in', ids).execute();
      const result = await trx
        .deleteFrom('prediction_logs')
        .where('id', 'in', ids)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /** Which of `keys` a prediction, a labeling-queue item or a reviewed label still names. */
  async referencedFrames(keys: readonly BlobKey[]): Promise<Set<BlobKey>> {
    const referenced = new Set<BlobKey>();
    if (keys.length === 0) return referenced;
    const [predictions, queue, labels] = await Promise.all([
      this.db
        .selectFrom('prediction_logs')
        .select('frame_blob as key')
        .where('frame_blob', 'in', keys)
        .execute(),
      this.db
        .selectFrom('labeling_queue')
        .select('frame_blob as key')
        .where('frame_blob', 'in', keys)
        .execute(),
      this.db
        .selectFrom('reviewed_labels')
        .select('image_blob as key')
        .where('image_blob', 'in', keys)
        .execute(),
    ]);
    for (const row of [...predictions, ...queue, ...labels]) {
      if (row.key !== null) referenced.add(row.key);
    }
    return referenced;
  }

  /** Every dataset snapshot's manifest blob. */
  async datasetManifests(): Promise<{ id: string; manifestBlob: BlobKey }[]> {
    const rows = await this.db.selectFrom('datasets').select(['id', 'manifest_blob']).execute();
    return rows.map((row) => ({ id: row.id, manifestBlob: row.manifest_blob }));
  }
}
