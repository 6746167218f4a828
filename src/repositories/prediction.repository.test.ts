/**
 * The ingest insert on SQLite, both paths (native prepared statements and Kysely), against
 * the same rows; PostgreSQL runs in test/integration/server.
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../db/migrate.js';
import type { Database } from '../db/schema.js';
import type { FrameResult } from '../shared/domain.js';
import { LOG_COLUMNS, SHADOW_COLUMNS, pgArrayLiteral } from './prediction-rows.js';
import {
  LOG_ROWS_PER_STATEMENT,
  SHADOW_ROWS_PER_STATEMENT,
  PredictionRepository,
  chunkSizes,
} from './prediction.repository.js';

describe('pgArrayLiteral', () => {
  it('quotes strings and escapes quote and backslash, nulls unquoted (the JSON fast path)', () => {
    expect(pgArrayLiteral(['a"b', 'c\\d', null, '{x},y', 'NULL', ''], true)).toBe(
      '{"a\\"b","c\\\\d",null,"{x},y","NULL",""}',
    );
    expect(pgArrayLiteral(['{"k":[1,"v"]}'], true)).toBe('{"{\\"k\\":[1,\\"v\\"]}"}');
  });

  it('writes numbers as JavaScript prints them and an empty array as {}', () => {
    expect(pgArrayLiteral([1, 2.5, null, 1e-7, 1_767_225_600_000], false)).toBe(
      '{1,2.5,null,1e-7,1767225600000}',
    );
    expect(pgArrayLiteral([], true)).toBe('{}');
  });

  it('escapes element by element when JSON would escape differently', () => {
    // Control characters and surrogates: JSON would write \n and \ud83d…, which an array
    // literal reads as n and ud83d…; they go through as they are, inside quotes.
    expect(pgArrayLiteral(['x\ny', '🔩 "q"', null], true)).toBe('{"x\ny","🔩 \\"q\\"",NULL}');
    // Non-finite numbers: JSON would write null.
    expect(pgArrayLiteral([1, Number.POSITIVE_INFINITY], false)).toBe('{1,Infinity}');
  });
});

describe('chunkSizes', () => {
  it('splits into the largest powers of two that fit, largest first', () => {
    expect(chunkSizes(1000, 1024)).toEqual([512, 256, 128, 64, 32, 8]);
    expect(chunkSizes(2500, 1024)).toEqual([1024, 1024, 256, 128, 64, 4]);
    expect(chunkSizes(1, 1024)).toEqual([1]);
    expect(chunkSizes(0, 1024)).toEqual([]);
    expect(LOG_ROWS_PER_STATEMENT * LOG_COLUMNS.length).toBeLessThanOrEqual(32_766);
    expect(LOG_COLUMNS).toHaveLength(24);
    expect(LOG_ROWS_PER_STATEMENT).toBe(1024);
    expect(SHADOW_ROWS_PER_STATEMENT * SHADOW_COLUMNS.length).toBeLessThanOrEqual(32_766);
    expect(SHADOW_ROWS_PER_STATEMENT).toBe(2048);
  });
});

function result(i: number, classes: string[]): FrameResult {
  return {
    id: `r-${String(i).padStart(6, '0')}`,
    camera: i % 2 === 0 ? 'cam-a' : 'cam-b',
    frameIndex: i,
    capturedAt: 1_000_000 + i,
    width: 640,
    height: 480,
    detections: classes.map((className, k) => ({
      classId: k,
      className,
      confidence: 0.3 + k * 0.2,
      box: { x1: 1, y1: 2, x2: 3, y2: 4 },
    })),
    uncertain: i % 3 === 0,
    decision: classes.length > 0 ? 'FAIL' : 'PASS',
    features: {
      brightness: 0.5,
      contrast: 0.1,
      sharpness: 9,
      saturation: 0.2,
      noise: 0.01,
      colorCast: 0,
      edgeDensity: 0.4,
    },
    latencies: { queueMs: 1, preprocessMs: 2, inferenceMs: 3, postprocessMs: 4, totalMs: 10 },
    modelVersion: 'v1',
    inferred: i % 5 !== 0,
  };
}

const handles: { native: BetterSqlite3.Database; db: Kysely<Database> }[] = [];

async function openMemory(): Promise<{ native: BetterSqlite3.Database; db: Kysely<Database> }> {
  const native = new BetterSqlite3(':memory:');
  native.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: native }) });
  await migrateToLatest({ db, dialect: 'sqlite' });
  const handle = { native, db };
  handles.push(handle);
  return handle;
}

afterEach(async () => {
  for (const handle of handles.splice(0)) await handle.db.destroy();
});

describe.each(['native', 'kysely'] as const)('PredictionRepository.insertResults (%s)', (mode) => {
  async function repository(): Promise<{ repo: PredictionRepository; db: Kysely<Database> }> {
    const { native, db } = await openMemory();
    const repo = new PredictionRepository(
      db,
      'sqlite',
      mode === 'native' ? { nativeSqlite: native } : {},
    );
    return { repo, db };
  }

  it('stores a batch larger than one statement, each row and its distinct classes', async () => {
    const { repo, db } = await repository();
    const results = Array.from({ length: 2500 }, (_, i) =>
      result(i, i % 4 === 0 ? [] : i % 4 === 1 ? ['crack'] : ['crack', 'dent', 'crack']),
    );
    const stored = await repo.insertResults(results, 'agt-1', 42);
    expect(stored.size).toBe(2500);
    const counts = await sql<{ logs: number; classes: number }>`
      select (select count(*) from prediction_logs) as logs,
             (select count(*) from prediction_classes) as classes`.execute(db);
    // 625 results without detections, 625 with one class, 1250 with two distinct classes.
    expect(counts.rows[0]).toEqual({ logs: 2500, classes: 625 + 1250 * 2 });
    const row = await db
      .selectFrom('prediction_logs')
      .selectAll()
      .where('id', '=', 'r-000002')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      agent_id: 'agt-1',
      camera: 'cam-a',
      received_at: 42,
      detection_count: 3,
      max_confidence: 0.7,
      uncertain: 0,
      inferred: 1,
      decision: 'FAIL',
      total_ms: 10,
      frame_blob: null,
    });
    expect(JSON.parse(row.detections)).toEqual(results[2]?.detections);
  });

  it('stores a repeated batch once and reports only the new ids', async () => {
    const { repo, db } = await repository();
    const first = Array.from({ length: 10 }, (_, i) => result(i, ['scratch']));
    expect((await repo.insertResults(first, null, 1)).size).toBe(10);
    const overlapping = Array.from({ length: 15 }, (_, i) => result(i + 5, ['stain']));
    const stored = await repo.insertResults(overlapping, null, 2);
    expect([...stored].sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `r-${String(i + 10).padStart(6, '0')}`),
    );
    // The duplicates' classes were not added to the stored results.
    const classes = await db
      .selectFrom('prediction_classes')
      .select(['class_name', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('class_name')
      .orderBy('class_name')
      .execute();
    expect(classes).toEqual([
      { class_name: 'scratch', n: 10 },
      { class_name: 'stain', n: 10 },
    ]);
  });

  it('stores stages, decidedBy and each shadow once, in one statement per batch', async () => {
    const { repo, db } = await repository();
    const withExtras = (i: number): FrameResult => ({
      ...result(i, ['crack']),
      stages: {
        versions: { classify: 'cls-1' },
        detections: [
          { classification: { classId: 2, className: 'major', confidence: 0.9 }, vetoed: false },
        ],
        totalAreaPx: null,
        totalAreaMm2: null,
        maxSeverity: 2,
        timings: { classifyMs: 1.25 },
      },
      decidedBy: 'severe',
      ...(i % 2 === 0
        ? {
            shadow: {
              version: 'cand-2',
              detections: [],
              decision: 'PASS' as const,
              disagreement: 1,
              disagrees: true,
              inferenceMs: 4,
            },
          }
        : {}),
    });
    const first = Array.from({ length: 3000 }, (_, i) => withExtras(i));
    expect((await repo.insertResults(first, 'agt-1', 7)).size).toBe(3000);
    // Sent again with more: only the new results' shadows are added.
    const again = Array.from({ length: 3010 }, (_, i) => withExtras(i));
    expect((await repo.insertResults(again, 'agt-1', 8)).size).toBe(10);
    const shadows = await db
      .selectFrom('shadow_predictions')
      .select([
        (eb) => eb.fn.countAll<number>().as('n'),
        (eb) => eb.fn.max('received_at').as('last'),
      ])
      .executeTakeFirstOrThrow();
    expect(shadows).toEqual({ n: 1505, last: 8 });
    const row = await db
      .selectFrom('prediction_logs')
      .select(['stages', 'decided_by'])
      .where('id', '=', 'r-000004')
      .executeTakeFirstOrThrow();
    expect(row.decided_by).toBe('severe');
    expect(JSON.parse(row.stages ?? 'null')).toEqual(first[4]?.stages);
  });

  it('rolls the whole batch back when a row fails', async () => {
    const { repo, db } = await repository();
    const bad = { ...result(3, []), decision: 'MAYBE' } as unknown as FrameResult;
    await expect(
      repo.insertResults([result(1, []), result(2, []), bad], null, 1),
    ).rejects.toThrow();
    const count = await db
      .selectFrom('prediction_logs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(count.n).toBe(0);
  });
});
