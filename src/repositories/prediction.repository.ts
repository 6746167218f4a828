/**
 * The `prediction_logs` and `prediction_classes` tables: every frame result agents send, the
 * link to its uploaded frame, and the reads behind inspection logs, health and model status.
 *
 * The ingest insert is the server's hot path (tens of thousands of rows per second), so it
 * bypasses Kysely's query builder. A batch is split into power-of-two chunks (1000 rows =
 * 512 + 256 + 128 + 64 + 32 + 8), so only about ten statement shapes per table ever exist;
 * each chunk is one multi-row `INSERT … ON CONFLICT DO NOTHING`, its parameters filled in one
 * tight loop.
 * - On SQLite, when the native better-sqlite3 handle is given, the statements are prepared
 *   once and reused, run synchronously inside one IMMEDIATE transaction while holding
 *   Kysely's connection (so no Kysely query or transaction can interleave). Preparing a
 *   20,000-parameter statement costs about as much as running it; this is why the native
 *   handle is used here and nowhere else.
 * - On PostgreSQL, one `INSERT … SELECT FROM unnest(…)` per table with one array parameter per
 *   column: a short, constant statement whatever the batch size.
 * - Otherwise (SQLite without the native handle) the cached statement text is executed
 *   through Kysely's connection inside a Kysely transaction.
 * Everything else uses the query builder.
 *
 * No rules here: validation, de-duplication policy and events live in the services.
 */
