/**
 * The bulk review (`POST /api/labeling-queue/review`) on every available dialect: several
 * labelled items approved or rejected in one request, each by the single-item rules — a
 * labeler's own label refused with FORBIDDEN while the others go through, reviewed labels
 * written for exactly the approved ones, requeue, bad bodies refused before anything changes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, openTestServer } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';
import { call, oneBox, reviewer, seedItem } from './fixtures.js';

const Q = '/api/labeling-queue';

interface Result {
  id: string;
  ok: boolean;
  item?: { status: string; reviewedBy: { id: string } | null };
  error?: { code: string; message: string };
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`bulk review on ${target.dialect}`, () => {
    let server: TestServer;
    const clock = T0 + 2_000_000;
    let alice: { id: string; headers: { authorization: string } };
    let bob: { id: string; headers: { authorization: string } };
    const events: SystemEvent[] = [];

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => clock });
      server.services.events.subscribe((event) => {
        if (event.type === 'labeling') events.push(event);
      });
    });
    afterAll(() => server.close());

    beforeEach(async () => {
      events.length = 0;
      alice = await reviewer(server, 'alice');
      bob = await reviewer(server, 'bob');
      await server.database.db.deleteFrom('reviewed_labels').execute();
      await server.database.db.deleteFrom('labeling_queue').execute();
    });

    /** Seeds `count` items from `first`, each claimed and labelled by `who`. */
    async function labelled(
      first: number,
      count: number,
      who: { headers: { authorization: string } },
    ): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const { id } = await seedItem(server, first + i);
        expect((await call(server.app, 'POST', `${Q}/${id}/claim`, who.headers)).status).toBe(200);
        const label = await call(server.app, 'POST', `${Q}/${id}/label`, who.headers, oneBox());
        expect(label.body.status).toBe('labeled');
        ids.push(id);
      }
      return ids;
    }

    async function reviewedIds(): Promise<string[]> {
      const rows = await server.database.db
        .selectFrom('reviewed_labels')
        .select(['queue_item_id', 'approved_by'])
        .orderBy('queue_item_id')
        .execute();
      return rows.map((row) => `${row.queue_item_id}:${row.approved_by}`);
    }

    it("approves others' labels and refuses the reviewer's own, item by item", async () => {
      const alices = await labelled(100, 3, alice);
      const [bobs] = await labelled(110, 1, bob);
      const pending = (await seedItem(server, 120)).id;
      const ids = [alices[0], bobs, alices[1], pending, 'lq-missing', alices[2]] as string[];

      const response = await call(server.app, 'POST', `${Q}/review`, bob.headers, {
        action: 'approve',
        ids,
        notes: 'looks right',
      });
      expect(response.status).toBe(200);
      const results = response.body.results as Result[];
      expect(results.map((r) => r.id)).toEqual(ids);
      expect(results.map((r) => (r.ok ? 'ok' : r.error?.code))).toEqual([
        'ok',
        'FORBIDDEN',
        'ok',
        'CONFLICT',
        'NOT_FOUND',
        'ok',
      ]);
      expect(results[1]?.error?.message).toMatch(/labeled by you: a second reviewer/);
      expect(results[0]?.item).toMatchObject({ status: 'approved', reviewedBy: { id: bob.id } });
      expect(response.body).toMatchObject({ action: 'approve', succeeded: 3, failed: 3 });

      // Exactly the three approved items became reviewed labels, approved by bob.
      expect(await reviewedIds()).toEqual(alices.map((id) => `${id}:${bob.id}`).sort());
      const stats = await call(server.app, 'GET', `${Q}/stats`, bob.headers);
      expect(stats.body.counts).toMatchObject({ labeled: 1, approved: 3, pending: 1 });
      expect(events.filter((e) => e.type === 'labeling' && e.action === 'approved')).toHaveLength(
        3,
      );

      // The same request again changes nothing: the approvals are replays, bob's label is
      // still his own.
      const again = await call(server.app, 'POST', `${Q}/review`, bob.headers, {
        action: 'approve',
        ids: [alices[0], bobs],
      });
      expect((again.body.results as Result[]).map((r) => r.ok)).toEqual([true, false]);
      expect(await reviewedIds()).toHaveLength(3);
    });

    it('rejects a selection, back into the queue with requeue', async () => {
      const ids = await labelled(200, 3, alice);
      const rejected = await call(server.app, 'POST', `${Q}/review`, bob.headers, {
        action: 'reject',
        ids: ids.slice(0, 2),
        requeue: true,
        notes: 'boxes too loose',
      });
      expect(rejected.body).toMatchObject({ succeeded: 2, failed: 0 });
      for (const id of ids.slice(0, 2)) {
        const item = await call(server.app, 'GET', `${Q}/${id}`, bob.headers);
        expect(item.body).toMatchObject({ status: 'pending', labels: null });
      }
      const kept = await call(server.app, 'POST', `${Q}/review`, bob.headers, {
        action: 'reject',
        ids: [ids[2]],
      });
      expect((kept.body.results as Result[])[0]?.item?.status).toBe('rejected');
      expect(await reviewedIds()).toEqual([]);
    });

    it('is documented in the OpenAPI reference with its schemas', async () => {
      const response = await server.app.inject({ method: 'GET', url: '/docs/json' });
      const doc = response.json<{
        paths: Record<string, { post?: { requestBody?: unknown; responses?: object } }>;
        components: { schemas: Record<string, unknown> };
      }>();
      const route = doc.paths['/api/labeling-queue/review']?.post;
      expect(JSON.stringify(route?.requestBody)).toContain('BulkReviewRequest');
      expect(Object.keys(route?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400']));
      expect(Object.keys(doc.components.schemas)).toEqual(
        expect.arrayContaining(['BulkReviewRequest', 'BulkReviewResponse', 'BulkReviewResult']),
      );
    });

    it('refuses bad bodies and viewers before anything changes', async () => {
      const [id] = (await labelled(300, 1, alice)) as [string];
      const bad = [
        { action: 'approve', ids: [] },
        { action: 'approve', ids: [id, id] },
        { action: 'approve', ids: [id], requeue: true },
        { action: 'delete', ids: [id] },
        { action: 'approve', ids: Array.from({ length: 201 }, (_, i) => `lq-${i}`) },
        { action: 'approve', ids: ['../etc'] },
      ];
      for (const body of bad) {
        const response = await call(server.app, 'POST', `${Q}/review`, bob.headers, body);
        expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(response.body.error?.code).toBe('VALIDATION_FAILED');
      }
      const viewer = await reviewer(server, 'vic', 'viewer');
      const refused = await call(server.app, 'POST', `${Q}/review`, viewer.headers, {
        action: 'approve',
        ids: [id],
      });
      expect(refused.status).toBe(403);
      const count = await server.database.db
        .selectFrom('labeling_queue')
        .select(sql<number>`count(*)`.as('n'))
        .where('status', '=', 'labeled')
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(1);
    });
  });
}
