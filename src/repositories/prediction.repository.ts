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
 * - On PostgreSQL, one statement for both tables, `INSERT … SELECT FROM unnest(…)` with one
 *   array parameter per column (prediction-rows.ts encodes them):
 *   a short, constant statement whatever the batch size.
 * - Otherwise (SQLite without the native handle) the cached statement text is executed
 *   through Kysely's connection inside a Kysely transaction.
 * Both SQLite ways run the same chunk loop (insertStatements).
 * Everything else uses the query builder.
 *
 * No rules here: validation, de-duplication policy and events live in the services.
 *
 * Over 500 lines on purpose: the hot insert and every read of one pair of tables, kept beside
 * each other so that the column lists stay in step.
 */
import { CompiledQuery, sql } from 'kysely';
import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import type { DialectName } from '../db/database.js';
import type {
  Database,
  PredictionClassRow,
  PredictionLogRow,
  ShadowPredictionRow,
} from '../db/schema.js';
import type { Decision, FrameResult } from '../shared/domain.js';
import {
  CLASS_COLUMNS,
  LOG_COLUMNS,
  LOG_COLUMN_PG_TYPES,
  PG_ARRAY_COLUMNS,
  PG_SHADOW_ARRAY_COLUMNS,
  SHADOW_COLUMNS,
  SHADOW_COLUMN_PG_TYPES,
  classRowValues,
  encodePostgresRows,
  putLogRow,
  shadowRowValues,
  type PostgresPredictionRows,
  type SqlValue,
} from './prediction-rows.js';

/** Parameters one statement may bind: SQLite's limit is 32,766 (PostgreSQL's 65,535). */
const MAX_PARAMETERS = 32_000;

/**
 * PostgreSQL's ingest insert: the three tables in one statement. The logs come from one array
 * per column ($3…) with the batch's agent ($1) and receipt time ($2); the class rows (the next
 * three arrays) and the shadow rows (the arrays after them, with $2 as their receipt time) are
 * joined to the ids the first insert actually stored, so a duplicate's classes and shadow are
 * skipped. (Rows a data-modifying WITH inserts are visible to the foreign-key checks that run
 * at the end of the statement.)
 */
const PG_INSERT_BATCH = (() => {
  const firstClassParameter = PG_ARRAY_COLUMNS.length + 3;
  const firstShadowParameter = firstClassParameter + 3;
  const shadowArrays = PG_SHADOW_ARRAY_COLUMNS.map(
    (c, i) => `$${firstShadowParameter + i}::${SHADOW_COLUMN_PG_TYPES[c]}[]`,
  ).join(', ');
  const shadowSelected = SHADOW_COLUMNS.map((c) =>
    c === 'received_at' ? '$2::bigint' : `s.${c}`,
  ).join(', ');
  const arrays = PG_ARRAY_COLUMNS.map((c, i) => `$${i + 3}::${LOG_COLUMN_PG_TYPES[c]}[]`).join(
    ', ',
  );
  const selected = LOG_COLUMNS.map((c) =>
    c === 'agent_id' ? '$1::text' : c === 'received_at' ? '$2::bigint' : `u.${c}`,
  ).join(', ');
  return (
    `with stored as (insert into prediction_logs (${LOG_COLUMNS.join(', ')}) ` +
    `select ${selected} from unnest(${arrays}) as u(${PG_ARRAY_COLUMNS.join(', ')}) ` +
    'on conflict (id) do nothing returning id), ' +
    'classes as (insert into prediction_classes (prediction_id, class_name, captured_at) ' +
    'select c.prediction_id, c.class_name, c.captured_at from unnest(' +
    `$${firstClassParameter}::text[], $${firstClassParameter + 1}::text[], ` +
    `$${firstClassParameter + 2}::bigint[]) as c(prediction_id, class_name, captured_at) ` +
    'join stored on stored.id = c.prediction_id on conflict do nothing), ' +
    `shadows as (insert into shadow_predictions (${SHADOW_COLUMNS.join(', ')}) ` +
    `select ${shadowSelected} from unnest(${shadowArrays}) ` +
    `as s(${PG_SHADOW_ARRAY_COLUMNS.join(', ')}) ` +
    'join stored on stored.id = s.id on conflict (id) do nothing) ' +
    'select id from stored'
  );
})();

/** The largest power of two ≤ n. */
function floorPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** Most rows in one statement: a power of two within the parameter limit. */
export const LOG_ROWS_PER_STATEMENT = floorPowerOfTwo(MAX_PARAMETERS / LOG_COLUMNS.length);
const CLASS_ROWS_PER_STATEMENT = floorPowerOfTwo(MAX_PARAMETERS / CLASS_COLUMNS.length);
export const SHADOW_ROWS_PER_STATEMENT = floorPowerOfTwo(MAX_PARAMETERS / SHADOW_COLUMNS.length);

type IngestTable = 'prediction_logs' | 'prediction_classes' | 'shadow_predictions';

const INSERT_COLUMNS: Record<IngestTable, readonly string[]> = {
  prediction_logs: LOG_COLUMNS,
  prediction_classes: CLASS_COLUMNS,
  shadow_predictions: SHADOW_COLUMNS,
};

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

