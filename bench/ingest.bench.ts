/**
 * Sustained ingest through HTTP against raw batched inserts of the same rows, in one run.
 *
 *   npx tsx bench/ingest.bench.ts [--dialect sqlite|postgres] [--rounds 3] [--seconds 5]
 *                                 [--batch 1000] [--concurrency 4] [--warmup 2]
 *                                 [--only http|baseline]
 *
 * The baseline and the HTTP path alternate in `rounds` rounds (B H, H B, B H, …), each on a
 * fresh database, so that load from elsewhere on a shared machine hits both alike; rates are
 * the medians over rounds and the ratio is the median of the per-round ratios.
 *
 * Profile the server's half with `node --cpu-prof --import tsx bench/ingest.bench.ts --only http`.
 *
 * - Baseline, SQLite: better-sqlite3 on a fresh file with the server's pragmas (WAL,
 *   synchronous=NORMAL) and schema (migrateToLatest: same tables and indexes); per batch one
 *   transaction with a prepared multi-row INSERT into prediction_logs and a prepared INSERT per
 *   prediction_classes row. The rows are built from FrameResult objects in the timed loop
 *   (JSON.stringify of detections and features included), as ingest must.
 * - Baseline, PostgreSQL: `concurrency` pg connections, each looping BEGIN; a named prepared
 *   multi-row INSERT into prediction_logs; one INSERT … SELECT FROM unnest(…) into
 *   prediction_classes; COMMIT.
 * - HTTP: the real server (`startServer`, in this process, on 127.0.0.1) and a load generator
 *   in a child process (bench/ingest-client.ts) with `concurrency` batches in flight, as an
 *   agent token. Acknowledgement latency = request start → answer read, per batch. The load
 *   generator stands in for agents on other machines, so it patches pre-encoded bodies in
 *   place rather than encoding them: what it spends is CPU the server and database lose.
 *
 * PostgreSQL: uses DATABASE_URL when it is a postgres URL (in fresh schemas, dropped after),
 * otherwise starts a throwaway durable cluster (scripts/postgres-test-server.mjs --durable)
 * and stops it. Targets (issue 4): HTTP ≥ 0.5 × baseline and ≥ 20,000 results/s.
 * The machine's cores are shared by server, client and database; `cores` says how many,
 * `http.serverCpuCores` how much of a core the server process got while the client ran, and
 * `http.clientCpuSeconds` what the load generator used. Capture times advance batch after
 * batch in both halves, as on a real line (re-sending the same timestamps makes SQLite
 * insert into the middle of every captured_at index, 4× slower). Prints one JSON object.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { loadServerConfig, sqliteUrlFor } from '../src/config/server.config.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { startServer } from '../src/main/server.main.js';
import {
  PREDICTION_LOG_COLUMNS,
  makeFrameResults,
  predictionClassValues,
  predictionLogValues,
  type SqlValue,
} from './ingest-rows.js';
import { startBenchPostgres, withSearchPath } from './bench-postgres.js';
import { median, percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    // For profiling one half: `node --cpu-prof --import tsx bench/ingest.bench.ts --only http`.
    only: { type: 'string' },
  },
});
const dialect = values.dialect;
if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error('--dialect sqlite|postgres');
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const batchSize = Number(values.batch);
const concurrency = Number(values.concurrency);
const root = fileURLToPath(new URL('..', import.meta.url));
const only = values.only;
if (only !== undefined && only !== 'http' && only !== 'baseline') {
  throw new Error('--only http|baseline');
}
const SKIPPED: BaselineResult = {
  method: 'skipped',
  resultsPerSecond: Number.NaN,
  batchCommitMs: { p50: null, p99: null },
  stored: 0,
};

const TARGET_RATIO = 0.5;
const TARGET_ABSOLUTE = 20_000;
// Rows per prediction_logs statement in the PostgreSQL baseline: 22 columns × 1000 < 65,535.
const LOG_COLUMN_LIST = PREDICTION_LOG_COLUMNS.join(', ');

function log(message: string): void {
  process.stderr.write(`[ingest.bench] ${message}\n`);
}

/** A commit-time percentile in ms to two decimals; null when there were no commits. */
function commitPercentile(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : Math.round(percentile(sorted, p) * 100) / 100;
}

/** A pool of batches (the load generator's seeds); rows get fresh ids and times per use. */
const POOL =
  only === 'http'
    ? []
    : Array.from({ length: 16 }, (_, i) =>
        makeFrameResults(batchSize, { seed: 1000 + i, startAt: Date.now() }),
      );

