/**
 * Runs the schema migrations of ./migrations/registry.ts with Kysely's Migrator, on either
 * dialect. The provider hands Kysely the static registry (no directory scan). Kysely records
 * applied names in `kysely_migration` and serializes concurrent migrators (a PostgreSQL
 * advisory lock; SQLite's single writer), so several server replicas may start at once.
 *
 * It never edits data outside a migration, and it refuses to touch a database that a newer
 * build has migrated.
 */
import { inspect } from 'node:util';
import { Migrator, NO_MIGRATIONS, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider, MigrationResultSet } from 'kysely';
import { VisionLoopError } from '../shared/errors.js';
import { openDatabase } from './database.js';
import type { DatabaseHandle, OpenDatabaseOptions } from './database.js';
import { MIGRATIONS } from './migrations/registry.js';
import type { MigrationContext, SchemaMigration } from './migrations/migration.js';

/** The table where Kysely records applied migrations. Never rename it. */
export const MIGRATION_TABLE = 'kysely_migration';

type MigratableDatabase = Pick<DatabaseHandle, 'db' | 'dialect'>;

export interface MigrationState {
  name: string;
  /** Epoch ms when it was applied; null when pending. */
  appliedAt: number | null;
}

class StaticMigrationProvider implements MigrationProvider {
  constructor(
    private readonly migrations: readonly SchemaMigration[],
    private readonly context: MigrationContext,
  ) {}

  getMigrations(): Promise<Record<string, Migration>> {
    const entries = this.migrations.map((migration): [string, Migration] => [
      migration.name,
      {
        up: (db) => this.atomically(db, (trx) => migration.up(trx, this.context)),
        down: (db) => this.atomically(db, (trx) => migration.down(trx, this.context)),
      },
    ]);
    return Promise.resolve(Object.fromEntries(entries));
  }

  /**
   * Kysely runs a whole batch in one transaction on PostgreSQL but none on SQLite (its adapter
   * declares no transactional DDL, although SQLite has it). Each SQLite migration gets its own
   * transaction, so a failing one leaves no half-made tables and can simply be run again.
   */
  private atomically(
    db: Kysely<unknown>,
    run: (db: Kysely<unknown>) => Promise<void>,
  ): Promise<void> {
    return this.context.dialect === 'sqlite' ? db.transaction().execute(run) : run(db);
  }
}

async function migratorFor(
  handle: MigratableDatabase,
  migrations: readonly SchemaMigration[] = MIGRATIONS,
): Promise<Migrator> {
  return new Migrator({
    db: handle.db,
    provider: new StaticMigrationProvider(migrations, { dialect: handle.dialect }),
    // Kysely checks whether its table exists by introspecting every schema; naming the schema
    // our unqualified tables resolve to keeps a table of the same name in another schema
    // (another deployment, a parallel test) from being mistaken for ours.
    migrationTableSchema: handle.dialect === 'postgres' ? await currentSchema(handle) : undefined,
  });
}

async function currentSchema(handle: MigratableDatabase): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(
    handle.db,
  );
  const schema = rows[0]?.schema;
  if (schema == null) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      'PostgreSQL has no current schema: the search_path names no existing schema',
    );
  }
  return schema;
}

/** Applies every pending migration. Returns the names applied, in order. */
export async function migrateToLatest(
  handle: MigratableDatabase,
  migrations: readonly SchemaMigration[] = MIGRATIONS,
): Promise<string[]> {
  await assertNotNewer(handle, migrations);
  const migrator = await migratorFor(handle, migrations);
  return unwrap(await migrator.migrateToLatest(), 'up');
}

/**
 * Undoes the last `steps` applied migrations (all of them when `steps` exceeds the count).
 * Returns the names undone, most recent first.
 */
