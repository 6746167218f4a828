/**
 * A PostgreSQL LISTEN/NOTIFY channel: the transport under the event fan-out across server
 * replicas (src/services/fan-out-event-bus.ts). Sends go through the pool (`pg_notify`);
 * receiving holds one dedicated connection in LISTEN, reconnecting with backoff when it drops
 * (messages sent while it is down are not seen: NOTIFY is not a queue).
 *
 * The channel name carries the schema (`visionloop_events:<schema>`), so deployments (and
 * tests) in different schemas of one database never hear each other. It knows nothing of the
 * payloads it carries.
 */
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema.js';

/** NOTIFY payloads must be shorter than 8000 bytes. */
export const NOTIFY_PAYLOAD_LIMIT_BYTES = 7900;

export interface NotifyChannel {
  send(payload: string): Promise<void>;
  /** Starts receiving; resolves once listening. */
  listen(onMessage: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

export interface PgNotifyChannelOptions {
  /** Called when the listening connection fails (it reconnects by itself). */
  onError?: (error: unknown) => void;
  /** Longest wait between reconnection attempts, ms. Default 5000. */
  maxBackoffMs?: number;
}

export class PgNotifyChannel implements NotifyChannel {
  private client: pg.Client | null = null;
  private channel: string | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly connectionString: string,
    private readonly options: PgNotifyChannelOptions = {},
  ) {}

  private async channelName(): Promise<string> {
    if (this.channel !== null) return this.channel;
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(
      this.db,
    );
    this.channel = `visionloop_events:${rows[0]?.schema ?? 'public'}`.slice(0, 63);
    return this.channel;
  }

  async send(payload: string): Promise<void> {
    const channel = await this.channelName();
    await sql`select pg_notify(${channel}, ${payload})`.execute(this.db);
  }

  async listen(onMessage: (payload: string) => void): Promise<void> {
    const channel = await this.channelName();
    await this.connect(channel, onMessage, 0);
  }

  private async connect(
    channel: string,
    onMessage: (payload: string) => void,
    attempt: number,
  ): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'visionloop-events',
    });
    const retry = (error: unknown): void => {
      this.options.onError?.(error);
      if (this.client === client) this.client = null;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      if (this.closed || this.reconnectTimer !== null) return;
      const delay = Math.min(this.options.maxBackoffMs ?? 5000, 100 * 2 ** Math.min(attempt, 10));
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.connect(channel, onMessage, attempt + 1).catch(() => undefined);
      }, delay);
      this.reconnectTimer.unref();
    };
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onMessage(message.payload);
    });
    client.on('error', retry);
    try {
      await client.connect();
      await client.query(`listen ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      if (attempt === 0) {
        // The first connection's failure is the caller's (start-up fails loudly).
        client.removeAllListeners();
        await client.end().catch(() => undefined);
        throw error;
      }
      retry(error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    client.on('end', () => {
      if (!this.closed && this.client === client) retry(new Error('LISTEN connection ended'));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
