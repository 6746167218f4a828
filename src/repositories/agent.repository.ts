/**
 * The `agents` table: one row per registered camera agent, updated by its heartbeats.
 * No rules here (identity, online status and settings live in the agent-registry service).
 */
import type { Kysely } from 'kysely';
import type { AgentRow, AgentUpdate, Database, NewAgent } from '../db/schema.js';

export class AgentRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findById(id: string): Promise<AgentRow | undefined> {
    return this.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Inserts the agent unless its id exists. Returns whether it was inserted. */
  async insertIfAbsent(row: NewAgent): Promise<boolean> {
    const result = await this.db
      .insertInto('agents')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  /** Returns whether the agent exists (and was updated). */
  async update(id: string, changes: AgentUpdate): Promise<boolean> {
    const result = await this.db
      .updateTable('agents')
      .set(changes)
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Every agent, by camera then name. */
  list(): Promise<AgentRow[]> {
    return this.db
      .selectFrom('agents')
      .selectAll()
      .orderBy('camera', 'asc')
      .orderBy('name', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }
}
