/**
 * The Kysely factory: one `openDatabase(url)` for both dialects, so the rest of the server sees
 * a `Kysely<Database>` and a dialect name, never a driver.
 *
 * - SQLite (default): better-sqlite3 with WAL, synchronous=NORMAL, foreign_keys=ON and a busy
 *   timeout, so a server and workers in other processes can share one file. Transactions begin
 *   IMMEDIATE (they take the write lock up front, waiting up to the busy timeout): a deferred
 *   transaction that reads and then writes fails at once with SQLITE_BUSY when another process
 *   committed in between, and the busy timeout cannot help it.
 * - PostgreSQL: a `pg` pool. BIGINT (INT8, oid 20) and NUMERIC (oid 1700) are parsed to JS
 *   numbers on this pool only (pg's global parsers are untouched), so epoch-ms timestamps,
 *   `count(*)` and `avg()` come back as numbers exactly as they do from SQLite. The schema has
 *   no NUMERIC columns; an INT8 beyond ±2^53 (far past any epoch-ms or count) makes the query
 *   fail instead of returning a wrong number. (SQLite returns such values rounded; better-sqlite3
 *   does not check.)
 *
 * It never creates tables: migrations (migrate.ts) do.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, Driver, SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { VisionLoopError, messageOf } from '../shared/errors.js';
import type { DialectName } from './migrations/migration.js';
import type { Database } from './schema.js';

export type { DialectName } from './migrations/migration.js';

export interface OpenDatabaseOptions {
  /** PostgreSQL: most connections in the pool. Default 10. */
  poolMax?: number;
  /** SQLite: how long a writer waits for another process's lock, ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Working directory for relative SQLite paths. Default `process.cwd()`. */
  cwd?: string;
  /**
   * PostgreSQL: called when an idle pooled connection fails (server restart, network cut).
   * The pool drops that connection and the next query reconnects. Default: ignore.
   */
  onPoolError?: (error: Error) => void;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Where the database is, safe to log: a file path, `:memory:`, or a URL without password. */
  readonly location: string;
  /** Closes the connection or pool. Safe to call more than once. */
  close(): Promise<void>;
  /**
   * SQLite only: the better-sqlite3 connection under Kysely, for hot paths that need a
   * statement prepared once (ingest). Use it only while no Kysely transaction is open.
   */
  readonly sqlite?: BetterSqlite3.Database;
}

export type DatabaseLocation =
  | { readonly dialect: 'sqlite'; readonly path: string }
  | { readonly dialect: 'postgres'; readonly connectionString: string };

const MEMORY = ':memory:';
const USAGE = 'use sqlite:///abs/path.db, a file path, :memory:, or postgres://user@host/db';

/**
 * Parses a database URL: `postgres://…`/`postgresql://…`, `sqlite:///abs/path.db`,
 * `sqlite://relative/path.db`, `file:///abs/path.db`, `:memory:` (or `sqlite::memory:`), or a
 * plain file path (relative paths resolve against `cwd`). Anything else is CONFIG_INVALID.
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseLocation {
  const value = url.trim();
  if (value === '') throw new VisionLoopError('CONFIG_INVALID', `database URL is empty; ${USAGE}`);
  if (value === MEMORY || /^sqlite:(\/\/)?:memory:$/i.test(value)) {
    return { dialect: 'sqlite', path: MEMORY };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    if (!URL.canParse(value)) {
      throw new VisionLoopError(
        'CONFIG_INVALID',
        `database URL is not a valid URL: ${redact(value)}`,
      );
    }
    return { dialect: 'postgres', connectionString: value };
  }
  if (/^sqlite:/i.test(value)) {
    let rest = value.slice('sqlite:'.length);
    if (rest.startsWith('//')) rest = rest.slice(2);
    if (rest === '' || /[?#]/.test(rest)) {
      throw new VisionLoopError('CONFIG_INVALID', `bad SQLite URL "${value}"; ${USAGE}`);
    }
    return { dialect: 'sqlite', path: resolve(cwd, decodeURIComponent(rest)) };
  }
  if (/^file:/i.test(value)) {
    try {
      return { dialect: 'sqlite', path: fileURLToPath(value) };
    } catch (error) {
      throw new VisionLoopError('CONFIG_INVALID', `bad file URL "${value}"; ${USAGE}`, {
        cause: error,
      });
    }
  }
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(value)?.[1];
  if (scheme !== undefined) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `unsupported database URL scheme "${scheme}:"; ${USAGE}`,
    );
  }
  return { dialect: 'sqlite', path: resolve(cwd, value) };
}

/** The URL with any password replaced by `***`, for logs and error messages. */
export function redact(url: string): string {
  if (!URL.canParse(url)) return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

/** Opens (creating the file and its directory for SQLite) the database at `url`. */
export async function openDatabase(
  url: string,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  const location = parseDatabaseUrl(url, options.cwd);
  return location.dialect === 'sqlite'
    ? openSqlite(location.path, options)
    : openPostgres(location.connectionString, options);
}

function openSqlite(path: string, options: OpenDatabaseOptions): DatabaseHandle {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (path !== MEMORY) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw new VisionLoopError(
        'CONFIG_INVALID',
        `cannot create the directory for SQLite database ${path}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `cannot open SQLite database ${path}: ${messageOf(error)}`,
      { cause: error },
    );
  }
  try {
    // WAL lets readers run while one writer commits; NORMAL is durable across application
    // crashes under WAL (an OS crash may lose the last commits, never corrupt the file).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
  } catch (error) {
    sqlite.close();
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `${path} is not a usable SQLite database: ${messageOf(error)}`,
      { cause: error },
    );
  }
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', location: path, sqlite, close: closeOnce(() => db.destroy()) };
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** Kysely's SQLite dialect with `BEGIN IMMEDIATE` transactions. */
class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

/** INT8 and NUMERIC as JS numbers, for this pool only. */
function numericTypeParsers(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, 'text', (text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new VisionLoopError(
        'INTERNAL',
        `bigint ${text} is outside the range a JavaScript number holds exactly (±2^53)`,
      );
    }
    return value;
  });
  types.setTypeParser(pg.types.builtins.NUMERIC, 'text', (text: string): number => Number(text));
  return types;
}

async function openPostgres(
  connectionString: string,
  options: OpenDatabaseOptions,
): Promise<DatabaseHandle> {
  const location = redact(connectionString);
  const pool = new pg.Pool({
    connectionString,
    max: options.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'visionloop',
    types: numericTypeParsers(),
  });
  // Without a listener an idle client's error (e.g. the server restarting) crashes the process.
  const onPoolError = options.onPoolError ?? (() => undefined);
  pool.on('error', onPoolError);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `cannot connect to PostgreSQL at ${location}: ${messageOf(error)}`,
      { cause: error },
    );
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', location, close: closeOnce(() => db.destroy()) };
}

function closeOnce(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}
