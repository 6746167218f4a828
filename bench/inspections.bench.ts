/**
 * The inspections page's first page with 1,000,000 stored results (issue 14: < 200 ms).
 *
 *   npx tsx bench/inspections.bench.ts [--rows 1000000] [--runs 25] [--keep DIR]
 *
 * Fills a fresh SQLite file with `rows` seeded frame results (4 cameras at 30 FPS, 0–4
 * detections, a third of frames carried forward) through the repository's own bulk insert
 * (PredictionRepository.insertResults, the ingest path), then asks the real route
 * (`GET /api/inspection-logs` through app.inject, with auth, validation, JSON parsing of the
 * stored detections and serialization) for:
 * - first: the newest page of 50, no filter — what the page opens with;
 * - decision: decision=FAIL;
 * - rare: class=crack&uncertain=true&camera=line-3 (the class index drives it);
 * - window: a one-minute time window in the middle of the table;
 * - next: the second page, through the cursor of the first;
 * each the median of `runs` after a warm-up, in wall time and in CPU time of this process (the
 * route runs on this thread: SQLite is synchronous here; CPU time is what a shared, noisy
 * machine inflates least). Baseline (same run, same file): the bare
 * `SELECT * … ORDER BY captured_at DESC, id DESC LIMIT 50` on the native better-sqlite3
 * handle — the floor any list of the newest results pays. Ratios are route ÷ baseline.
 * Nothing counts the table: the API pages by keyset cursor. Prints one JSON object.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { buildApp } from '../src/http/app.js';
import { createServerServices, nativeSqliteOf } from '../src/main/server.main.js';
import { LocalBlobStore } from '../src/repositories/blob-store.js';
import { PredictionRepository } from '../src/repositories/prediction.repository.js';
import { makeFrameResults } from './ingest-rows.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '25' },
    keep: { type: 'string' },
  },
});
const ROWS = Math.max(1000, Number(values.rows) || 1_000_000);
const RUNS = Math.max(5, Number(values.runs) || 25);
const BATCH = 10_000;
const TARGET_MS = 200;
const START_AT = 1_767_225_600_000;
const CAMERAS = ['line-1', 'line-2', 'line-3', 'line-4'];

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'vl-bench-inspections-'));
const file = join(dir, 'visionloop.db');
const database = await openDatabase(`sqlite://${file}`);
try {
  await migrateToLatest(database);
  const native = nativeSqliteOf(database);
  if (native === undefined) throw new Error('no native SQLite handle');

  // 1. Fill through the ingest insert, in batches as agents send them.
  const repository = new PredictionRepository(database.db, 'sqlite', { nativeSqlite: native });
  const fillStarted = performance.now();
  const framesPerCamera = Math.ceil(BATCH / CAMERAS.length);
  for (let batch = 0; batch * BATCH < ROWS; batch++) {
    const count = Math.min(BATCH, ROWS - batch * BATCH);
    const results = makeFrameResults(count, {
      seed: 1000 + batch,
      cameras: CAMERAS,
      startAt: START_AT + batch * framesPerCamera * 33,
      idPrefix: `b${batch}`,
    });
    await repository.insertResults(results, null, START_AT + batch);
  }
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  native.pragma('wal_checkpoint(TRUNCATE)');
  native.exec('analyze');

  // 2. The real route, through app.inject with a viewer's token.
  const services = createServerServices(database, {
    blobStore: new LocalBlobStore(join(dir, 'blobs')),
    heartbeatIntervalMs: 10_000,
    recentWindowMs: 10 * 60_000,
    serverVersion: 'bench',
    processMetrics: false,
  });
  const app = await buildApp(services, {
    serverVersion: 'bench',
    bodyLimitBytes: 16 * 1024 * 1024,
    frameLimitBytes: 8 * 1024 * 1024,
    loopbackReads: false,
  });
  const viewer = await services.auth.createToken({ name: 'bench viewer', scope: 'viewer' }, null);
  const headers = { authorization: `Bearer ${viewer.token}` };

  async function route(url: string): Promise<{ items: unknown[]; nextCursor: string | null }> {
    const response = await app.inject({ method: 'GET', url, headers });
    if (response.statusCode !== 200)
      throw new Error(`${url}: ${response.statusCode} ${response.body}`);
    return response.json();
  }

  interface Measured {
    medianMs: number;
    p90Ms: number;
    cpuMs: number;
    items: number;
  }

  async function measure(url: string): Promise<Measured> {
    let items = 0;
    for (let i = 0; i < 3; i++) items = (await route(url)).items.length;
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c0 = cpuMs();
      const t0 = performance.now();
      await route(url);
      times.push(performance.now() - t0);
      cpu.push(cpuMs() - c0);
    }
    times.sort((a, b) => a - b);
    return {
      medianMs: round(median(times)),
      p90Ms: round(times[Math.floor(times.length * 0.9)] ?? Number.NaN),
      cpuMs: round(median(cpu)),
      items,
    };
  }

  const baselineStatement = native.prepare(
    'select * from prediction_logs order by captured_at desc, id desc limit 50',
  );
  const baselineTimes: number[] = [];
  const baselineCpu: number[] = [];
  for (let i = 0; i < 3; i++) baselineStatement.all();
  for (let i = 0; i < RUNS; i++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    baselineStatement.all();
    baselineTimes.push(performance.now() - t0);
    baselineCpu.push(cpuMs() - c0);
  }
  const baselineMs = median(baselineTimes);
  const baselineCpuMs = median(baselineCpu);

  const middle = START_AT + Math.floor(ROWS / CAMERAS.length / 2) * 33;
  const first = await route('/api/inspection-logs?limit=50');
  const cases = {
    first: '/api/inspection-logs?limit=50',
    decision: '/api/inspection-logs?limit=50&decision=FAIL',
    rare: '/api/inspection-logs?limit=50&class=crack&uncertain=true&camera=line-3',
    window: `/api/inspection-logs?limit=50&from=${middle}&to=${middle + 60_000}`,
    next: `/api/inspection-logs?limit=50&cursor=${first.nextCursor ?? ''}`,
  };
  const measured: Record<string, Measured & { ratio: number; cpuRatio: number }> = {};
  for (const [name, url] of Object.entries(cases)) {
    const result = await measure(url);
    measured[name] = {
      ...result,
      ratio: round(result.medianMs / baselineMs, 1),
      cpuRatio: round(result.cpuMs / Math.max(baselineCpuMs, 0.001), 1),
    };
  }
  await app.close();
  await services.modelServing.close();
  await services.auth.flush();

  const worst = Math.max(...Object.values(measured).map((m) => m.medianMs));
  console.log(
    JSON.stringify({
      bench: 'inspections',
      rows: ROWS,
      runs: RUNS,
      fillSeconds: round(fillSeconds, 1),
      databaseMB: round(statSync(file).size / 1e6, 0),
      baselineMs: round(baselineMs, 3),
      baselineCpuMs: round(baselineCpuMs, 3),
      ...Object.fromEntries(Object.entries(measured).map(([name, m]) => [name, m])),
      targetMs: TARGET_MS,
      pass: worst < TARGET_MS,
    }),
  );
} finally {
  await database.close();
  if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
}
