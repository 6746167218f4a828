/**
 * Retention (docs/operations.md): the retention.run job deletes prediction rows (and their class
 * rows) older than N days in batches and the frames they pointed at, keeping the frames a
 * reviewed label, a labeling-queue item, a dataset snapshot or a younger prediction still
 * needs; ingest goes on while it runs; off by default. SQLite and PostgreSQL.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppServices } from '../../../src/http/app.js';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { createRetentionService } from '../../../src/main/job-services.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore, blobKeyOf } from '../../../src/repositories/blob-store.js';
import type { Detection, FrameResult } from '../../../src/shared/domain.js';
import { exportDataset } from '../../../src/synth/dataset-export.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import { makeResult } from '../../helpers/frame-results.js';

const DAY = 24 * 60 * 60_000;
const NOW = 1_800_000_000_000;
const OLD = 1_200;

/** A small JPEG of one gray level (distinct levels, distinct bytes). */
function jpeg(level: number): Promise<Buffer> {
  return sharp({
    create: { width: 32, height: 24, channels: 3, background: { r: level, g: level, b: level } },
  })
    .jpeg()
    .toBuffer();
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`retention on ${target.dialect}`, () => {
    let database: TestDatabase;
    let services: AppServices;
    let blobs: LocalBlobStore;
    let workDir: string;

    async function ingest(results: FrameResult[]): Promise<void> {
      for (let i = 0; i < results.length; i += 200) {
        await services.ingest.ingest({ results: results.slice(i, i + 200) });
      }
    }

    async function count(table: 'prediction_logs' | 'prediction_classes'): Promise<number> {
      const row = await database.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    beforeAll(async () => {
      database = await target.open();
      workDir = mkdtempSync(join(tmpdir(), 'vl-retention-'));
      blobs = new LocalBlobStore(join(workDir, 'blobs'));
      services = createServerServices(database, {
        blobStore: blobs,
        heartbeatIntervalMs: 10_000,
        recentWindowMs: 600_000,
        processMetrics: false,
        now: () => NOW,
      });
    }, 120_000);
    afterAll(async () => {
      await services?.modelServing.close();
      await database?.cleanup();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it('is off by default: nothing is scheduled and a run deletes nothing', async () => {
      expect(services.retention.days).toBeNull();
      expect(await services.retention.scheduledRuns()).toEqual([]);
      const on = createRetentionService(database, blobs, { days: 30 });
      expect(await on.scheduledRuns()).toEqual([
        { name: 'retention.run', payload: {}, dedupeKey: 'retention.run' },
      ]);
      await ingest([makeResult(0, { id: 'off-0', capturedAt: NOW - 400 * DAY })]);
      expect(await services.retention.run({})).toMatchObject({ predictionsDeleted: 0 });
      expect(await count('prediction_logs')).toBe(1);
      await database.db.deleteFrom('prediction_logs').execute();
    });

    it('deletes old rows and unneeded frames in batches, keeps needed frames, lets ingest in', async () => {
      const detection: Detection = {
        className: 'scratch',
        classId: 0,
        confidence: 0.9,
        box: { x1: 1, y1: 2, x2: 3, y2: 4 },
      };
      const old = Array.from({ length: OLD }, (_, i) =>
        makeResult(i, {
          id: `old-${String(i).padStart(4, '0')}`,
          capturedAt: NOW - 40 * DAY + i,
          detections: i % 2 === 0 ? [detection] : [],
          decision: i % 2 === 0 ? 'FAIL' : 'PASS',
        }),
      );
      const young = Array.from({ length: 50 }, (_, i) =>
        makeResult(i, { id: `young-${i}`, capturedAt: NOW - DAY + i }),
      );
      await ingest([...old, ...young]);
      expect(await count('prediction_logs')).toBe(OLD + 50);
      const oldClassRows = await count('prediction_classes');
      expect(oldClassRows).toBe(OLD / 2);

      // Frames: A alone; B a reviewed label's; C a dataset's; D a queue item's; E shared with a
      // young prediction.
      const [a, b, d, e] = await Promise.all([jpeg(10), jpeg(60), jpeg(110), jpeg(160)]);
      const synth = join(workDir, 'synth');
      await exportDataset({
        outDir: synth,
        presets: 'nominal',
        count: 2,
        seed: 5,
        valFraction: 0.5,
      });
      const trainDir = join(synth, 'images', 'train');
      const c = readFileSync(join(trainDir, readdirSync(trainDir)[0]!));
      await services.frames.storeFrame('old-0000', a);
      await services.frames.storeFrame('old-0001', b);
      await services.frames.storeFrame('old-0002', c);
      await services.frames.storeFrame('old-0003', d);
      await services.frames.storeFrame('old-0004', e);
      await services.frames.storeFrame('young-0', e);
      const [keyA, keyB, keyC, keyD, keyE] = [a, b, c, d, e].map((bytes) => blobKeyOf(bytes));
      await database.db
        .insertInto('reviewed_labels')
        .values({
          id: 'label-b',
          source: 'review',
          image_blob: keyB!,
          width: 32,
          height: 24,
          labels: '[]',
          created_at: NOW,
          queue_item_id: null,
          prediction_id: 'old-0001',
          source_dataset_id: null,
          camera: 'cam-1',
          labeled_by: null,
          approved_by: null,
          trained_in_model_version: null,
        })
        .execute();
      // The import names C in its manifest; without its reviewed labels only the dataset does.
      const imported = await services.datasets.importYolo(synth, { name: 'c' }, null);
      await database.db
        .deleteFrom('reviewed_labels')
        .where('source_dataset_id', '=', imported.dataset.id)
        .execute();
      await database.db
        .insertInto('labeling_queue')
        .values({
          id: 'queue-d',
          prediction_id: null,
          camera: 'cam-1',
          captured_at: NOW - 40 * DAY,
          frame_blob: keyD!,
          width: 32,
          height: 24,
          reason: 'manual',
          model_version: null,
          phash: null,
          claimed_by: null,
          claimed_at: null,
          lease_expires_at: null,
          labels: null,
          labeled_by: null,
          labeled_at: null,
          lead_time_ms: null,
          notes: null,
          flagged_reason: null,
          reviewed_by: null,
          reviewed_at: null,
          review_notes: null,
          created_at: NOW,
          updated_at: NOW,
        })
        .execute();

      const worker = new JobWorker(services.jobs, {
        handlers: createJobHandlers(services),
        pollMinMs: 20,
        pollMaxMs: 100,
        unref: true,
      });
      worker.start();
      try {
        const { job } = await services.jobs.enqueue('retention.run', { days: 30 });
        // Ingest while the job runs: every result is stored.
        const during = Array.from({ length: 40 }, (_, i) =>
          makeResult(i, { id: `during-${i}`, capturedAt: NOW - i }),
        );
        for (let i = 0; i < during.length; i += 10) await ingest(during.slice(i, i + 10));
        const done = await services.jobs.waitFor(job.id, { timeoutMs: 120_000 });
        expect(done.status, done.error ?? '').toBe('succeeded');
        expect(done.result).toEqual({
          days: 30,
          cutoff: NOW - 30 * DAY,
          predictionsDeleted: OLD,
          framesDeleted: 1,
          framesKept: 4,
          batches: 3,
          interrupted: false,
        });
      } finally {
        await worker.stop({ graceMs: 0 });
      }

      expect(await count('prediction_logs')).toBe(50 + 40);
      expect(await count('prediction_classes')).toBe(0);
      const oldLeft = await database.db
        .selectFrom('prediction_logs')
        .select('id')
        .where('captured_at', '<', NOW - 30 * DAY)
        .execute();
      expect(oldLeft).toEqual([]);
      expect(await blobs.has(keyA!)).toBe(false);
      for (const kept of [keyB, keyC, keyD, keyE]) expect(await blobs.has(kept!)).toBe(true);
      // The young prediction still names its frame.
      const youngRow = await database.db
        .selectFrom('prediction_logs')
        .select('frame_blob')
        .where('id', '=', 'young-0')
        .executeTakeFirstOrThrow();
      expect(youngRow.frame_blob).toBe(keyE);

      // A second pass finds nothing left to do.
      expect(await services.retention.run({ days: 30 })).toMatchObject({
        predictionsDeleted: 0,
        framesDeleted: 0,
        batches: 0,
      });
    }, 300_000);
  });
}