import { CompiledQuery, sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import type { DialectName } from '../db/database.js';
import type { Database, PredictionLogRow } from '../db/schema.js';
import type { Decision, FrameResult } from '../shared/domain.js';

/** Parameters one statement may bind: SQLite's limit is 32,766 (PostgreSQL's 65,535). */
const MAX_PARAMETERS = 32_000;

const LOG_COLUMNS = [
  'id',
  'agent_id',
  'camera',
  'frame_index',
  'captured_at',
  'received_at',
  'width',
  'height',
  'decision',
  'uncertain',
  'inferred',
  'model_version',
  'detection_count',
  'max_confidence',
  'detections',
  'features',
  'queue_ms',
  'preprocess_ms',
  'inference_ms',
  'postprocess_ms',
  'total_ms',
  'sampling',
] as const;
const CLASS_COLUMNS = ['prediction_id', 'class_name', 'captured_at'] as const;

/** PostgreSQL type of each log column (its unnest array is `<type>[]`). */
const LOG_COLUMN_PG_TYPES: Record<(typeof LOG_COLUMNS)[number], string> = {
  id: 'text',
  agent_id: 'text',
  camera: 'text',
  frame_index: 'bigint',
  captured_at: 'bigint',
  received_at: 'bigint',
  width: 'integer',
  height: 'integer',
  decision: 'text',
  uncertain: 'integer',
  inferred: 'integer',
  model_version: 'text',
  detection_count: 'integer',
  max_confidence: 'double precision',
  detections: 'text',
  features: 'text',
  queue_ms: 'double precision',
  preprocess_ms: 'double precision',
  inference_ms: 'double precision',
  postprocess_ms: 'double precision',
  total_ms: 'double precision',
  sampling: 'text',
};

const LOG_COLUMN_IS_TEXT = LOG_COLUMNS.map((c) => LOG_COLUMN_PG_TYPES[c] === 'text');

const PG_INSERT_LOGS =
  `insert into prediction_logs (${LOG_COLUMNS.join(', ')}) select * from unnest(` +
  LOG_COLUMNS.map((c, i) => `$${i + 1}::${LOG_COLUMN_PG_TYPES[c]}[]`).join(', ') +
  ') on conflict (id) do nothing returning id';

const PG_INSERT_CLASSES =
  'insert into prediction_classes (prediction_id, class_name, captured_at) ' +
  'select * from unnest($1::text[], $2::text[], $3::bigint[]) on conflict do nothing';

/** The largest power of two ≤ n. */
function floorPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** Most rows in one statement: a power of two within the parameter limit. */
export const LOG_ROWS_PER_STATEMENT = floorPowerOfTwo(MAX_PARAMETERS / LOG_COLUMNS.length);
const CLASS_ROWS_PER_STATEMENT = floorPowerOfTwo(MAX_PARAMETERS / CLASS_COLUMNS.length);

/** Chunk sizes for `count` rows: the largest powers of two that fit, largest first. */
export function chunkSizes(count: number, maxChunk: number): number[] {
  const sizes: number[] = [];
  let left = count;
  while (left >= maxChunk) {
    sizes.push(maxChunk);
    left -= maxChunk;
  }
  for (let size = maxChunk >> 1; size >= 1; size >>= 1) {
    if (left >= size) {
      sizes.push(size);
      left -= size;
    }
  }
  return sizes;
}

type SqlValue = string | number | null;

/** Fills `params` from `offset` with the log-row values of `r`; returns the next offset. */
function putLogRow(
  params: SqlValue[],
  offset: number,
  r: FrameResult,
  agentId: string | null,
  receivedAt: number,
): number {
  let p = offset;
  let maxConfidence: number | null = null;
  for (const d of r.detections) {
    if (maxConfidence === null || d.confidence > maxConfidence) maxConfidence = d.confidence;
  }
  const l = r.latencies;
  params[p++] = r.id;
  params[p++] = agentId;
  params[p++] = r.camera;
  params[p++] = r.frameIndex;
  params[p++] = r.capturedAt;
  params[p++] = receivedAt;
  params[p++] = r.width;
  params[p++] = r.height;
  params[p++] = r.decision;
  params[p++] = r.uncertain ? 1 : 0;
  params[p++] = r.inferred ? 1 : 0;
  params[p++] = r.modelVersion;
  params[p++] = r.detections.length;
  params[p++] = maxConfidence;
  params[p++] = JSON.stringify(r.detections);
  params[p++] = JSON.stringify(r.features);
  params[p++] = l.queueMs;
  params[p++] = l.preprocessMs;
  params[p++] = l.inferenceMs;
  params[p++] = l.postprocessMs;
  params[p++] = l.totalMs;
  params[p++] = r.sampling === undefined ? null : JSON.stringify(r.sampling);
  return p;
}

/** Characters JSON.stringify escapes beyond `"` and `\`: controls and (lone) surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const JSON_ESCAPED_CHARACTERS = /[\u0000-\u001f\ud800-\udfff]/;

/**
 * A PostgreSQL array literal (`{…}`) of `values`, for a `$n::<type>[]` parameter.
 *
 * JSON.stringify of the array is the literal already, but for its brackets: it quotes strings
 * and escapes `"` and `\` with a backslash exactly as an array literal must, writes null as
 * `null` (unquoted NULL to PostgreSQL) and finite numbers as valid int8/float8 input — and it
 * does so natively, about 15× faster than escaping element by element (pg's own array
 * encoding was half of the server's CPU per ingested row). It differs only for control
 * characters and surrogates (escaped as `\n`, `\uXXXX`, which an array literal would read as
 * `n`, `uXXXX`) and non-finite numbers (written as null): values with those take the
 * element-by-element path.
 */
export function pgArrayLiteral(values: readonly SqlValue[], text: boolean): string {
  if (values.length === 0) return '{}';
  let plain = true;
  for (const value of values) {
    if (
      value !== null &&
      (typeof value === 'number'
        ? !Number.isFinite(value)
        : !text || JSON_ESCAPED_CHARACTERS.test(value))
    ) {
      plain = false;
      break;
    }
  }
  if (plain) {
    const json = JSON.stringify(values);
    return `{${json.slice(1, -1)}}`;
  }
  const elements = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] ?? null;
    elements[i] =
      value === null
        ? 'NULL'
        : typeof value === 'number'
          ? String(value)
          : `"${value.replace(/["\\]/g, '\\$&')}"`;
  }
  return `{${elements.join(',')}}`;
}

/** `[prediction_id, class_name, captured_at]` for each distinct class of each stored result. */
function classRowValues(chunk: readonly FrameResult[], stored: ReadonlySet<string>): SqlValue[] {
  const values: SqlValue[] = [];
  for (const r of chunk) {
    const detections = r.detections;
    if (detections.length === 0 || !stored.has(r.id)) continue;
    if (detections.length === 1) {
      values.push(r.id, detections[0]?.className ?? '', r.capturedAt);
      continue;
    }
    for (const className of new Set(detections.map((d) => d.className))) {
      values.push(r.id, className, r.capturedAt);
    }
  }
  return values;
}

