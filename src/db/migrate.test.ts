import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { openDatabase } from './database.js';
import type { DatabaseHandle } from './database.js';
import {
  MIGRATION_TABLE,
  migrateDown,
  migrateToLatest,
  migrationStatus,
  runMigrationCommand,
} from './migrate.js';
import type { SchemaMigration } from './migrations/migration.js';
import { MIGRATIONS } from './migrations/registry.js';

const NAMES = MIGRATIONS.map((m) => m.name);

async function tableNames(handle: DatabaseHandle): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select name from sqlite_master where type = 'table' and name not like 'sqlite_%'
    order by name`.execute(handle.db);
  return rows.map((r) => r.name);
}

describe('the migration registry', () => {
  it('is numbered 0001, 0002, … with unique snake_case names in ascending order', () => {
    NAMES.forEach((name, index) => {
      expect(name).toMatch(/^\d{4}_[a-z0-9_]+$/);
      expect(Number(name.slice(0, 4))).toBe(index + 1);
    });
    // Kysely orders by name; the registry order must be that order.
    expect([...NAMES].sort((a, b) => a.localeCompare(b))).toEqual(NAMES);
    expect(new Set(NAMES).size).toBe(NAMES.length);
  });
});

describe('migrations on a SQLite file', () => {
  let dir: string;
  let url: string;
  let handle: DatabaseHandle;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-migrate-'));
    url = `sqlite://${join(dir, 'vl.db')}`;
    handle = await openDatabase(url);
  });
  afterEach(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies all, reports status, undoes by steps and re-applies', async () => {
    expect((await migrationStatus(handle)).every((s) => s.appliedAt === null)).toBe(true);
    expect(await migrateToLatest(handle)).toEqual(NAMES);
    const status = await migrationStatus(handle);
    expect(status.map((s) => s.name)).toEqual(NAMES);
    expect(status.every((s) => typeof s.appliedAt === 'number')).toBe(true);

    expect(await migrateDown(handle, 0)).toEqual([]);
    // Eight steps undo 0010 … 0003: the jobs (0004) and drift (0003) tables go, 0002's stay.
    expect(NAMES.at(-1)).toBe('0010_inspection_chain_rollouts');
    expect(await tableNames(handle)).toContain('rollouts');
    expect(await migrateDown(handle, 8)).toEqual([...NAMES].reverse().slice(0, 8));
    expect(await tableNames(handle)).not.toContain('rollouts');
    expect(await tableNames(handle)).not.toContain('shadow_predictions');
    expect(await tableNames(handle)).not.toContain('jobs');
    expect(await tableNames(handle)).not.toContain('drift_reports');
    expect(await tableNames(handle)).toContain('labeling_queue');
    expect(await migrateToLatest(handle)).toEqual(NAMES.slice(-8));
    expect(await tableNames(handle)).toContain('jobs');
  });

  it('refuses a database migrated by a newer build, naming the unknown migration', async () => {
    await migrateToLatest(handle);
    await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, timestamp)
      values ('0099_from_the_future', '2030-01-01T00:00:00.000Z')`.execute(handle.db);
    for (const attempt of [() => migrateToLatest(handle), () => migrateDown(handle, 1)]) {
      const failure = await attempt().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(VisionLoopError);
      expect((failure as VisionLoopError).code).toBe('CONFIG_INVALID');
      expect((failure as Error).message).toMatch(/0099_from_the_future.*newer VisionLoop/);
    }
    expect(await tableNames(handle)).toContain('jobs');
  });

  it('reports a failing migration by name and rolls its changes back', async () => {
    const failing: SchemaMigration = {
      name: '0002_broken',
      async up(db) {
        await db.schema.createTable('half_done').addColumn('id', 'text').execute();
        throw new Error('disk on fire');
      },
      async down() {},
    };
    const registry = [MIGRATIONS[0], failing].filter((m) => m !== undefined);
    const failure = await migrateToLatest(handle, registry).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VisionLoopError);
    expect((failure as VisionLoopError).code).toBe('INTERNAL');
    expect((failure as Error).message).toBe('migration 0002_broken (up) failed: disk on fire');
    // Each migration is atomic: 0001 stays applied, nothing of the broken one remains.
    expect(await tableNames(handle)).not.toContain('half_done');
    expect(await tableNames(handle)).toContain('prediction_logs');
    const status = await migrationStatus(handle, registry);
    expect(status.map((s) => [s.name, s.appliedAt === null])).toEqual([
      ['0001_core_ingest', false],
      ['0002_broken', true],
    ]);
  });

  it('rejects a negative or fractional step count', async () => {
    for (const steps of [-1, 1.5]) {
      const failure = await migrateDown(handle, steps).catch((error: unknown) => error);
      expect((failure as VisionLoopError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('runs as a command: status, latest, down', async () => {
    await handle.close();
    const before = await runMigrationCommand(url, 'status');
    expect(before.dialect).toBe('sqlite');
    expect(before.changed).toEqual([]);
    expect(before.status.map((s) => s.appliedAt)).toEqual(NAMES.map(() => null));

    const latest = await runMigrationCommand(url, 'latest');
    expect(latest.changed).toEqual(NAMES);
    const down = await runMigrationCommand(url, 'down', { steps: 1 });
    expect(down.changed).toEqual(NAMES.slice(-1));
    expect(down.status.at(-1)?.appliedAt).toBeNull();
    handle = await openDatabase(url);
  });
});
