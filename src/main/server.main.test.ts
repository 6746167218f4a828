import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Database } from '../db/schema.js';
import { LocalBlobStore } from '../repositories/blob-store.js';
import { createServerServices, nativeSqliteOf, writeAdminTokenFile } from './server.main.js';

describe('writeAdminTokenFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-admin-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the token readable by the owner only, replacing a wider-permission file', async () => {
    const path = join(dir, 'nested', 'admin-token');
    await writeAdminTokenFile(path, 'vl_first');
    expect(readFileSync(path, 'utf8')).toBe('vl_first\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    writeFileSync(path, 'old', { mode: 0o644 });
    await writeAdminTokenFile(path, 'vl_second');
    expect(readFileSync(path, 'utf8')).toBe('vl_second\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('createServerServices on a handle that exposes its better-sqlite3 connection', () => {
  it('ingests through the native fast path and reads the rows back through Kysely', async () => {
    const native = new BetterSqlite3(':memory:');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: native }) });
    const handle: DatabaseHandle & { sqlite: BetterSqlite3.Database } = {
      db,
      dialect: 'sqlite',
      location: ':memory:',
      sqlite: native,
      close: () => db.destroy(),
    };
    await migrateToLatest(handle);
    expect(nativeSqliteOf(handle)).toBe(native);
    const plain: DatabaseHandle = {
      db,
      dialect: 'sqlite',
      location: ':memory:',
      close: () => db.destroy(),
    };
    expect(nativeSqliteOf(plain)).toBeUndefined();
    const blobDir = mkdtempSync(join(tmpdir(), 'visionloop-blobs-'));
    try {
      const services = createServerServices(handle, {
        blobStore: new LocalBlobStore(blobDir),
        heartbeatIntervalMs: 10_000,
        recentWindowMs: 60_000,
        processMetrics: false,
      });
      const result = {
        id: 'r-1',
        camera: 'cam',
        frameIndex: 1,
        capturedAt: 5,
        width: 4,
        height: 3,
        detections: [
          { classId: 0, className: 'dent', confidence: 0.9, box: { x1: 0, y1: 0, x2: 1, y2: 1 } },
        ],
        uncertain: false,
        decision: 'FAIL' as const,
        features: {
          brightness: 1,
          contrast: 1,
          sharpness: 1,
          saturation: 1,
          noise: 1,
          colorCast: 1,
          edgeDensity: 1,
        },
        latencies: { queueMs: 1, preprocessMs: 1, inferenceMs: 1, postprocessMs: 1, totalMs: 4 },
        modelVersion: 'v1',
        inferred: true,
      };
      expect(await services.ingest.ingest({ results: [result] })).toMatchObject({ accepted: 1 });
      expect(await services.ingest.ingest({ results: [result] })).toMatchObject({ duplicates: 1 });
      const page = await services.inspectionLogs.page({ limit: 10, class: 'dent' });
      expect(page.items.map((item) => item.id)).toEqual(['r-1']);
    } finally {
      await handle.close();
      rmSync(blobDir, { recursive: true, force: true });
    }
  });
});