/** One multi-row insert of SQLite's ingest: `rows` rows of `table`, their values in order. */
interface InsertStatement {
  table: IngestTable;
  rows: number;
  params: SqlValue[];
}

/**
 * SQLite's ingest as a sequence of statements, chunk by chunk: each chunk's log rows, then the
 * class rows of the results that chunk newly stored; last, the shadow rows of every newly
 * stored result that carries one (one statement for a batch of up to
 * SHADOW_ROWS_PER_STATEMENT shadows). It is handed the rows each statement returned (the
 * stored ids of a log insert; nothing for the others) and returns every stored id. The one chunk loop for both ways of running it: synchronously on prepared native
 * statements, or awaited through Kysely.
 */
function* insertStatements(
  results: readonly FrameResult[],
  agentId: string | null,
  receivedAt: number,
): Generator<InsertStatement, Set<string>, readonly { id: string }[]> {
  const stored = new Set<string>();
  let start = 0;
  for (const size of chunkSizes(results.length, LOG_ROWS_PER_STATEMENT)) {
    const chunk = results.slice(start, start + size);
    start += size;
    const params = new Array<SqlValue>(size * LOG_COLUMNS.length);
    let p = 0;
    for (const r of chunk) p = putLogRow(params, p, r, agentId, receivedAt);
    const storedRows = yield { table: 'prediction_logs', rows: size, params };
    for (const row of storedRows) stored.add(row.id);
    const classValues = classRowValues(chunk, stored);
    let offset = 0;
    for (const rowCount of chunkSizes(classValues.length / 3, CLASS_ROWS_PER_STATEMENT)) {
      const end = offset + rowCount * CLASS_COLUMNS.length;
      yield { table: 'prediction_classes', rows: rowCount, params: classValues.slice(offset, end) };
      offset = end;
    }
  }
  const shadowValues = shadowRowValues(results, stored, receivedAt);
  let offset = 0;
  for (const rowCount of chunkSizes(
    shadowValues.length / SHADOW_COLUMNS.length,
    SHADOW_ROWS_PER_STATEMENT,
  )) {
    const end = offset + rowCount * SHADOW_COLUMNS.length;
    yield { table: 'shadow_predictions', rows: rowCount, params: shadowValues.slice(offset, end) };
    offset = end;
  }
  return stored;
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
  /** Results a decision rule with this id failed (`decided_by`). */
  decidedBy?: string;
  /** True: results whose shadow disagreed; false: results whose shadow agreed. */
  shadowDisagrees?: boolean;
  /** Only rows strictly older than this position in (captured_at desc, id desc) order. */
  before?: { capturedAt: number; id: string };
  limit: number;
}

/**
 * A stored result with its shadow's output (`shadow_predictions`, same id) when a shadow ran
 * beside it; the shadow columns are all null otherwise.
 */
export interface PredictionWithShadowRow extends PredictionLogRow {
  shadow_model_version: string | null;
  shadow_detections: string | null;
  shadow_decision: Decision | null;
  shadow_disagreement: number | null;
  shadow_disagrees: number | null;
  shadow_inference_ms: number | null;
}

/** The shadow columns of PredictionWithShadowRow, from the left-joined `s`. */
const SHADOW_SELECTION = [
  's.model_version as shadow_model_version',
  's.detections as shadow_detections',
  's.decision as shadow_decision',
  's.disagreement as shadow_disagreement',
  's.disagrees as shadow_disagrees',
  's.inference_ms as shadow_inference_ms',
] as const;

/** Either page query, at the point the shared filters apply. */
type PageQuery = SelectQueryBuilder<
  Database & { p: PredictionLogRow; s: ShadowPredictionRow; c: PredictionClassRow },
  'p' | 's',
  object