// Capture time advances batch after batch as on a real line (see bench/ingest-client.ts): the
// same rule as the HTTP load generator, 4 cameras at 33 ms.
const BATCH_SPAN_MS = (batchSize / 4) * 33 + 33;

/** The rows of pool batch `sequence`, with fresh ids and capture times moved forward. */
function batchValues(sequence: number, receivedAt: number) {
  const batch = POOL[sequence % POOL.length] ?? [];
  const shift = sequence * BATCH_SPAN_MS;
  const logs: SqlValue[] = [];
  const classes: SqlValue[][] = [];
  for (let i = 0; i < batch.length; i++) {
    const original = batch[i];
    if (original === undefined) continue;
    const result = {
      ...original,
      id: `raw${sequence}-${i}`,
      capturedAt: original.capturedAt + shift,
    };
    for (const value of predictionLogValues(result, 'bench-agent', receivedAt)) logs.push(value);
    for (const row of predictionClassValues(result)) classes.push(row);
  }
  return { logs, classes };
}

interface BaselineResult {
  method: string;
  resultsPerSecond: number;
  batchCommitMs: { p50: number | null; p99: number | null };
  stored: number;
}

function valuesPlaceholders(rows: number, columns: number, numbered: boolean): string {
  const tuples: string[] = [];
  let n = 0;
  for (let r = 0; r < rows; r++) {
    const slots: string[] = [];
    for (let c = 0; c < columns; c++) slots.push(numbered ? `$${++n}` : '?');
    tuples.push(`(${slots.join(',')})`);
  }
  return tuples.join(',');
}

async function sqliteBaseline(dir: string, round: number): Promise<BaselineResult> {
  const path = join(dir, `raw-${round}.db`);
  const handle = await openDatabase(sqliteUrlFor(path));
  await migrateToLatest(handle);
  await handle.close();

  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  const insertLogs = db.prepare(
    `insert into prediction_logs (${LOG_COLUMN_LIST}) values ${valuesPlaceholders(batchSize, PREDICTION_LOG_COLUMNS.length, false)}`,
  );
  const insertClass = db.prepare(
    'insert into prediction_classes (prediction_id, class_name, captured_at) values (?, ?, ?)',
  );
  const insertBatch = db.transaction((logs: SqlValue[], classes: SqlValue[][]) => {
    insertLogs.run(logs);
    for (const row of classes) insertClass.run(row);
  });

  const commits: number[] = [];
  let stored = 0;
  let sequence = 0;
  const run = (until: number, record: boolean): void => {
    while (performance.now() < until) {
      const started = performance.now();
      const { logs, classes } = batchValues(sequence++, Date.now());
      insertBatch.immediate(logs, classes);
      if (record) {
        commits.push(performance.now() - started);
        stored += batchSize;
      }
    }
  };
  run(performance.now() + warmupSeconds * 1000, false);
  const start = performance.now();
  run(start + seconds * 1000, true);
  const elapsed = (performance.now() - start) / 1000;
  db.close();
  commits.sort((a, b) => a - b);
  return {
    method:
      'better-sqlite3: prepared multi-row INSERT + per-row class INSERTs, one transaction per batch',
    resultsPerSecond: Math.round(stored / elapsed),
    batchCommitMs: { p50: commitPercentile(commits, 50), p99: commitPercentile(commits, 99) },
    stored,
  };
}

async function postgresBaseline(url: string): Promise<BaselineResult> {
  const handle = await openDatabase(url, { poolMax: 1 });
  await migrateToLatest(handle);
  await handle.close();

  const logText = `insert into prediction_logs (${LOG_COLUMN_LIST}) values ${valuesPlaceholders(batchSize, PREDICTION_LOG_COLUMNS.length, true)}`;
  const classText =
    'insert into prediction_classes (prediction_id, class_name, captured_at) ' +
    'select * from unnest($1::text[], $2::text[], $3::bigint[])';
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  const commits: number[] = [];
  let stored = 0;
  let sequence = 0;
  const loop = async (client: pg.Client, until: number, record: boolean): Promise<void> => {
    while (performance.now() < until) {
      const started = performance.now();
      const { logs, classes } = batchValues(sequence++, Date.now());
      await client.query('begin');
      await client.query({ name: 'bench-logs', text: logText, values: logs });
      await client.query({
        name: 'bench-classes',
        text: classText,
        values: [classes.map((r) => r[0]), classes.map((r) => r[1]), classes.map((r) => r[2])],
      });
      await client.query('commit');
      if (record) {
        commits.push(performance.now() - started);
        stored += batchSize;
      }
    }
  };
  const warmUntil = performance.now() + warmupSeconds * 1000;
  await Promise.all(clients.map((client) => loop(client, warmUntil, false)));
  const start = performance.now();
  await Promise.all(clients.map((client) => loop(client, start + seconds * 1000, true)));
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  commits.sort((a, b) => a - b);
  return {
    method: `pg: ${concurrency} connections, each BEGIN; named prepared multi-row INSERT; INSERT … unnest() for classes; COMMIT`,
    resultsPerSecond: Math.round(stored / elapsed),
    batchCommitMs: { p50: commitPercentile(commits, 50), p99: commitPercentile(commits, 99) },
    stored,
  };
}