export interface PredictionPageFilter {
  /** Captured at or after, epoch ms. */
  from?: number;
  /** Captured before, epoch ms. */
  to?: number;
  camera?: string;
  className?: string;
  decision?: Decision;
  uncertain?: boolean;
  modelVersion?: string;
  /** Only rows strictly older than this position in (captured_at desc, id desc) order. */
  before?: { capturedAt: number; id: string };
  limit: number;
}

export interface ModelVersionSeen {
  version: string;
  /** Capture time of the newest result carrying it. */
  lastCapturedAt: number;
}

export interface ModelVersionWindowCount {
  version: string;
  camera: string;
  results: number;
}

export interface PredictionRepositoryOptions {
  /**
   * The better-sqlite3 handle under `db` (same connection), for the ingest fast path.
   * Only for a SQLite `db`; never a second connection to the file.
   */
  nativeSqlite?: BetterSqlite3.Database;
}

export class PredictionRepository {
  private readonly texts = new Map<string, string>();
  private readonly prepared = new Map<string, BetterSqlite3.Statement>();
  private readonly native: BetterSqlite3.Database | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
    options: PredictionRepositoryOptions = {},
  ) {
    this.native = dialect === 'sqlite' ? options.nativeSqlite : undefined;
  }

  /**
   * Stores `results` in one transaction, skipping ids already stored (`ON CONFLICT DO
   * NOTHING`), with one `prediction_classes` row per distinct class of each newly stored
   * result. Resolves after the commit with the ids this call stored. `results` must not repeat
   * an id.
   */
  async insertResults(
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    if (results.length === 0) return new Set();
    const native = this.native;
    if (native !== undefined) {
      // Holding Kysely's (only) connection keeps its queries and transactions out while the
      // native transaction runs; the work inside is synchronous.
      return this.db
        .connection()
        .execute(() =>
          Promise.resolve(
            native.transaction(() => this.insertNative(results, agentId, receivedAt)).immediate(),
          ),
        );
    }
    if (this.dialect === 'postgres') {
      return this.db
        .transaction()
        .execute((trx) => this.insertPostgres(trx, results, agentId, receivedAt));
    }
    return this.db
      .transaction()
      .execute((trx) => this.insertThroughKysely(trx, results, agentId, receivedAt));
  }

  /**
   * PostgreSQL: one `INSERT … SELECT FROM unnest($1::text[], …)` per table, one array per
   * column. The statement text never changes with the row count, so the server parses a short
   * statement instead of one with tens of thousands of parameters. (Measured: ~20% faster
   * than passing the batch as one JSON parameter to json_to_recordset.)
   */
  private async insertPostgres(
    trx: Transaction<Database>,
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    // Each column goes as one array literal built here (see pgArrayLiteral).
    const columns = LOG_COLUMNS.map(() => new Array<SqlValue>(results.length));
    const row = new Array<SqlValue>(LOG_COLUMNS.length);
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r === undefined) continue;
      putLogRow(row, 0, r, agentId, receivedAt);
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c];
        if (column !== undefined) column[i] = row[c] ?? null;
      }
    }
    const { rows } = await trx.executeQuery<{ id: string }>(
      CompiledQuery.raw(
        PG_INSERT_LOGS,
        columns.map((column, c) => pgArrayLiteral(column, LOG_COLUMN_IS_TEXT[c] === true)),
      ),
    );
    const stored = new Set(rows.map((r) => r.id));
    const values = classRowValues(results, stored);
    if (values.length > 0) {
      const ids: SqlValue[] = [];
      const names: SqlValue[] = [];
      const times: SqlValue[] = [];
      for (let v = 0; v < values.length; v += 3) {
        ids.push(values[v] ?? null);
        names.push(values[v + 1] ?? null);
        times.push(values[v + 2] ?? null);
      }
      await trx.executeQuery(
        CompiledQuery.raw(PG_INSERT_CLASSES, [
          pgArrayLiteral(ids, true),
          pgArrayLiteral(names, true),
          pgArrayLiteral(times, false),
        ]),
      );
    }
    return stored;
  }

  private insertNative(
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Set<string> {
    const stored = new Set<string>();
    let start = 0;
    for (const size of chunkSizes(results.length, LOG_ROWS_PER_STATEMENT)) {
      const chunk = results.slice(start, start + size);
      start += size;
      const params = new Array<SqlValue>(size * LOG_COLUMNS.length);
      let p = 0;
      for (const r of chunk) p = putLogRow(params, p, r, agentId, receivedAt);
      const rows = this.statement('prediction_logs', size).all(params) as { id: string }[];
      for (const row of rows) stored.add(row.id);
      const classValues = classRowValues(chunk, stored);
      let offset = 0;
      for (const rowCount of chunkSizes(classValues.length / 3, CLASS_ROWS_PER_STATEMENT)) {
        const end = offset + rowCount * CLASS_COLUMNS.length;
        this.statement('prediction_classes', rowCount).run(classValues.slice(offset, end));
        offset = end;
      }
    }
    return stored;
  }

  private async insertThroughKysely(
    trx: Transaction<Database>,
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    const stored = new Set<string>();
    let start = 0;
    for (const size of chunkSizes(results.length, LOG_ROWS_PER_STATEMENT)) {
      const chunk = results.slice(start, start + size);
      start += size;
      const params = new Array<SqlValue>(size * LOG_COLUMNS.length);
      let p = 0;
      for (const r of chunk) p = putLogRow(params, p, r, agentId, receivedAt);
      const text = this.insertText('prediction_logs', size);
      const { rows } = await trx.executeQuery<{ id: string }>(CompiledQuery.raw(text, params));
      for (const row of rows) stored.add(row.id);
      const classValues = classRowValues(chunk, stored);
      let offset = 0;
      for (const rowCount of chunkSizes(classValues.length / 3, CLASS_ROWS_PER_STATEMENT)) {
        const end = offset + rowCount * CLASS_COLUMNS.length;
        const classText = this.insertText('prediction_classes', rowCount);
        await trx.executeQuery(CompiledQuery.raw(classText, classValues.slice(offset, end)));
        offset = end;
      }
    }
    return stored;
  }

  private statement(
    table: 'prediction_logs' | 'prediction_classes',
    rows: number,
  ): BetterSqlite3.Statement {
    const key = `${table}:${rows}`;
    let statement = this.prepared.get(key);
    if (statement === undefined) {
      if (this.native === undefined) throw new Error('no native SQLite handle');
      statement = this.native.prepare(this.insertText(table, rows));
      this.prepared.set(key, statement);
    }
    return statement;
  }

  /**
   * `insert into t (cols) values (…),(…) on conflict do nothing [returning id]` for `rows`
   * rows, cached (row counts are powers of two, so the cache stays small).
   */
  private insertText(table: 'prediction_logs' | 'prediction_classes', rows: number): string {
    const key = `${table}:${rows}`;
    const cached = this.texts.get(key);
    if (cached !== undefined) return cached;
    const columns: readonly string[] = table === 'prediction_logs' ? LOG_COLUMNS : CLASS_COLUMNS;
    const tuples = new Array<string>(rows);
    let n = 0;
    for (let row = 0; row < rows; row++) {
      const slots = new Array<string>(columns.length);
      for (let c = 0; c < columns.length; c++) {
        n++;
        slots[c] = this.dialect === 'postgres' ? `$${n}` : '?';
      }
      tuples[row] = `(${slots.join(',')})`;
    }
    const text =
      table === 'prediction_logs'
        ? `insert into prediction_logs (${columns.join(', ')}) values ${tuples.join(',')}` +
          ' on conflict (id) do nothing returning id'
        : `insert into prediction_classes (${columns.join(', ')}) values ${tuples.join(',')}` +
          ' on conflict do nothing';
    this.texts.set(key, text);
    return text;
  }

  /** The stored result's frame link: undefined when no result has this id. */
  async findFrameLink(id: string): Promise<{ frameBlob: string | null } | undefined> {
    const row = await this.db
      .selectFrom('prediction_logs')
      .select('frame_blob')
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : { frameBlob: row.frame_blob };
  }

  /**
   * Links the result to the frame blob `key` unless it is linked to another one. Returns
   * whether the result now links to `key`.
   */
  async linkFrame(id: string, key: string): Promise<boolean> {
    const result = await this.db
      .updateTable('prediction_logs')
      .set({ frame_blob: key })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('frame_blob', 'is', null), eb('frame_blob', '=', key)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** One page of results, newest first (captured_at desc, id desc). */
  page(filter: PredictionPageFilter): Promise<PredictionLogRow[]> {
    const className = filter.className;
    if (className === undefined) {
      let query = this.db.selectFrom('prediction_logs').selectAll();
      if (filter.from !== undefined) query = query.where('captured_at', '>=', filter.from);
      if (filter.to !== undefined) query = query.where('captured_at', '<', filter.to);
      if (filter.camera !== undefined) query = query.where('camera', '=', filter.camera);
      if (filter.decision !== undefined) query = query.where('decision', '=', filter.decision);
      if (filter.uncertain !== undefined) {
        query = query.where('uncertain', '=', filter.uncertain ? 1 : 0);
      }
      if (filter.modelVersion !== undefined) {
        query = query.where('model_version', '=', filter.modelVersion);
      }
      const before = filter.before;
      if (before !== undefined) {
        query = query.where((eb) =>
          eb(eb.refTuple('captured_at', 'id'), '<', eb.tuple(before.capturedAt, before.id)),
        );
      }
      return query
        .orderBy('captured_at', 'desc')
        .orderBy('id', 'desc')
        .limit(filter.limit)
        .execute();
    }
    // Driven by the class index (class_name, captured_at, prediction_id): a rare class is
    // one index range, not a scan of every result checking each for the class.
    let query = this.db
      .selectFrom('prediction_classes as c')
      .innerJoin('prediction_logs as p', 'p.id', 'c.prediction_id')
      .selectAll('p')
      .where('c.class_name', '=', className);
    if (filter.from !== undefined) query = query.where('c.captured_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('c.captured_at', '<', filter.to);
    if (filter.camera !== undefined) query = query.where('p.camera', '=', filter.camera);
    if (filter.decision !== undefined) query = query.where('p.decision', '=', filter.decision);
    if (filter.uncertain !== undefined) {
      query = query.where('p.uncertain', '=', filter.uncertain ? 1 : 0);
    }
    if (filter.modelVersion !== undefined) {
      query = query.where('p.model_version', '=', filter.modelVersion);
    }
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb(
          eb.refTuple('c.captured_at', 'c.prediction_id'),
          '<',
          eb.tuple(before.capturedAt, before.id),
        ),
      );
    }
    return query
      .orderBy('c.captured_at', 'desc')
      .orderBy('c.prediction_id', 'desc')
      .limit(filter.limit)
      .execute();
  }

  /**
   * Model versions whose newest result was captured at or after `since`, newest first. Walks
   * the distinct versions with index seeks (a recursive "loose index scan", portable to both
   * dialects), so the cost grows with the number of versions, not of results.
   */
  async modelVersionsSince(since: number): Promise<ModelVersionSeen[]> {
    const { rows } = await sql<{ version: string; last_captured_at: number | string }>`
      with recursive versions(version) as (
        select min(model_version) from prediction_logs
        union all
        select (select min(p.model_version) from prediction_logs p where p.model_version > v.version)
        from versions v where v.version is not null
      )
      select version, last_captured_at from (
        select v.version as version,
          (select max(p.captured_at) from prediction_logs p where p.model_version = v.version)
            as last_captured_at
        from versions v where v.version is not null
      ) seen
      where last_captured_at >= ${since}
      order by last_captured_at desc, version asc`.execute(this.db);
    return rows.map((row) => ({
      version: row.version,
      lastCapturedAt: Number(row.last_captured_at),
    }));
  }

  /**
   * Results per (model version, camera) among the newest `maxRows` captured at or after
   * `since`. `complete` is false when the window held more rows than that.
   */
  async modelVersionCounts(
    since: number,
    maxRows: number,
  ): Promise<{ counts: ModelVersionWindowCount[]; complete: boolean }> {
    const newest = this.db
      .selectFrom('prediction_logs')
      .select(['model_version', 'camera'])
      .where('captured_at', '>=', since)
      .orderBy('captured_at', 'desc')
      .limit(maxRows)
      .as('w');
    const rows = await this.db
      .selectFrom(newest)
      .select(['w.model_version', 'w.camera', (eb) => eb.fn.countAll<number>().as('results')])
      .groupBy(['w.model_version', 'w.camera'])
      .execute();
    const beyond = await this.db
      .selectFrom('prediction_logs')
      .select('id')
      .where('captured_at', '>=', since)
      .orderBy('captured_at', 'desc')
      .limit(1)
      .offset(maxRows)
      .executeTakeFirst();
    const counts = rows.map((row) => ({
      version: row.model_version,
      camera: row.camera,
      results: Number(row.results),
    }));
    return { counts, complete: beyond === undefined };
  }
}