>;

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
   * result and one `shadow_predictions` row for each newly stored result that carries a
   * shadow. Resolves after the commit with the ids this call stored. `results` must not repeat
   * an id.
   */
  async insertResults(
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    if (results.length === 0) return new Set();
    if (this.dialect === 'postgres') {
      return this.insertPostgres(encodePostgresRows(results), agentId, receivedAt);
    }
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
    return this.db
      .transaction()
      .execute((trx) => this.insertThroughKysely(trx, results, agentId, receivedAt));
  }

  /**
   * PostgreSQL: the one statement of PG_INSERT_BATCH, one array per column. Its text never
   * changes with the row count, so the server parses a short statement instead of one with
   * tens of thousands of parameters. (Measured: ~20% faster than passing the batch as one JSON
   * parameter to json_to_recordset.) A single statement is its own transaction.
   */
  private async insertPostgres(
    rows: PostgresPredictionRows,
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    const { rows: stored } = await this.db.executeQuery<{ id: string }>(
      CompiledQuery.raw(PG_INSERT_BATCH, [
        agentId,
        receivedAt,
        ...rows.logColumns,
        ...rows.classColumns,
        ...rows.shadowColumns,
      ]),
    );
    return new Set(stored.map((r) => r.id));
  }

  /** SQLite with the native handle: insertStatements run synchronously on prepared statements. */
  private insertNative(
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Set<string> {
    const statements = insertStatements(results, agentId, receivedAt);
    let next = statements.next();
    while (next.done !== true) {
      const { table, rows, params } = next.value;
      const statement = this.statement(table, rows);
      if (table === 'prediction_logs') {
        next = statements.next(statement.all(params) as { id: string }[]);
      } else {
        statement.run(params);
        next = statements.next([]);
      }
    }
    return next.value;
  }

  /** SQLite without the native handle: insertStatements run through Kysely's transaction. */
  private async insertThroughKysely(
    trx: Transaction<Database>,
    results: readonly FrameResult[],
    agentId: string | null,
    receivedAt: number,
  ): Promise<Set<string>> {
    const statements = insertStatements(results, agentId, receivedAt);
    let next = statements.next();
    while (next.done !== true) {
      const { table, rows, params } = next.value;
      const text = this.insertText(table, rows);
      const answer = await trx.executeQuery<{ id: string }>(CompiledQuery.raw(text, params));
      next = statements.next(answer.rows);
    }
    return next.value;
  }

  private statement(table: IngestTable, rows: number): BetterSqlite3.Statement {
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
   * SQLite's `insert into t (cols) values (?,…),(…) on conflict do nothing [returning id]` for
   * `rows` rows, cached (row counts are powers of two, so the cache stays small). PostgreSQL
   * never uses it: its insert is PG_INSERT_BATCH.
   */
  private insertText(table: IngestTable, rows: number): string {
    const key = `${table}:${rows}`;
    const cached = this.texts.get(key);
    if (cached !== undefined) return cached;
    const columns = INSERT_COLUMNS[table];
    const tuple = `(${columns.map(() => '?').join(',')})`;
    const tuples = new Array<string>(rows).fill(tuple);
    const head = `insert into ${table} (${columns.join(', ')}) values ${tuples.join(',')}`;
    const text =
      table === 'prediction_logs'
        ? `${head} on conflict (id) do nothing returning id`
        : table === 'shadow_predictions'
          ? `${head} on conflict (id) do nothing`
          : `${head} on conflict do nothing`;
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

  /** One stored result by id, with its shadow's output; undefined when none has it. */
  findById(id: string): Promise<PredictionWithShadowRow | undefined> {
    return this.db
      .selectFrom('prediction_logs as p')
      .leftJoin('shadow_predictions as s', 's.id', 'p.id')
      .selectAll('p')
      .select(SHADOW_SELECTION)
      .where('p.id', '=', id)
      .executeTakeFirst();
  }

  /** One page of results with their shadows' outputs, newest first (captured_at desc, id desc). */
  page(filter: PredictionPageFilter): Promise<PredictionWithShadowRow[]> {
    const className = filter.className;
    if (className === undefined) {
      let query = this.db
        .selectFrom('prediction_logs as p')
        .leftJoin('shadow_predictions as s', 's.id', 'p.id')
        .selectAll('p')
        .select(SHADOW_SELECTION);
      if (filter.from !== undefined) query = query.where('p.captured_at', '>=', filter.from);
      if (filter.to !== undefined) query = query.where('p.captured_at', '<', filter.to);
      query = this.commonFilters(query, filter);
      const before = filter.before;
      if (before !== undefined) {
        query = query.where((eb) =>
          eb(eb.refTuple('p.captured_at', 'p.id'), '<', eb.tuple(before.capturedAt, before.id)),
        );
      }
      return query
        .orderBy('p.captured_at', 'desc')
        .orderBy('p.id', 'desc')
        .limit(filter.limit)
        .execute();
    }
    // Driven by the class index (class_name, captured_at, prediction_id): a rare class is
    // one index range, not a scan of every result checking each for the class.
    let query = this.db
      .selectFrom('prediction_classes as c')
      .innerJoin('prediction_logs as p', 'p.id', 'c.prediction_id')
      .leftJoin('shadow_predictions as s', 's.id', 'p.id')
      .selectAll('p')
      .select(SHADOW_SELECTION)
      .where('c.class_name', '=', className);
    if (filter.from !== undefined) query = query.where('c.captured_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('c.captured_at', '<', filter.to);
    query = this.commonFilters(query, filter);
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

  /** The filters both page queries share, on `p` (prediction_logs) and `s` (its shadow). */
  private commonFilters<Q extends PageQuery>(query: Q, filter: PredictionPageFilter): Q {
    let q: PageQuery = query;
    if (filter.camera !== undefined) q = q.where('p.camera', '=', filter.camera);
    if (filter.decision !== undefined) q = q.where('p.decision', '=', filter.decision);
    if (filter.uncertain !== undefined) q = q.where('p.uncertain', '=', filter.uncertain ? 1 : 0);
    if (filter.modelVersion !== undefined) {
      q = q.where('p.model_version', '=', filter.modelVersion);
    }
    if (filter.decidedBy !== undefined) q = q.where('p.decided_by', '=', filter.decidedBy);
    if (filter.shadowDisagrees !== undefined) {
      q = q.where('s.disagrees', '=', filter.shadowDisagrees ? 1 : 0);
    }
    return q as Q;
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
