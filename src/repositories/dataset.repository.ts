/**
 * The `datasets` table (immutable snapshots) and the `reviewed_labels` reads and import writes
 * that snapshots are built from. No rules here: what goes into a snapshot, and the manifest
 * format, live in services/dataset/ and dataset-manifest.ts.
 */
import type { Kysely } from 'kysely';
import { selectTokenNames } from './token.repository.js';
import type {
  Database,
  DatasetRow,
  NewDataset,
  NewReviewedLabel,
  ReviewedLabelRow,
} from '../db/schema.js';

/** Columns of reviewed_labels per row: at most ~2,000 rows per INSERT on SQLite. */
const REVIEWED_LABEL_ROWS_PER_INSERT = 1000;

export class DatasetRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findById(id: string): Promise<DatasetRow | undefined> {
    return this.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Newest first. */
  list(limit: number): Promise<DatasetRow[]> {
    return this.db
      .selectFrom('datasets')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'asc')
      .limit(limit)
      .execute();
  }

  /** Reviewed labels created at or after `since` (all when undefined), newest first. */
  reviewedLabels(since?: number): Promise<ReviewedLabelRow[]> {
    let query = this.db.selectFrom('reviewed_labels').selectAll();
    if (since !== undefined) query = query.where('created_at', '>=', since);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  }

  /** Token names by id (tokens that no longer exist are absent). */
  tokenNames(ids: readonly string[]): Promise<Map<string, string>> {
    return selectTokenNames(this.db, ids);
  }

  /**
   * Inserts `dataset` unless its id exists, and (when it was inserted) `labels`, in one
   * transaction: a failure leaves neither. Returns whether the dataset was inserted.
   */
  insertDataset(dataset: NewDataset, labels: readonly NewReviewedLabel[] = []): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .insertInto('datasets')
        .values(dataset)
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      if ((result.numInsertedOrUpdatedRows ?? 0n) === 0n) return false;
      for (let start = 0; start < labels.length; start += REVIEWED_LABEL_ROWS_PER_INSERT) {
        await trx
          .insertInto('reviewed_labels')
          .values(labels.slice(start, start + REVIEWED_LABEL_ROWS_PER_INSERT))
          .execute();
      }
      return true;
    });
  }
}
