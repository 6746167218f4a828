/**
 * Storage for the drift monitor: `drift_references`, `drift_reports`, and the reads of
 * `prediction_logs` a check needs — the camera's newest frame, the cameras with recent traffic,
 * and frames thinned in SQL to the first frame of every `spacingMs` clock bucket (the same
 * buckets as src/vision/drift/window.ts), so a check reads tens of rows, not the tens of
 * thousands a 30-minute window of 15 fps video holds. Portable across SQLite and PostgreSQL.
 *
 * No rules here: what a window or a baseline is belongs to the DriftService.
 */
import { sql, type Kysely } from 'kysely';
import type {
  Database,
  DriftReferenceKind,
  DriftReferenceRow,
  DriftReportRow,
  NewDriftReference,
  NewDriftReport,
} from '../db/schema.js';

/** The columns of a frame result a drift sample needs. */
export interface DriftFrameRow {
  id: string;
  capturedAt: number;
  modelVersion: string;
  /** The FrameFeatures JSON as stored. */
  features: string;
  /** The detections JSON as stored. */
  detections: string;
  uncertain: boolean;
  detectionCount: number;
}

export interface ThinnedFramesQuery {
  camera: string;
  modelVersion: string;
  /** Capture time bounds, inclusive, epoch ms. */
  from: number;
  to: number;
  /** Bucket length, ms (an integer ≥ 0; 0 = one bucket per distinct timestamp). */
  spacingMs: number;
  /** Most buckets. */
  limit: number;
  /** Which end of the range the buckets are taken from. */
  take: 'oldest' | 'newest';
}

export interface NewestFrame {
  capturedAt: number;
  modelVersion: string;
}

/** Latest capture time the database can hold (epochMsSchema's bound). */
export const MAX_EPOCH_MS = 8.64e15;

