/**
 * Ingest and frames through HTTP on each dialect: a batch is stored exactly once, its rows
 * and classes are what the agent sent, events go out after the commit, and frames link to
 * stored results idempotently.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import { databaseTargets } from '../../helpers/database.js';
import { frameResult, frameResults, openTestServer, testJpeg } from './fixtures.js';
import type { TestServer } from './fixtures.js';

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`ingest and frames on ${target.dialect}`, () => {
    let server: TestServer;
    const events: SystemEvent[] = [];

    beforeAll(async () => {
      server = await openTestServer(target);
      server.services.events.subscribe((event) => events.push(event));
    });
    afterAll(() => server.close());

    async function count(table: 'prediction_logs' | 'prediction_classes'): Promise<number> {
      const { rows } = await sql<{
        n: number | string;
      }>`select count(*) as n from ${sql.table(table)}`.execute(server.database.db);
      return Number(rows[0]?.n);
    }

    it('stores a batch once, however often it is sent', async () => {
      const batch = { agentId: 'agt-test', results: frameResults(0, 300) };
      const post = () =>
        server.app.inject({
          method: 'POST',
          url: '/api/ingest',
          headers: server.auth('agent'),
          payload: batch,
        });
      const first = await post();
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ accepted: 300, duplicates: 0 });
      const again = await post();
      expect(again.json()).toMatchObject({ accepted: 0, duplicates: 300 });
      // A retry that overlaps with new results stores only the new ones.
      const overlap = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results: frameResults(250, 100) },
      });
      expect(overlap.json()).toMatchObject({ accepted: 50, duplicates: 50 });
      // A result sent again with other detections is a duplicate: its classes are not added.
      const changed = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results: [frameResult(0, { classes: ['other-1', 'other-2'] })] },
      });
      expect(changed.json()).toMatchObject({ accepted: 0, duplicates: 1 });
      expect(await count('prediction_logs')).toBe(350);
      expect(await count('prediction_classes')).toBe(350);
      const frames = events.filter((e) => e.type === 'frame');
      expect(frames).toHaveLength(350);
      expect(new Set(frames.map((e) => (e.type === 'frame' ? e.result.id : ''))).size).toBe(350);
    });

    it('stores what the agent sent, field for field', async () => {
      // Characters that need escaping in SQL, JSON and PostgreSQL array literals.
      const odd = "a\"b\\c{d},e 'NULL' ✓ 🔩";
      const sent = frameResult(9000, {
        classes: ['crack', odd, 'crack'],
        camera: 'cam-9',
        modelVersion: `v{1}, "q" \\ NULL`,
      });
      await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('admin'),
        payload: { agentId: 'agt-9', results: [sent] },
      });
      const page = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-logs?camera=cam-9',
        headers: server.auth('viewer'),
      });
      const [item] = page.json<{ items: Record<string, unknown>[] }>().items;
      const { receivedAt, ...rest } = item ?? {};
      expect(rest).toEqual({ ...sent, agentId: 'agt-9', hasFrame: false });
      expect(typeof receivedAt).toBe('number');
      const classes = await server.database.db
        .selectFrom('prediction_classes')
        .select('class_name')
        .where('prediction_id', '=', sent.id)
        .orderBy('class_name')
        .execute();
      expect(classes.map((c) => c.class_name).sort()).toEqual(['crack', odd].sort());
    });

    it('accepts a frame only for a stored result, idempotently, and serves it back', async () => {
      const jpeg = await testJpeg(50);
      const put = (id: string, body: Buffer) =>
        server.app.inject({
          method: 'PUT',
          url: `/api/frames/${id}`,
          headers: { ...server.auth('agent'), 'content-type': 'image/jpeg' },
          payload: body,
        });
      const early = await put('res-cam-1-9999999', jpeg);
      expect(early.statusCode).toBe(404);
      expect(early.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });

      const id = frameResult(1).id;
      const first = await put(id, jpeg);
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ id, width: 64, height: 48, bytes: jpeg.length });
      const again = await put(id, jpeg);
      expect(again.json()).toEqual(first.json());
      const other = await put(id, await testJpeg(200));
      expect(other.statusCode).toBe(409);

      const got = await server.app.inject({
        method: 'GET',
        url: `/api/frames/${id}`,
        headers: server.auth('viewer'),
      });
      expect(got.statusCode).toBe(200);
      expect(got.headers['content-type']).toBe('image/jpeg');
      expect(got.rawPayload.equals(jpeg)).toBe(true);
      const page = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-logs?camera=cam-1&limit=500',
        headers: server.auth('viewer'),
      });
      const items = page.json<{ items: { id: string; hasFrame: boolean }[] }>().items;
      expect(items.filter((i) => i.hasFrame).map((i) => i.id)).toEqual([id]);

      const none = await server.app.inject({
        method: 'GET',
        url: `/api/frames/${frameResult(2).id}`,
        headers: server.auth('viewer'),
      });
      expect(none.statusCode).toBe(404);
    });
  });
}