interface ClientReport {
  batches: number;
  acknowledged: number;
  acknowledgedTotal: number;
  duplicates: number;
  failures: number;
  firstFailure: string | null;
  measuredSeconds: number;
  resultsPerSecond: number;
  ackLatencyMs: { p50: number | null; p99: number | null; max: number | null };
  bodyBytes: number;
  cpuSeconds: number;
}

function runClient(url: string, token: string): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'bench', 'ingest-client.ts'),
        '--url',
        url,
        '--token',
        token,
        '--seconds',
        String(seconds),
        '--warmup',
        String(warmupSeconds),
        '--batch',
        String(batchSize),
        '--concurrency',
        String(concurrency),
        '--run-id',
        randomBytes(4).toString('hex'),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as ClientReport);
      } catch {
        reject(new Error(`client exited ${code} without a report: ${stdout.slice(-500)}`));
      }
    });
  });
}

async function httpIngest(dir: string, databaseUrl: string, round: number) {
  const config = loadServerConfig({
    VISIONLOOP_DATA_DIR: join(dir, `server-${round}`),
    DATABASE_URL: databaseUrl,
    HOST: '127.0.0.1',
    PORT: '0',
    VISIONLOOP_LOG_LEVEL: 'silent',
  });
  const server = await startServer(config, { logger: false, onAdminToken: () => undefined });
  try {
    const agentToken = await server.services.auth.createToken(
      { name: 'bench-agent', scope: 'agent' },
      null,
    );
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const report = await runClient(server.url, agentToken.token);
    const cpu = process.cpuUsage(cpuBefore);
    const wallSeconds = (performance.now() - wallBefore) / 1000;
    // The server's share of one core while the client ran (warm-up and client start included).
    const serverCpuShare = Math.round(((cpu.user + cpu.system) / 1e6 / wallSeconds) * 100) / 100;
    const row = await server.database.db
      .selectFrom('prediction_logs')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return { report, stored: Number(row.n), serverCpuShare };
  } finally {
    await server.close();
  }
}

const SKIPPED_HTTP: Awaited<ReturnType<typeof httpIngest>> = {
  report: {
    batches: 0,
    acknowledged: 0,
    acknowledgedTotal: 0,
    duplicates: 0,
    failures: 0,
    firstFailure: null,
    measuredSeconds: 0,
    resultsPerSecond: Number.NaN,
    ackLatencyMs: { p50: null, p99: null, max: null },
    bodyBytes: 0,
    cpuSeconds: 0,
  },
  stored: 0,
  serverCpuShare: 0,
};

interface PostgresTarget {
  /** A fresh schema for round `round`'s baseline / HTTP server. */
  rawUrl(round: number): Promise<string>;
  httpUrl(round: number): Promise<string>;
  cleanup(): Promise<void>;
  server: string;
}

