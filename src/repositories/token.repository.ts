/**
 * The `api_tokens` table. Holds hashes only: the secret never reaches this module.
 * No rules here (who may create or revoke what lives in the auth service).
 */
import type { Kysely } from 'kysely';
import type { ApiTokenRow, ApiTokenScope, Database, NewApiToken } from '../db/schema.js';

/**
 * Token names by id (tokens that no longer exist are absent): how the labeling and dataset
 * repositories name reviewers without each querying api_tokens its own way.
 */
export async function selectTokenNames(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .selectFrom('api_tokens')
    .select(['id', 'name'])
    .where('id', 'in', unique)
    .execute();
  return new Map(rows.map((row) => [row.id, row.name]));
}

export class TokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: NewApiToken): Promise<void> {
    await this.db.insertInto('api_tokens').values(row).execute();
  }

  findByHash(tokenHash: string): Promise<ApiTokenRow | undefined> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }

  findById(id: string): Promise<ApiTokenRow | undefined> {
    return this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Every token, oldest first. */
  list(): Promise<ApiTokenRow[]> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  /** Sets `revoked_at` unless already revoked. Returns whether this call revoked it. */
  async revoke(id: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async touch(id: string, at: number): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .execute();
  }

  /** Tokens of `scope` that are neither revoked nor expired at `now`. */
  async countUsable(scope: ApiTokenScope, now: number): Promise<number> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('scope', '=', scope)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
