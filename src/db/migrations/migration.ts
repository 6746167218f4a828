/**
 * The shape of a VisionLoop schema migration and the column helpers migrations share.
 *
 * Migrations are history: once released, a migration's `up`/`down` never change, so they use
 * literal table and column names and never import the table types in ../schema.ts. The helpers
 * here are part of that history too: change what they emit only by adding a new helper.
 * Migrations use Kysely's schema builder; raw SQL only for expressions (CHECKs, index
 * predicates) that compile the same on both dialects, or behind a `context.dialect` guard.
 */
import { sql } from 'kysely';
import type { ColumnDefinitionBuilder, Kysely } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

export interface MigrationContext {
  readonly dialect: DialectName;
}

export interface SchemaMigration {
  /** `NNNN_snake_case`; the registry runs them in ascending name order. */
  readonly name: string;
  up(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
  /** Undoes `up` exactly, leaving the schema as the previous migration left it. */
  down(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
}

type ColumnBuild = (col: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;

/** A text primary key. NOT NULL is explicit: SQLite otherwise allows NULL in a text key. */
export const textPrimaryKey: ColumnBuild = (col) => col.primaryKey().notNull();

export const required: ColumnBuild = (col) => col.notNull();

/** A 0/1 boolean: integer, NOT NULL, CHECK (name IN (0, 1)), with a default when given. */
export function booleanColumn(name: string, defaultValue?: 0 | 1): ColumnBuild {
  return (col) => {
    const checked = col.notNull().check(sql`${sql.ref(name)} in (0, 1)`);
    return defaultValue === undefined ? checked : checked.defaultTo(defaultValue);
  };
}

/** `<table>_<col>_<col>_idx`, so index names are unique per database on both dialects. */
export function indexName(table: string, columns: readonly string[], suffix = 'idx'): string {
  return `${table}_${columns.join('_')}_${suffix}`;
}

/** Creates a plain (non-unique) index named by `indexName`. */
export async function createIndex(
  db: Kysely<unknown>,
  table: string,
  columns: readonly string[],
): Promise<void> {
  await db.schema
    .createIndex(indexName(table, columns))
    .on(table)
    .columns([...columns])
    .execute();
}
