/**
 * The agent's durable outbox: a local SQLite file where every frame result is written before
 * anything tries to send it, and where it stays until the server has acknowledged it. Sampled
 * frames (JPEG bytes) sit in a second table and become uploadable once their result has been
 * acknowledged (the server answers 404 for a frame whose result it does not have yet).
 *
 * Over 500 lines on purpose: one class owning one SQLite file; the shedding and disk-full
 * paths share its transactions and byte accounting.
 *
 * Durability: WAL journal with synchronous=FULL. In WAL mode NORMAL survives a process crash
 * but a power cut can roll back the last commits, i.e. lose results the outbox had already
 * taken over from the pipeline; FULL fsyncs the WAL at every commit, and appends are batched
 * (one commit per flush of the writer, a few per second), so it costs a handful of fsyncs a
 * second. The file is opened with an exclusive lock, so two agents can never share an outbox.
 *
 * Disk bound: the outbox accounts the bytes of what it stores (payload plus a per-row
 * overhead) and never keeps more than `maxBytes`. When an append would exceed the bound it
 * sheds, in this order: frames, oldest first; then results, oldest first. Every shed row is
 * counted in the file itself, so the counters survive restarts (they are reported in
 * heartbeats as shedCount). If the disk itself is full (SQLITE_FULL or an I/O error), it
 * makes room in the same order — stored frames, then the new frames, then the oldest results —
 * and tries again; only if that fails too are the new results counted as shed.
 *
 * It never talks to the network and never decides what is sent when: the sender does.
 * All calls are synchronous (a local file; each is a single short transaction).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { agentSettingsSchema, type AgentSettings } from '../shared/api/agents.js';
import type { FrameResult } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

/** Default disk budget of an outbox: 256 MiB. */
export const DEFAULT_OUTBOX_MAX_BYTES = 256 * 1024 * 1024;

/** Bytes accounted per row beyond its payload: the row header, the id and its index entry. */
export const ROW_OVERHEAD_BYTES = 64;

const SCHEMA_VERSION = 1;

export interface OutboxEntry {
  result: FrameResult;
  /** The frame's JPEG when the upload policy sampled it. */
  jpeg?: Uint8Array | null;
}

export interface PendingResult {
  seq: number;
  id: string;
  /** The result as JSON text, exactly as it goes on the wire. */
  body: string;
  /** When the outbox took it, epoch ms. */
  storedAt: number;
}

export interface PendingFrame {
  seq: number;
  resultId: string;
  jpeg: Buffer;
}

export interface AppendOutcome {
  /** New results stored (an id already in the outbox is not stored twice). */
  appended: number;
  framesAppended: number;
  /** Rows shed by this append to stay within the bound. */
  shedResults: number;
  shedFrames: number;
}

export interface OutboxStats {
  path: string;
  /** Results waiting for the server's acknowledgement. */
  pendingResults: number;
  /** Frames stored (waiting for their result's acknowledgement or for upload). */
  pendingFrames: number;
  /** Accounted bytes in use, and the bound. */
  bytes: number;
  maxBytes: number;
  /** Rows shed to stay within the bound, over the life of this outbox file. */
  shedResults: number;
  shedFrames: number;
  /** Rows the server refused for good (a 4xx), over the life of this outbox file. */
  rejectedResults: number;
  rejectedFrames: number;
  /** Results the server acknowledged, over the life of this outbox file. */
  acknowledgedResults: number;
  uploadedFrames: number;
}

export interface OutboxOptions {
  /** Disk budget in bytes; default DEFAULT_OUTBOX_MAX_BYTES. */
  maxBytes?: number;
  /** Warnings for a person (disk full); default: ignored. */
  onWarning?: (message: string) => void;
  /**
   * SQLite's max_page_count for this file: a hard cap under the byte budget. Appends beyond it
   * fail as on a full disk, which is how the tests exercise that path. Default: none.
   */
  maxPageCount?: number;
}

const COUNTERS = [
  'shed_results',
  'shed_frames',
  'rejected_results',
  'rejected_frames',
  'acknowledged_results',
  'uploaded_frames',
] as const;
type CounterName = (typeof COUNTERS)[number];

