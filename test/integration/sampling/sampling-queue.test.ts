/**
 * Sampling on the server, on each dialect: migration 0005 up and down, the sampling settings
 * through PUT/GET /api/settings/agent, and a sampled frame's upload creating exactly one
 * labeling-queue item with its reason, priority, model version and pre-labels.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '../../../src/db/migrate.js';
import { samplingMigration } from '../../../src/db/migrations/0005-sampling.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import { DEFAULT_SAMPLING_SETTINGS } from '../../../src/shared/api/sampling.js';
import type { AgentSettings } from '../../../src/shared/api/agents.js';
import type { FrameResult } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';
import { frameResult, openTestServer, testJpeg } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';

async function hasSamplingColumn(handle: TestDatabase): Promise<boolean> {
  try {
    await sql`select sampling from prediction_logs where 1 = 0`.execute(handle.db);
    return true;
  } catch {
    return false;
  }
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`sampling on ${target.dialect}`, () => {
    describe('migration 0005', () => {
      it('adds prediction_logs.sampling, and removes it again', async () => {
        const upTo = MIGRATIONS.slice(0, MIGRATIONS.indexOf(samplingMigration) + 1);
        expect(upTo.at(-1)?.name).toBe('0005_sampling');
        const handle = await target.open({ migrate: false });
        try {
          await migrateToLatest(handle, upTo);
          expect(await hasSamplingColumn(handle)).toBe(true);
          expect(await migrateDown(handle, 1, upTo)).toEqual(['0005_sampling']);
          expect(await hasSamplingColumn(handle)).toBe(false);
          expect(await migrateToLatest(handle)).toContain('0005_sampling');
          expect(await hasSamplingColumn(handle)).toBe(true);
        } finally {
          await handle.cleanup();
        }
      });
    });

    describe('through the API', () => {
      let server: TestServer;

      beforeAll(async () => {
        server = await openTestServer(target);
      });
      afterAll(() => server.close());

      it('changes sampling settings field by field and refuses inconsistent ones', async () => {
        const put = await server.app.inject({
          method: 'PUT',
          url: '/api/settings/agent',
          headers: server.auth('admin'),
          payload: {
            sampling: { strategies: { random: { keepProbability: 0.01 } }, caps: { perHour: 40 } },
          },
        });
        expect(put.statusCode).toBe(200);
        const settings = put.json<AgentSettings>();
        expect(settings.revision).toBe(1);
        expect(settings.sampling).toEqual({
          ...DEFAULT_SAMPLING_SETTINGS,
          strategies: {
            ...DEFAULT_SAMPLING_SETTINGS.strategies,
            random: { enabled: true, keepProbability: 0.01 },
          },
          caps: { ...DEFAULT_SAMPLING_SETTINGS.caps, perHour: 40 },
        });

        const inverted = await server.app.inject({
          method: 'PUT',
          url: '/api/settings/agent',
          headers: server.auth('admin'),
          payload: { sampling: { strategies: { uncertainty: { low: 0.9 } } } },
        });
        expect(inverted.statusCode).toBe(400);
        expect(inverted.json()).toEqual({
          error: {
            code: 'INVALID_ARGUMENT',
            message:
              'invalid sampling settings: strategies.uncertainty: low (0.9) must be below high (0.7)',
          },
        });
        const unknown = await server.app.inject({
          method: 'PUT',
          url: '/api/settings/agent',
          headers: server.auth('admin'),
          payload: { sampling: { caps: { perWeek: 1 } } },
        });
        expect(unknown.statusCode).toBe(400);
        const labeler = await server.app.inject({
          method: 'PUT',
          url: '/api/settings/agent',
          headers: server.auth('labeler'),
          payload: { driftActive: true },
        });
        expect(labeler.statusCode).toBe(403);

        const current = await server.app.inject({
          method: 'GET',
          url: '/api/settings/agent',
          headers: server.auth('viewer'),
        });
        expect(current.json()).toEqual(settings);
      });

      it('creates exactly one queue item for an uploaded sampled frame', async () => {
        const sampled: FrameResult = {
          ...frameResult(1, { classes: ['crack'], modelVersion: 'seed-7' }),
          sampling: {
            reasons: ['low_confidence', 'random'],
            priority: 4.8125,
            phash: 'a5a5a5a5ffff0000',
            margin: 0.0625,
            entropy: 0.875,
          },
        };
        const first = sampled.detections[0];
        if (!first) throw new Error('the fixture has a detection');
        sampled.detections = [{ ...first, classScores: [0.25, 0.5, 0.125, 0] }];
        const plain = frameResult(2);
        const ingest = await server.app.inject({
          method: 'POST',
          url: '/api/ingest',
          headers: server.auth('agent'),
          payload: { results: [sampled, plain] },
        });
        expect(ingest.json()).toMatchObject({ accepted: 2 });

        const jpeg = await testJpeg();
        const put = (id: string) =>
          server.app.inject({
            method: 'PUT',
            url: `/api/frames/${id}`,
            headers: { ...server.auth('agent'), 'content-type': 'image/jpeg' },
            payload: jpeg,
          });
        // Sent twice (a retried upload) and a frame uploaded for inspection only.
        expect((await put(sampled.id)).statusCode).toBe(200);
        expect((await put(sampled.id)).statusCode).toBe(200);
        expect((await put(plain.id)).statusCode).toBe(200);

        const items = await server.database.db.selectFrom('labeling_queue').selectAll().execute();
        expect(items).toHaveLength(1);
        const item = items[0];
        expect(item).toMatchObject({
          prediction_id: sampled.id,
          camera: 'cam-1',
          captured_at: sampled.capturedAt,
          width: 64,
          height: 48,
          status: 'pending',
          priority: 4.8125,
          reason: 'low_confidence',
          model_version: 'seed-7',
          phash: 'a5a5a5a5ffff0000',
        });
        expect(item?.frame_blob).toMatch(/^[0-9a-f]{64}$/);
        // The fixture JPEG is 64×48 and the result 640×480: the pre-labels are scaled to it.
        expect(JSON.parse(item?.pre_labels ?? '')).toEqual([
          {
            ...first,
            box: {
              x1: first.box.x1 / 10,
              y1: first.box.y1 / 10,
              x2: first.box.x2 / 10,
              y2: first.box.y2 / 10,
            },
            classScores: [0.25, 0.5, 0.125, 0],
          },
        ]);

        const stored = await server.database.db
          .selectFrom('prediction_logs')
          .select(['id', 'sampling'])
          .orderBy('id')
          .execute();
        expect(
          stored.map((row) => [
            row.id,
            row.sampling === null ? null : (JSON.parse(row.sampling) as unknown),
          ]),
        ).toEqual([
          [sampled.id, sampled.sampling],
          [plain.id, null],
        ]);

        const metrics = await server.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: server.auth('viewer'),
        });
        expect(metrics.body).toContain('visionloop_labeling_queue_depth{status="pending"} 1');
      });
    });
  });
}