export class DriftRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The camera's newest frame result (by capture time), if any. */
  async newestFrame(camera: string): Promise<NewestFrame | undefined> {
    const row = await this.db
      .selectFrom('prediction_logs')
      .select(['captured_at', 'model_version'])
      .where('camera', '=', camera)
      .orderBy('captured_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined
      ? undefined
      : { capturedAt: Number(row.captured_at), modelVersion: row.model_version };
  }

  /**
   * The model version of the camera's newest frame by another version than `modelVersion`
   * (what it ran before a swap), if any.
   */
  async previousVersion(camera: string, modelVersion: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('prediction_logs')
      .select(['model_version'])
      .where('camera', '=', camera)
      .where('model_version', '!=', modelVersion)
      .orderBy('captured_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.model_version;
  }

  /** Cameras with a frame captured at or after `since`, sorted. */
  async activeCameras(since: number): Promise<string[]> {
    // `camera || ''` keeps SQLite on the captured_at range instead of walking the whole
    // (camera, captured_at, id) index (see PredictionMetricsRepository.countByCamera).
    const cameraKey = sql<string>`${sql.ref('camera')} || ''`;
    const rows = await this.db
      .selectFrom('prediction_logs')
      .select(cameraKey.as('camera'))
      .where('captured_at', '>=', since)
      .groupBy(cameraKey)
      .execute();
    return rows.map((row) => row.camera).sort();
  }

  /**
   * The first frame (earliest capture, then smallest id) of each `spacingMs` clock bucket of
   * one camera and model version within [from, to], the `limit` oldest or newest buckets,
   * returned oldest first.
   */
  async thinnedFrames(query: ThinnedFramesQuery): Promise<DriftFrameRow[]> {
    if (!Number.isSafeInteger(query.spacingMs) || query.spacingMs < 0) {
      throw new RangeError('spacingMs must be a non-negative integer');
    }
    // A literal, not a parameter: better-sqlite3 binds numbers as REAL, and integer division
    // needs two integers. spacingMs is checked to be an integer above.
    const bucket =
      query.spacingMs > 0
        ? sql`${sql.ref('captured_at')} / ${sql.lit(query.spacingMs)}`
        : sql.ref('captured_at');
    const firsts = await this.db
      .selectFrom('prediction_logs')
      .select((eb) => eb.fn.min('captured_at').as('t'))
      .where('camera', '=', query.camera)
      .where('model_version', '=', query.modelVersion)
      .where('captured_at', '>=', query.from)
      .where('captured_at', '<=', query.to)
      .groupBy(bucket)
      .orderBy('t', query.take === 'oldest' ? 'asc' : 'desc')
      .limit(query.limit)
      .execute();
    const times = firsts.map((row) => Number(row.t));
    if (times.length === 0) return [];
    const rows = await this.db
      .selectFrom('prediction_logs')
      .select([
        'id',
        'captured_at',
        'model_version',
        'features',
        'detections',
        'uncertain',
        'detection_count',
      ])
      .where('camera', '=', query.camera)
      .where('model_version', '=', query.modelVersion)
      .where('captured_at', 'in', times)
      .orderBy('captured_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    const frames: DriftFrameRow[] = [];
    let last = Number.NaN;
    for (const row of rows) {
      const capturedAt = Number(row.captured_at);
      // Several results captured in the same millisecond: the first by id stands for them.
      if (capturedAt === last) continue;
      last = capturedAt;
      frames.push({
        id: row.id,
        capturedAt,
        modelVersion: row.model_version,
        features: row.features,
        detections: row.detections,
        uncertain: row.uncertain === 1,
        detectionCount: row.detection_count,
      });
    }
    return frames;
  }

  /** Frame results of one camera and model version captured within [from, to]. */
  async countFrames(
    camera: string,
    modelVersion: string,
    from: number,
    to: number,
  ): Promise<number> {
    const row = await this.db
      .selectFrom('prediction_logs')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('camera', '=', camera)
      .where('model_version', '=', modelVersion)
      .where('captured_at', '>=', from)
      .where('captured_at', '<=', to)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async insertReference(row: NewDriftReference): Promise<void> {
    await this.db.insertInto('drift_references').values(row).execute();
  }

  /** The newest reference of `kind` for the camera (null: camera-independent) and version. */
  newestReference(
    kind: DriftReferenceKind,
    camera: string | null,
    modelVersion: string,
  ): Promise<DriftReferenceRow | undefined> {
    let query = this.db
      .selectFrom('drift_references')
      .selectAll()
      .where('kind', '=', kind)
      .where('model_version', '=', modelVersion);
    query =
      camera === null ? query.where('camera', 'is', null) : query.where('camera', '=', camera);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  }

  /** The newest references of `kind`, newest first. */
  listReferences(kind: DriftReferenceKind, limit: number): Promise<DriftReferenceRow[]> {
    return this.db
      .selectFrom('drift_references')
      .selectAll()
      .where('kind', '=', kind)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  async insertReport(row: NewDriftReport): Promise<void> {
    await this.db.insertInto('drift_reports').values(row).execute();
  }

  findReport(id: string): Promise<DriftReportRow | undefined> {
    return this.db.selectFrom('drift_reports').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The newest report of each camera that has one made at or after `since`. */
  async latestReports(since: number, camera?: string): Promise<DriftReportRow[]> {
    let cameras = this.db
      .selectFrom('drift_reports')
      .select('camera')
      .where('created_at', '>=', since)
      .where('camera', 'is not', null)
      .groupBy('camera');
    if (camera !== undefined) cameras = cameras.where('camera', '=', camera);
    const names = (await cameras.execute())
      .map((row) => row.camera)
      .filter((name): name is string => name !== null)
      .sort();
    const reports: DriftReportRow[] = [];
    for (const name of names) {
      const row = await this.db
        .selectFrom('drift_reports')
        .selectAll()
        .where('camera', '=', name)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (row !== undefined) reports.push(row);
    }
    return reports;
  }

  /** Reports made in [from, to), newest first, at most `limit`. */
  reportsBetween(
    from: number,
    to: number,
    limit: number,
    camera?: string,
  ): Promise<DriftReportRow[]> {
    let query = this.db
      .selectFrom('drift_reports')
      .selectAll()
      .where('created_at', '>=', from)
      .where('created_at', '<', to);
    if (camera !== undefined) query = query.where('camera', '=', camera);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** Reports made at or after `since`, oldest first, at most `limit`. */
  reportsSince(since: number, limit: number): Promise<DriftReportRow[]> {
    return this.db
      .selectFrom('drift_reports')
      .selectAll()
      .where('created_at', '>=', since)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(limit)
      .execute();
  }
}