interface Totals {
  results: number;
  resultBytes: number;
  frames: number;
  frameBytes: number;
}

function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || (typeof code === 'string' && code.startsWith('SQLITE_IOERR'));
}

export class Outbox {
  readonly path: string;
  readonly maxBytes: number;
  private readonly db: BetterSqlite3.Database;
  private readonly onWarning: (message: string) => void;
  private readonly counters = new Map<CounterName, number>();
  private readonly totals: Totals;
  private closed = false;
  private readonly sql: ReturnType<Outbox['prepare']>;

  /**
   * Opens (creating when needed) the outbox at `path` and takes its lock.
   * @throws VisionLoopError CONFLICT when another agent holds the file, CONFIG_INVALID when it
   *   is not an outbox this version understands or cannot be opened.
   */
  static open(path: string, options: OutboxOptions = {}): Outbox {
    return new Outbox(path, options);
  }

  private constructor(path: string, options: OutboxOptions) {
    const maxBytes = options.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `outbox size must be ≥ 1 byte, got ${maxBytes}`,
      );
    }
    this.path = path;
    this.maxBytes = maxBytes;
    this.onWarning = options.onWarning ?? (() => undefined);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let db: BetterSqlite3.Database;
    try {
      db = new BetterSqlite3(path, { timeout: 250 });
    } catch (error) {
      throw new VisionLoopError(
        'CONFIG_INVALID',
        `cannot open the outbox ${path}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    this.db = db;
    try {
      // Exclusive locking before WAL: the lock is held for the life of the connection (one
      // agent per outbox) and no shared-memory index is needed.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // Keep the WAL from staying large after a burst (the bound counts the database only).
      db.pragma('journal_size_limit = 4194304');
      if (options.maxPageCount !== undefined) {
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxPageCount))}`);
      }
      this.migrate();
    } catch (error) {
      db.close();
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new VisionLoopError(
          'CONFLICT',
          `the outbox ${path} is in use by another agent; give each agent its own --outbox`,
          { cause: error },
        );
      }
      if (error instanceof VisionLoopError) throw error;
      throw new VisionLoopError(
        'CONFIG_INVALID',
        `cannot open the outbox ${path}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    this.sql = this.prepare();
    for (const name of COUNTERS) {
      const row = this.sql.getCounter.get(name) as { value: number } | undefined;
      this.counters.set(name, row?.value ?? 0);
    }
    const results = this.sql.resultTotals.get() as { n: number; bytes: number };
    const frames = this.sql.frameTotals.get() as { n: number; bytes: number };
    this.totals = {
      results: results.n,
      resultBytes: results.bytes,
      frames: frames.n,
      frameBytes: frames.bytes,
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new VisionLoopError(
        'CONFIG_INVALID',
        `the outbox ${this.path} was written by a newer agent (schema ${version}); use a newer agent or another --outbox`,
      );
    }
    if (version === SCHEMA_VERSION) {
      // Take the write lock now, so a second agent fails here rather than at its first append.
      this.db.exec('BEGIN IMMEDIATE; COMMIT');
      return;
    }
    this.db.exec(`
      BEGIN IMMEDIATE;
      CREATE TABLE IF NOT EXISTS results (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        stored_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS frames (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        result_id TEXT NOT NULL UNIQUE,
        jpeg BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        ready INTEGER NOT NULL DEFAULT 0,
        stored_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS frames_ready ON frames (ready, seq);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      PRAGMA user_version = ${SCHEMA_VERSION};
      COMMIT;
    `);
  }

  private prepare() {
    const db = this.db;
    return {
      getCounter: db.prepare('SELECT value FROM counters WHERE name = ?'),
      addCounter: db.prepare(
        'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
      ),
      resultTotals: db.prepare(
        'SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM results',
      ),
      frameTotals: db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM frames'),
      insertResult: db.prepare(
        'INSERT OR IGNORE INTO results (id, body, bytes, stored_at) VALUES (?, ?, ?, ?)',
      ),
      insertFrame: db.prepare(
        'INSERT OR IGNORE INTO frames (result_id, jpeg, bytes, stored_at) VALUES (?, ?, ?, ?)',
      ),
      peekResults: db.prepare(
        'SELECT seq, id, body, stored_at AS storedAt FROM results ORDER BY seq LIMIT ?',
      ),
      oldestResults: db.prepare('SELECT seq, bytes FROM results ORDER BY seq LIMIT ?'),
      oldestFrames: db.prepare('SELECT seq, bytes FROM frames ORDER BY seq LIMIT ?'),
      deleteResultsUpTo: db.prepare('DELETE FROM results WHERE seq <= ? RETURNING id, bytes'),
      deleteFramesUpTo: db.prepare('DELETE FROM frames WHERE seq <= ?'),
      deleteResult: db.prepare('DELETE FROM results WHERE seq = ? RETURNING id, bytes'),
      markFrameReady: db.prepare('UPDATE frames SET ready = 1 WHERE result_id = ?'),
      deleteFrameOf: db.prepare('DELETE FROM frames WHERE result_id = ? RETURNING bytes'),
      peekFrames: db.prepare(
        'SELECT seq, result_id AS resultId, jpeg FROM frames WHERE ready = 1 ORDER BY seq LIMIT ?',
      ),
      deleteFrame: db.prepare('DELETE FROM frames WHERE seq = ? RETURNING bytes'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  private bump(name: CounterName, by: number): void {
    if (by === 0) return;
    this.sql.addCounter.run(name, by);
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  private get bytes(): number {
    return this.totals.resultBytes + this.totals.frameBytes;
  }

  /**
   * Stores results (and their frames) in one transaction, in the order given, then sheds
   * what the bound requires. Never throws for a full disk: what cannot be stored is counted
   * as shed.
   */
  append(entries: readonly OutboxEntry[], now = Date.now()): AppendOutcome {
    this.assertOpen();
    if (entries.length === 0) {
      return { appended: 0, framesAppended: 0, shedResults: 0, shedFrames: 0 };
    }
    const attempt = (list: readonly OutboxEntry[]): AppendOutcome | null => {
      try {
        return this.appendOnce(list, now);
      } catch (error) {
        if (!isDiskFull(error)) throw error;
        return null;
      }
    };
    const first = attempt(entries);
    if (first) return first;
    this.onWarning(`outbox ${this.path}: the disk is full; shedding to make room`);
    const size = (list: readonly OutboxEntry[]) =>
      list.reduce((sum, e) => sum + JSON.stringify(e.result).length + (e.jpeg?.length ?? 0), 0);
    // Same order as the bound: frames first (room for twice this append)…
    const freedFrames = this.transaction(() => this.shedBytes(2 * size(entries), 'frames'));
    const second = attempt(entries);
    if (second) return withShed(second, freedFrames);
    // …then keep the new results without their frames…
    const bare = entries.map(({ result }) => ({ result, jpeg: null }));
    const newFrames = entries.filter((entry) => entry.jpeg && entry.jpeg.length > 0).length;
    const third = attempt(bare);
    if (third) {
      this.transaction(() => this.bump('shed_frames', newFrames));
      return withShed(third, {
        results: freedFrames.results,
        frames: freedFrames.frames + newFrames,
      });
    }
    // …then the oldest results (at least a tenth of the content).
    const freed = this.transaction(() =>
      this.shedBytes(Math.max(Math.ceil(this.bytes / 10), 2 * size(bare)), 'all'),
    );
    const fourth = attempt(bare);
    const shedBefore = {
      results: freedFrames.results + freed.results,
      frames: freedFrames.frames + freed.frames + newFrames,
    };
    if (fourth) {
      this.transaction(() => this.bump('shed_frames', newFrames));
      return withShed(fourth, shedBefore);
    }
    this.onWarning(
      `outbox ${this.path}: the disk is still full; ${entries.length} new results are lost (counted as shed)`,
    );
    const lost = { results: entries.length, frames: newFrames };
    try {
      this.transaction(() => {
        this.bump('shed_results', lost.results);
        this.bump('shed_frames', lost.frames);
      });
    } catch {
      // Even the counters cannot be written; keep them in memory for this run.
      this.counters.set('shed_results', (this.counters.get('shed_results') ?? 0) + lost.results);
      this.counters.set('shed_frames', (this.counters.get('shed_frames') ?? 0) + lost.frames);
    }
    return {
      appended: 0,
      framesAppended: 0,
      shedResults: shedBefore.results + lost.results,
      // shedBefore already counts the new frames (lost.frames): not twice.
      shedFrames: shedBefore.frames,
    };
  }

  private appendOnce(entries: readonly OutboxEntry[], now: number): AppendOutcome {
    return this.transaction(() => {
      let appended = 0;
      let framesAppended = 0;
      for (const { result, jpeg } of entries) {
        const body = JSON.stringify(result);
        const bytes = Buffer.byteLength(body) + result.id.length + ROW_OVERHEAD_BYTES;
        if (this.sql.insertResult.run(result.id, body, bytes, now).changes === 0) continue;
        appended++;
        this.totals.results++;
        this.totals.resultBytes += bytes;
        if (jpeg && jpeg.length > 0) {
          const frameBytes = jpeg.length + result.id.length + ROW_OVERHEAD_BYTES;
          if (this.sql.insertFrame.run(result.id, jpeg, frameBytes, now).changes > 0) {
            framesAppended++;
            this.totals.frames++;
            this.totals.frameBytes += frameBytes;
          }
        }
      }
      const shed = this.shedBytes(this.bytes - this.maxBytes);
      return { appended, framesAppended, shedResults: shed.results, shedFrames: shed.frames };
    });
  }

  /** Frees at least `excess` accounted bytes: frames oldest first, then results oldest first. */
  private shedBytes(
    excess: number,
    scope: 'frames' | 'all' = 'all',
  ): { results: number; frames: number } {
    let remaining = excess;
    let frames = 0;
    let results = 0;
    while (remaining > 0 && this.totals.frames > 0) {
      const rows = this.sql.oldestFrames.all(256) as { seq: number; bytes: number }[];
      const cut = cutAt(rows, remaining);
      if (!cut) break;
      this.sql.deleteFramesUpTo.run(cut.seq);
      frames += cut.count;
      remaining -= cut.bytes;
      this.totals.frames -= cut.count;
      this.totals.frameBytes -= cut.bytes;
    }
    while (scope === 'all' && remaining > 0 && this.totals.results > 0) {
      const rows = this.sql.oldestResults.all(256) as { seq: number; bytes: number }[];
      const cut = cutAt(rows, remaining);
      if (!cut) break;
      const deleted = this.sql.deleteResultsUpTo.all(cut.seq) as { id: string; bytes: number }[];
      // Frames go first, so none should be left for these results; a leftover could never be
      // uploaded (its result is gone), so it goes too.
      for (const row of deleted) frames += this.dropFrameOf(row.id);
      results += deleted.length;
      remaining -= cut.bytes;
      this.totals.results -= deleted.length;
      this.totals.resultBytes -= deleted.reduce((sum, row) => sum + row.bytes, 0);
    }
    this.bump('shed_frames', frames);
    this.bump('shed_results', results);
    return { results, frames };
  }

  private dropFrameOf(resultId: string): number {
    const row = this.sql.deleteFrameOf.get(resultId) as { bytes: number } | undefined;
    if (!row) return 0;
    this.totals.frames--;
    this.totals.frameBytes -= row.bytes;
    return 1;
  }

  /** The oldest results waiting for acknowledgement, in the order they were appended. */
  peekResults(limit: number): PendingResult[] {
    this.assertOpen();
    return this.sql.peekResults.all(limit) as PendingResult[];
  }

  /**
   * The server acknowledged these results: they leave the outbox and their frames become
   * uploadable. Seqs no longer present (shed meanwhile) are ignored. Returns how many left.
   */
  acknowledgeResults(seqs: readonly number[]): number {
    return this.removeResults(seqs, 'acknowledged');
  }

  /** The server refused these results for good: they leave the outbox with their frames. */
  rejectResults(seqs: readonly number[]): number {
    return this.removeResults(seqs, 'rejected');
  }

  private removeResults(seqs: readonly number[], outcome: 'acknowledged' | 'rejected'): number {
    this.assertOpen();
    return this.transaction(() => {
      let removed = 0;
      let framesDropped = 0;
      for (const seq of seqs) {
        const row = this.sql.deleteResult.get(seq) as { id: string; bytes: number } | undefined;
        if (!row) continue;
        removed++;
        this.totals.results--;
        this.totals.resultBytes -= row.bytes;
        if (outcome === 'acknowledged') this.sql.markFrameReady.run(row.id);
        else framesDropped += this.dropFrameOf(row.id);
      }
      if (outcome === 'acknowledged') this.bump('acknowledged_results', removed);
      else {
        this.bump('rejected_results', removed);
        this.bump('rejected_frames', framesDropped);
      }
      return removed;
    });
  }

  /** Frames whose result the server has, oldest first. */
  peekFrames(limit: number): PendingFrame[] {
    this.assertOpen();
    return this.sql.peekFrames.all(limit) as PendingFrame[];
  }

  /** The frame was uploaded (`uploaded`) or refused for good (`rejected`): it leaves. */
  removeFrame(seq: number, outcome: 'uploaded' | 'rejected'): boolean {
    this.assertOpen();
    return this.transaction(() => {
      const row = this.sql.deleteFrame.get(seq) as { bytes: number } | undefined;
      if (!row) return false;
      this.totals.frames--;
      this.totals.frameBytes -= row.bytes;
      this.bump(outcome === 'uploaded' ? 'uploaded_frames' : 'rejected_frames', 1);
      return true;
    });
  }

  /** The last settings the server sent, kept so a restart during an outage still uses them. */
  loadSettings(): AgentSettings | null {
    this.assertOpen();
    const row = this.sql.getMeta.get('settings') as { value: string } | undefined;
    if (!row) return null;
    try {
      const parsed = agentSettingsSchema.safeParse(JSON.parse(row.value));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  saveSettings(settings: AgentSettings): void {
    this.assertOpen();
    this.sql.setMeta.run('settings', JSON.stringify(settings));
  }

  stats(): OutboxStats {
    const count = (name: CounterName) => this.counters.get(name) ?? 0;
    return {
      path: this.path,
      pendingResults: this.totals.results,
      pendingFrames: this.totals.frames,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      shedResults: count('shed_results'),
      shedFrames: count('shed_frames'),
      rejectedResults: count('rejected_results'),
      rejectedFrames: count('rejected_frames'),
      acknowledgedResults: count('acknowledged_results'),
      uploadedFrames: count('uploaded_frames'),
    };
  }

  /** Closes the file (checkpointing the WAL). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs `work` in one IMMEDIATE transaction; on failure the in-memory tallies roll back too. */
  private transaction<T>(work: () => T): T {
    const totals = { ...this.totals };
    const counters = new Map(this.counters);
    try {
      return this.db.transaction(work).immediate();
    } catch (error) {
      Object.assign(this.totals, totals);
      for (const [name, value] of counters) this.counters.set(name, value);
      throw error;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new VisionLoopError('INTERNAL', `the outbox ${this.path} is closed`);
  }
}

function withShed(
  outcome: AppendOutcome,
  before: { results: number; frames: number },
): AppendOutcome {
  return {
    ...outcome,
    shedResults: outcome.shedResults + before.results,
    shedFrames: outcome.shedFrames + before.frames,
  };
}

/** The shortest prefix of `rows` whose bytes reach `needed` (all rows when they do not). */
function cutAt(
  rows: readonly { seq: number; bytes: number }[],
  needed: number,
): { seq: number; count: number; bytes: number } | null {
  let bytes = 0;
  let count = 0;
  let seq = -1;
  for (const row of rows) {
    bytes += row.bytes;
    count++;
    seq = row.seq;
    if (bytes >= needed) break;
  }
  return count === 0 ? null : { seq, count, bytes };
}
