/**
 * The tables the retraining loop reads and writes besides the job queue and the registry:
 * `retraining_events` (its history), `reviewed_labels` (what is new, what a model was trained
 * on) and `drift_reports` (the latest report per camera). Thin, single-statement reads and
 * writes; the rules live in retraining.service.ts and retraining-policy.ts.
 *
 * (A repository: it sits in src/services only because this area's files were assigned there;
 * it belongs in src/repositories/.)
 */
import type { Kysely } from 'kysely';
import type { Database, NewRetrainingEvent, RetrainingEventRow } from '../db/schema.js';

/** Rows per statement when updating by id lists (well under SQLite's parameter limit). */
const CHUNK = 500;

export interface FreshLabel {
  id: string;
  imageBlob: string;
  createdAt: number;
}

export interface LatestDriftReport {
  camera: string;
  status: string;
  drifted: boolean;
  createdAt: number;
}

export class RetrainingRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertEvent(row: NewRetrainingEvent): Promise<void> {
    await this.db.insertInto('retraining_events').values(row).execute();
  }

  /** Events newest first; `before` is a (created_at, id) position. */
  listEvents(filter: {
    jobId?: string;
    before?: { at: number; id: string };
    limit: number;
  }): Promise<RetrainingEventRow[]> {
    let query = this.db.selectFrom('retraining_events').selectAll();
    if (filter.jobId !== undefined) query = query.where('job_id', '=', filter.jobId);
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', before.at),
          eb.and([eb('created_at', '=', before.at), eb('id', '<', before.id)]),
        ]),
      );
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  }

  /** The newest event of `kind` for a job, if any. */
  latestEvent(jobId: string, kind: string): Promise<RetrainingEventRow | undefined> {
    return this.db
      .selectFrom('retraining_events')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('kind', '=', kind)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }

  /** Every reviewed label, and those no training used yet. */
  async labelCounts(): Promise<{ total: number; unused: number }> {
    const row = await this.db
      .selectFrom('reviewed_labels')
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('total'),
        eb.fn
          .sum<number | string | bigint | null>(
            eb.case().when('used_for_training', '=', 0).then(1).else(0).end(),
          )
          .as('unused'),
      ])
      .executeTakeFirst();
    return { total: Number(row?.total ?? 0), unused: Number(row?.unused ?? 0) };
  }

  /** Reviewed labels created at or after `since` (all when null), oldest first. */
  async freshLabels(since: number | null): Promise<FreshLabel[]> {
    let query = this.db
      .selectFrom('reviewed_labels')
      .select(['id', 'image_blob', 'created_at'])
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc');
    if (since !== null) query = query.where('created_at', '>=', since);
    const rows = await query.execute();
    return rows.map((row) => ({
      id: row.id,
      imageBlob: row.image_blob,
      createdAt: row.created_at,
    }));
  }

  /** How many reviewed labels were created at or after `since` (all when null), and the newest. */
  async labelSummary(since: number | null): Promise<{ count: number; latestAt: number | null }> {
    let query = this.db
      .selectFrom('reviewed_labels')
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('count'),
        eb.fn.max<number | string | bigint | null>('created_at').as('latest'),
      ]);
    if (since !== null) query = query.where('created_at', '>=', since);
    const row = await query.executeTakeFirst();
    const latest = row?.latest;
    return {
      count: Number(row?.count ?? 0),
      latestAt: latest === null || latest === undefined ? null : Number(latest),
    };
  }

  /**
   * Marks labels as used by a training: `used` ids get used_for_training = 1; `trained` ids also
   * get trained_in_model_version = `version` unless an earlier model already has it (the column
   * records the first model trained on a label).
   */
  async markUsed(
    used: readonly string[],
    trained: readonly string[],
    version: string,
  ): Promise<void> {
    for (let i = 0; i < used.length; i += CHUNK) {
      await this.db
        .updateTable('reviewed_labels')
        .set({ used_for_training: 1 })
        .where('id', 'in', used.slice(i, i + CHUNK))
        .execute();
    }
    for (let i = 0; i < trained.length; i += CHUNK) {
      await this.db
        .updateTable('reviewed_labels')
        .set({ trained_in_model_version: version })
        .where('id', 'in', trained.slice(i, i + CHUNK))
        .where('trained_in_model_version', 'is', null)
        .execute();
    }
  }

  /** The newest drift report of each camera made at or after `since`. */
  async latestDriftReports(since: number): Promise<LatestDriftReport[]> {
    const rows = await this.db
      .selectFrom('drift_reports')
      .select(['camera', 'status', 'drifted', 'created_at'])
      .where('created_at', '>=', since)
      .where('camera', 'is not', null)
      .orderBy('created_at', 'desc')
      .limit(5000)
      .execute();
    const seen = new Set<string>();
    const latest: LatestDriftReport[] = [];
    for (const row of rows) {
      if (row.camera === null || seen.has(row.camera)) continue;
      seen.add(row.camera);
      latest.push({
        camera: row.camera,
        status: row.status,
        drifted: row.drifted === 1 || row.status === 'drift',
        createdAt: row.created_at,
      });
    }
    return latest;
  }
}