async function postgresTarget(): Promise<PostgresTarget> {
  const cluster = startBenchPostgres({ log });
  const { baseUrl, clusterDir } = cluster;
  const suffix = randomBytes(4).toString('hex');
  const schemas: string[] = [];
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  const settings = await admin.query<{ v: string; f: string }>(
    "select current_setting('server_version') as v, current_setting('fsync') as f",
  );
  const version = settings.rows[0]?.v ?? '?';
  const fsync = settings.rows[0]?.f ?? '?';
  const fresh = async (name: string): Promise<string> => {
    const schema = `bench_${name}_${suffix}`;
    await admin.query(`create schema ${schema}`);
    schemas.push(schema);
    return withSearchPath(baseUrl, schema);
  };
  return {
    rawUrl: (round) => fresh(`raw_${round}`),
    httpUrl: (round) => fresh(`http_${round}`),
    server: `PostgreSQL ${version} (fsync ${fsync}${clusterDir === null ? ', DATABASE_URL' : ', throwaway cluster'})`,
    async cleanup() {
      try {
        for (const schema of schemas) await admin.query(`drop schema ${schema} cascade`);
      } finally {
        await admin.end();
        cluster.stop();
      }
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'visionloop-ingest-bench-'));
let target: PostgresTarget | null = null;
try {
  let database: string;
  let runBaseline: (round: number) => Promise<BaselineResult>;
  let runHttp: (round: number) => Promise<Awaited<ReturnType<typeof httpIngest>>>;
  if (dialect === 'sqlite') {
    database = 'SQLite (better-sqlite3, WAL, synchronous=NORMAL)';
    runBaseline = (round) => sqliteBaseline(dir, round);
    runHttp = (round) => httpIngest(dir, sqliteUrlFor(join(dir, `server-${round}.db`)), round);
  } else {
    const pgTarget = await postgresTarget();
    target = pgTarget;
    database = pgTarget.server;
    runBaseline = async (round) => postgresBaseline(await pgTarget.rawUrl(round));
    runHttp = async (round) => httpIngest(dir, await pgTarget.httpUrl(round), round);
  }
  const baselines: BaselineResult[] = [];
  const https: Awaited<ReturnType<typeof httpIngest>>[] = [];
  for (let round = 0; round < rounds; round++) {
    // B H, then H B: a trend in background load favours neither side.
    const order =
      round % 2 === 0 ? (['baseline', 'http'] as const) : (['http', 'baseline'] as const);
    for (const side of order) {
      if (side === 'baseline') {
        log(`round ${round + 1}/${rounds}: raw ${dialect} inserts`);
        baselines.push(only === 'http' ? SKIPPED : await runBaseline(round));
      } else {
        log(
          `round ${round + 1}/${rounds}: HTTP (server in this process, client in a child process)`,
        );
        https.push(only === 'baseline' ? SKIPPED_HTTP : await runHttp(round));
      }
    }
  }
  const baselineRates = baselines.map((b) => b.resultsPerSecond);
  const httpRates = https.map((h) => h.report.resultsPerSecond);
  const rate = Math.round(median(httpRates));
  const ratios = httpRates.map((r, i) => r / (baselineRates[i] ?? Number.NaN));
  const ratio = Math.round(median(ratios) * 1000) / 1000;
  const stored = https.reduce((sum, h) => sum + h.stored, 0);
  const acknowledged = https.reduce((sum, h) => sum + h.report.acknowledgedTotal, 0);
  const failures = https.reduce((sum, h) => sum + h.report.failures, 0);
  const p = (pick: (h: (typeof https)[number]) => number | null) =>
    https.map(pick).filter((v): v is number => v !== null);
  console.log(
    JSON.stringify({
      bench: 'ingest',
      dialect,
      database,
      rounds,
      secondsPerRound: seconds,
      warmupSeconds,
      batch: batchSize,
      concurrency,
      cores: cpus().length,
      note: 'server, load generator and database share these cores',
      baseline: {
        method: baselines[0]?.method,
        resultsPerSecond: Math.round(median(baselineRates)),
        perRound: baselineRates,
        batchCommitMs: {
          p50: median(baselines.map((b) => b.batchCommitMs.p50 ?? Number.NaN)),
          p99: Math.max(...baselines.map((b) => b.batchCommitMs.p99 ?? 0)),
        },
      },
      http: {
        resultsPerSecond: rate,
        perRound: httpRates,
        ackLatencyMs: {
          p50: median(p((h) => h.report.ackLatencyMs.p50)),
          p99: Math.max(0, ...p((h) => h.report.ackLatencyMs.p99)),
          max: Math.max(0, ...p((h) => h.report.ackLatencyMs.max)),
        },
        batches: https.reduce((sum, h) => sum + h.report.batches, 0),
        failures,
        firstFailure:
          https.find((h) => h.report.firstFailure !== null)?.report.firstFailure ?? null,
        duplicates: https.reduce((sum, h) => sum + h.report.duplicates, 0),
        bodyBytes: https[0]?.report.bodyBytes,
        serverCpuCores: https.map((h) => h.serverCpuShare),
        clientCpuSeconds: https.map((h) => h.report.cpuSeconds),
        storedRows: stored,
        acknowledgedRows: acknowledged,
      },
      ratio,
      ratioPerRound: ratios.map((r) => Math.round(r * 1000) / 1000),
      targets: { ratio: TARGET_RATIO, resultsPerSecond: TARGET_ABSOLUTE },
      pass: {
        ratio: ratio >= TARGET_RATIO,
        resultsPerSecond: rate >= TARGET_ABSOLUTE,
        exactlyOnce: stored === acknowledged && failures === 0,
      },
    }),
  );
} finally {
  await target?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
