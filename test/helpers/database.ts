/**
 * Fresh, isolated test databases of either dialect, opened through the product's own factory
 * (src/db/database.ts) so tests exercise the real pragmas and type parsers.
 *
 * - SQLite: a new file in a new temp directory, deleted by `cleanup()`.
 * - PostgreSQL: a new schema (`vl_test_…`) on the server named by
 *   `VISIONLOOP_TEST_DATABASE_URL`, else `DATABASE_URL` when it is a postgres URL, else the URL
 *   the global setup provided; connections get `search_path` set to that schema, so parallel
 *   test files never see each other's tables. `cleanup()` drops the schema. Nothing outside
 *   the schemas it created is ever touched.
 *
 * Test-only: never imported by src/.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import type { DatabaseHandle, DialectName } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type {} from './postgres-global-setup.js';

export interface TestDatabase extends DatabaseHandle {
  /** The URL it was opened with (another handle on the same database can open it too). */
  readonly url: string;
  /** Closes the handle and deletes the database (file or schema). Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Apply every migration before returning. Default true. */
  migrate?: boolean;
}

export interface DatabaseTarget {
  readonly dialect: DialectName;
  /** False when no PostgreSQL server was given; the suite for it should be skipped. */
  readonly available: boolean;
  open(options?: TestDatabaseOptions): Promise<TestDatabase>;
}

function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** The PostgreSQL server tests may use, or undefined when none was given. */
export function postgresTestUrl(): string | undefined {
  const candidates = [
    process.env.VISIONLOOP_TEST_DATABASE_URL,
    process.env.DATABASE_URL,
    inject('visionloopPostgresUrl'),
  ];
  return candidates.find(isPostgresUrl);
}

async function finish(handle: TestDatabase, options: TestDatabaseOptions): Promise<TestDatabase> {
  if (options.migrate ?? true) {
    try {
      await migrateToLatest(handle);
    } catch (error) {
      await handle.cleanup();
      throw error;
    }
  }
  return handle;
}

export async function openSqliteTestDatabase(
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'visionloop-db-test-'));
  const url = `sqlite://${join(dir, 'visionloop.db')}`;
  const handle = await openDatabase(url);
  let cleaned = false;
  return finish(
    {
      ...handle,
      url,
      async cleanup() {
        if (cleaned) return;
        cleaned = true;
        await handle.close();
        rmSync(dir, { recursive: true, force: true });
      },
    },
    options,
  );
}

/** A URL that opens `baseUrl`'s database with `schema` first in the search path. */
function withSearchPath(baseUrl: string, schema: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export async function openPostgresTestDatabase(
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const baseUrl = postgresTestUrl();
  if (baseUrl === undefined) {
    throw new Error('no PostgreSQL server: set VISIONLOOP_TEST_DATABASE_URL or DATABASE_URL');
  }
  const schema = `vl_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase(baseUrl, { poolMax: 1 });
  try {
    await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  } catch (error) {
    await admin.close();
    throw error;
  }
  const url = withSearchPath(baseUrl, schema);
  let handle: DatabaseHandle;
  try {
    handle = await openDatabase(url, { poolMax: 4 });
  } catch (error) {
    await sql`drop schema ${sql.id(schema)} cascade`.execute(admin.db);
    await admin.close();
    throw error;
  }
  let cleaned = false;
  return finish(
    {
      ...handle,
      url,
      async cleanup() {
        if (cleaned) return;
        cleaned = true;
        await handle.close();
        try {
          await sql`drop schema ${sql.id(schema)} cascade`.execute(admin.db);
        } finally {
          await admin.close();
        }
      },
    },
    options,
  );
}

let warned = false;

/**
 * The dialects an integration suite runs on: SQLite always, PostgreSQL when a server was given
 * (otherwise marked unavailable, with a loud warning once per test file).
 */
export function databaseTargets(): DatabaseTarget[] {
  const postgresAvailable = postgresTestUrl() !== undefined;
  if (!postgresAvailable && !warned) {
    warned = true;
    console.warn(
      '\n*** PostgreSQL integration tests SKIPPED: no server given. Set ' +
        'VISIONLOOP_TEST_POSTGRES=1 (starts a throwaway cluster) or ' +
        'VISIONLOOP_TEST_DATABASE_URL=postgres://… to run them. ***\n',
    );
  }
  return [
    { dialect: 'sqlite', available: true, open: openSqliteTestDatabase },
    { dialect: 'postgres', available: postgresAvailable, open: openPostgresTestDatabase },
  ];
}

/** Names of the user tables in the handle's database (its schema, on PostgreSQL), sorted. */
export async function listTables(handle: DatabaseHandle): Promise<string[]> {
  const { rows } =
    handle.dialect === 'postgres'
      ? await sql<{ name: string }>`
          select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(handle.db)
      : await sql<{ name: string }>`
          select name from sqlite_master
          where type = 'table' and name not like 'sqlite_%'`.execute(handle.db);
  return rows.map((row) => row.name).sort();
}

/** Names of the explicitly created indexes (not primary keys or UNIQUE column constraints). */
export async function listIndexes(handle: DatabaseHandle): Promise<string[]> {
  const { rows } =
    handle.dialect === 'postgres'
      ? await sql<{ name: string }>`
          select i.indexname as name from pg_indexes i
          where i.schemaname = current_schema()
            and not exists (
              select 1 from pg_constraint c
              where c.conname = i.indexname and c.connamespace = current_schema()::regnamespace
            )`.execute(handle.db)
      : await sql<{ name: string }>`
          select name from sqlite_master where type = 'index' and sql is not null`.execute(
          handle.db,
        );
  return rows.map((row) => row.name).sort();
}