export async function migrateDown(
  handle: MigratableDatabase,
  steps = 1,
  migrations: readonly SchemaMigration[] = MIGRATIONS,
): Promise<string[]> {
  if (!Number.isInteger(steps) || steps < 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `steps must be a whole number ≥ 0, not ${steps}`);
  }
  await assertNotNewer(handle, migrations);
  const migrator = await migratorFor(handle, migrations);
  const applied = (await migrator.getMigrations()).filter((m) => m.executedAt !== undefined);
  if (steps === 0 || applied.length === 0) return [];
  const target = applied[applied.length - 1 - steps]?.name ?? NO_MIGRATIONS;
  return unwrap(await migrator.migrateTo(target), 'down');
}

/** Every known migration in order, with when it was applied. */
export async function migrationStatus(
  handle: MigratableDatabase,
  migrations: readonly SchemaMigration[] = MIGRATIONS,
): Promise<MigrationState[]> {
  const infos = await (await migratorFor(handle, migrations)).getMigrations();
  return infos.map((info) => ({
    name: info.name,
    appliedAt: info.executedAt === undefined ? null : info.executedAt.getTime(),
  }));
}

export type MigrationAction = 'latest' | 'down' | 'status';

export interface MigrationCommandResult {
  dialect: DatabaseHandle['dialect'];
  location: string;
  /** Migrations applied (`latest`) or undone (`down`, most recent first). */
  changed: string[];
  status: MigrationState[];
}

/**
 * What a `visionloop db migrate` command runs: opens `url`, applies (`latest`), undoes `steps`
 * (`down`) or only reports (`status`), and closes the database.
 */
export async function runMigrationCommand(
  url: string,
  action: MigrationAction,
  options: OpenDatabaseOptions & { steps?: number } = {},
): Promise<MigrationCommandResult> {
  const handle = await openDatabase(url, options);
  try {
    let changed: string[] = [];
    switch (action) {
      case 'latest':
        changed = await migrateToLatest(handle);
        break;
      case 'down':
        changed = await migrateDown(handle, options.steps ?? 1);
        break;
      case 'status':
        break;
    }
    return {
      dialect: handle.dialect,
      location: handle.location,
      changed,
      status: await migrationStatus(handle),
    };
  } finally {
    await handle.close();
  }
}

/** Names recorded in the migration table, or [] when it does not exist yet. */
async function recordedMigrationNames(handle: MigratableDatabase): Promise<string[]> {
  let exists: boolean;
  if (handle.dialect === 'postgres') {
    // to_regclass resolves through the search path, as Kysely's unqualified table name does.
    const { rows } = await sql<{ found: string | null }>`
      select to_regclass(${MIGRATION_TABLE}::text)::text as found`.execute(handle.db);
    exists = rows[0]?.found != null;
  } else {
    const found = await handle.db
      .withTables<{ sqlite_master: { name: string; type: string } }>()
      .selectFrom('sqlite_master')
      .select('name')
      .where('type', '=', 'table')
      .where('name', '=', MIGRATION_TABLE)
      .executeTakeFirst();
    exists = found !== undefined;
  }
  if (!exists) return [];
  const rows = await handle.db
    .withTables<{ [MIGRATION_TABLE]: { name: string } }>()
    .selectFrom(MIGRATION_TABLE)
    .select('name')
    .execute();
  return rows.map((row) => row.name);
}

async function assertNotNewer(
  handle: MigratableDatabase,
  migrations: readonly SchemaMigration[],
): Promise<void> {
  const known = new Set(migrations.map((m) => m.name));
  const unknown = (await recordedMigrationNames(handle)).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `the database has migrations this build does not know (${unknown.sort().join(', ')}): ` +
        'it was migrated by a newer VisionLoop. Run that version, or restore a backup.',
    );
  }
}

function unwrap(result: MigrationResultSet, direction: 'up' | 'down'): string[] {
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    const what =
      failed === undefined ? `migrating ${direction}` : `migration ${failed} (${direction})`;
    const message = result.error instanceof Error ? result.error.message : inspect(result.error);
    throw new VisionLoopError('INTERNAL', `${what} failed: ${message}`, { cause: result.error });
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
