/**
 * What the sampling service reads and writes: the stored result of a sampled frame
 * (`prediction_logs`, by id) and new `labeling_queue` items. An item is inserted at most once
 * per prediction (`ON CONFLICT (prediction_id) DO NOTHING` on the unique index of 0002).
 *
 * No rules here: what becomes an item, and with which values, is the service's.
 */
import type { Kysely } from 'kysely';
import type { Database, LabelingStatus, NewLabelingQueueItem } from '../db/schema.js';

/** The columns of a stored result that a labeling-queue item is made from. */
export interface SampledResultRow {
  id: string;
  camera: string;
  captured_at: number;
  width: number;
  height: number;
  model_version: string;
  /** JSON array of Detection. */
  detections: string;
  /** JSON FrameSampling, or null when the result was not sampled. */
  sampling: string | null;
}

export class SamplingRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findResult(id: string): Promise<SampledResultRow | undefined> {
    return this.db
      .selectFrom('prediction_logs')
      .select([
        'id',
        'camera',
        'captured_at',
        'width',
        'height',
        'model_version',
        'detections',
        'sampling',
      ])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Inserts the item unless one exists for its prediction. Returns whether it was inserted. */
  async insertQueueItem(item: NewLabelingQueueItem): Promise<boolean> {
    const result = await this.db
      .insertInto('labeling_queue')
      .values(item)
      .onConflict((oc) => oc.column('prediction_id').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async countQueueItems(status: LabelingStatus): Promise<number> {
    const row = await this.db
      .selectFrom('labeling_queue')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('status', '=', status)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
