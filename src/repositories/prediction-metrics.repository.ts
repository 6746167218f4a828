/**
 * Read-only queries over `prediction_logs` for the dashboard's `/api/metrics`: exact counts per
 * camera over a capture-time window, and the newest rows of that window (only the columns the
 * distributions need) up to a caller-given limit. Portable across SQLite and PostgreSQL.
 *
 * It never writes, and never reads a row without a limit: a day of frames from many cameras is
 * millions of rows, so the caller caps what it reads (see LineStatsService).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface PredictionWindow {
  /** Capture time lower bound, epoch ms, inclusive. No upper bound: agents' clocks run ahead. */
  from: number;
  camera?: string | undefined;
}

/** Exact counts of one camera's frame results in a window. */
export interface CameraFrameCounts {
  camera: string;
  frames: number;
  failed: number;
  uncertain: number;
  inferred: number;
  /** Capture time of the camera's first frame result in the window, epoch ms; null without any. */
  firstCapturedAt: number | null;
}

/** The columns a metrics sample needs from one frame result. */
export interface PredictionMetricsRow {
  camera: string;
  capturedAt: number;
  inferred: boolean;
  inferenceMs: number;
  totalMs: number;
  /** The detections JSON text for inferred frames; null for carried-forward ones (not read). */
  detections: string | null;
}

export class PredictionMetricsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Frames, FAIL, uncertain and inferred counts per camera with frames in the window, and the
   * capture time of each camera's first frame result in it.
   */
  async countByCamera(window: PredictionWindow): Promise<CameraFrameCounts[]> {
    // Grouping by the bare column lets SQLite satisfy GROUP BY by walking the whole
    // (camera, captured_at, id) index, every row of every day, instead of the window's range
    // of the captured_at index; `camera || ''` is the same value but not an index column
    // (portable: PostgreSQL groups a range scan by hash either way).
    const cameraKey = sql<string>`${sql.ref('camera')} || ''`;
    let query = this.db
      .selectFrom('prediction_logs')
      .select((eb) => [
        cameraKey.as('camera'),
        eb.fn.countAll().as('frames'),
        eb.fn.sum(eb.case().when('decision', '=', 'FAIL').then(1).else(0).end()).as('failed'),
        eb.fn.sum('uncertain').as('uncertain'),
        eb.fn.sum('inferred').as('inferred'),
        eb.fn.min('captured_at').as('first_captured_at'),
      ])
      .where('captured_at', '>=', window.from);
    if (window.camera !== undefined) query = query.where('camera', '=', window.camera);
    const rows = await query.groupBy(cameraKey).execute();
    // count/sum come back as numbers on both dialects (the factory parses INT8), but
    // Kysely types them as string | number | bigint.
    return rows.map((row) => ({
      camera: row.camera,
      frames: Number(row.frames),
      failed: Number(row.failed),
      uncertain: Number(row.uncertain),
      inferred: Number(row.inferred),
      firstCapturedAt: row.first_captured_at === null ? null : Number(row.first_captured_at),
    }));
  }

  /**
   * The newest `limit` frame results of the window, newest first (an index range scan on
   * (captured_at, id) or (camera, captured_at, id)). Detections are read only for inferred
   * frames: carried-forward frames repeat the previous frame's detections.
   */
  async newest(window: PredictionWindow, limit: number): Promise<PredictionMetricsRow[]> {
    let query = this.db
      .selectFrom('prediction_logs')
      .select((eb) => [
        'camera',
        'captured_at',
        'inferred',
        'inference_ms',
        'total_ms',
        eb
          .case()
          .when('inferred', '=', 1)
          .then(eb.ref('detections'))
          .else(eb.val<string | null>(null))
          .end()
          .as('detections'),
      ])
      .where('captured_at', '>=', window.from);
    if (window.camera !== undefined) query = query.where('camera', '=', window.camera);
    const rows = await query
      .orderBy('captured_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      camera: row.camera,
      capturedAt: Number(row.captured_at),
      inferred: row.inferred === 1,
      inferenceMs: row.inference_ms,
      totalMs: row.total_ms,
      detections: row.detections,
    }));
  }
}
