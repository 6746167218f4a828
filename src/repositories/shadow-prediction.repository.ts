/**
 * The `shadow_predictions` table (0010): a shadow candidate's output for a frame, stored apart
 * from the production result it ran beside, under the same id. Rows are written by the ingest
 * insert (prediction.repository.ts, in the same transaction as their results); this module
 * reads them: by id, for a set of ids (labeling alternatives), and the disagreement of a
 * version's rows in a window.
 *
 * No rules here: what counts as a disagreement is the agent's (ShadowResult.disagrees).
 */
import type { Kysely } from 'kysely';
import type { Database, ShadowPredictionRow } from '../db/schema.js';

export interface ShadowWindowFilter {
  /** The shadow model's version. */
  modelVersion?: string;
  camera?: string;
  /** Captured at or after, epoch ms. */
  from?: number;
  /** Captured before, epoch ms. */
  to?: number;
}

export interface ShadowDisagreementSummary {
  camera: string;
  frames: number;
  /** Frames whose shadow disagreed (ShadowResult.disagrees). */
  disagreeing: number;
  /** Mean of `disagreement` (1 − F1), 0..1. */
  meanDisagreement: number;
}

/** The shadow rows of `ids` (ids without one are absent), by id. One query. */
export async function selectShadows(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Map<string, ShadowPredictionRow>> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 0) return new Map();
  const rows = await db
    .selectFrom('shadow_predictions')
    .selectAll()
    .where('id', 'in', distinct)
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export class ShadowPredictionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findById(id: string): Promise<ShadowPredictionRow | undefined> {
    return this.db
      .selectFrom('shadow_predictions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  }

  findByIds(ids: readonly string[]): Promise<Map<string, ShadowPredictionRow>> {
    return selectShadows(this.db, ids);
  }

  /** Per camera: shadow frames, how many disagreed, and the mean disagreement in the window. */
  async disagreementByCamera(filter: ShadowWindowFilter): Promise<ShadowDisagreementSummary[]> {
    let query = this.db
      .selectFrom('shadow_predictions')
      .select((eb) => [
        'camera',
        eb.fn.countAll<number | string>().as('frames'),
        eb.fn.sum<number | string | null>('disagrees').as('disagreeing'),
        eb.fn.avg<number | string | null>('disagreement').as('mean_disagreement'),
      ]);
    if (filter.modelVersion !== undefined) {
      query = query.where('model_version', '=', filter.modelVersion);
    }
    if (filter.camera !== undefined) query = query.where('camera', '=', filter.camera);
    if (filter.from !== undefined) query = query.where('captured_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('captured_at', '<', filter.to);
    const rows = await query.groupBy('camera').orderBy('camera').execute();
    return rows.map((row) => ({
      camera: row.camera,
      frames: Number(row.frames),
      disagreeing: Number(row.disagreeing ?? 0),
      meanDisagreement: Number(row.mean_disagreement ?? 0),
    }));
  }
}
