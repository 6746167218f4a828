/**
 * The local composition root: what the CLI's commands that work on the database directly
 * (`drift status`, `db migrate`, `dataset`, `token` without `--server`) open instead of a
 * server — the configured database, the blob store and an in-process event bus — wired here
 * so no command builds them itself.
 *
 * A command says how it uses the database: `migrate` brings the schema up to date first (for
 * commands that write); `read-only` never changes the schema (nor creates a SQLite file that
 * is not there): a database with migrations still to apply is a DATABASE_NOT_MIGRATED error
 * that says to run `visionloop db migrate`.
 */
import { existsSync } from 'node:fs';
import type { ServerConfig } from '../config/server.config.js';
import { openDatabase, parseDatabaseUrl, type DatabaseHandle } from '../db/database.js';
import {
  migrateToLatest,
  migrationStatus,
  runMigrationCommand,
  type MigrationAction,
  type MigrationCommandResult,
} from '../db/migrate.js';
import type { BlobStore } from '../repositories/blob-store.js';
import { createBlobStore } from './blob-store.main.js';
import { InProcessEventBus, type EventBus } from '../services/event-bus.js';
import { VisionLoopError } from '../shared/errors.js';

export type { MigrationCommandResult };

/** `migrate`: apply pending migrations first; `read-only`: refuse a database behind. */
export type LocalAccess = 'migrate' | 'read-only';

export interface LocalState {
  readonly database: DatabaseHandle;
  readonly blobStore: BlobStore;
  readonly events: EventBus;
  /** Closes the database. Safe to call more than once. */
  close(): Promise<void>;
}

/** Opens the configured database (see the module comment for `access`), blob store and bus. */
export async function openLocalState(
  config: ServerConfig,
  access: LocalAccess,
): Promise<LocalState> {
  if (access === 'read-only') assertDatabaseExists(config.databaseUrl);
  const database = await openDatabase(config.databaseUrl);
  try {
    if (access === 'migrate') await migrateToLatest(database);
    else await assertMigrated(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    database,
    blobStore: createBlobStore(config.blobStorage),
    events: new InProcessEventBus(),
    close: () => database.close(),
  };
}

/** `visionloop db migrate`: applies, undoes or (`status`, which never changes it) lists. */
export function runLocalMigrations(
  config: ServerConfig,
  action: MigrationAction,
  steps?: number,
): Promise<MigrationCommandResult> {
  return runMigrationCommand(config.databaseUrl, action, { steps });
}

function assertDatabaseExists(url: string): void {
  const location = parseDatabaseUrl(url);
  if (location.dialect !== 'sqlite' || location.path === ':memory:') return;
  if (!existsSync(location.path)) {
    throw new VisionLoopError(
      'DATABASE_NOT_MIGRATED',
      `no database at ${location.path}: start the server or run \`visionloop db migrate\` first`,
    );
  }
}

async function assertMigrated(database: DatabaseHandle): Promise<void> {
  const status = await migrationStatus(database);
  const pending = status.filter((migration) => migration.appliedAt === null);
  if (pending.length === 0) return;
  throw new VisionLoopError(
    'DATABASE_NOT_MIGRATED',
    `the database at ${database.location} has ${pending.length} of ${status.length} ` +
      `migrations still to apply (${pending.map((m) => m.name).join(', ')}); this command only ` +
      'reads it: run `visionloop db migrate` (or start the server) first',
  );
}
