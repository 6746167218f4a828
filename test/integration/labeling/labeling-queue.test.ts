/**
 * The labeling queue through the HTTP API on every available dialect: claims and leases under
 * concurrency, labeling (twice, late, by the wrong reviewer), the second review, skip and
 * flag, bad boxes, history, statistics with exact numbers, the Prometheus depth and events.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, openTestServer } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';
import { call, oneBox, reviewer, seedItem } from './fixtures.js';
import type { SeededItem } from './fixtures.js';

const Q = '/api/labeling-queue';

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`labeling queue on ${target.dialect}`, () => {
    let server: TestServer;
    let clock = T0 + 1_000_000;
    let alice: { id: string; headers: { authorization: string } };
    let bob: { id: string; headers: { authorization: string } };
    let admin: { authorization: string };
    const events: SystemEvent[] = [];

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => clock });
      server.services.events.subscribe((event) => {
        if (event.type === 'labeling') events.push(event);
      });
    });
    afterAll(() => server.close());

    beforeEach(async () => {
      clock = T0 + 1_000_000;
      events.length = 0;
      admin = server.auth('admin');
      alice = await reviewer(server, 'alice');
      bob = await reviewer(server, 'bob');
      await server.database.db.deleteFrom('reviewed_labels').execute();
      await server.database.db.deleteFrom('labeling_queue').execute();
      await server.database.db
        .deleteFrom('settings')
        .where('key', 'in', ['labeling', 'classes'])
        .execute();
    });
    afterEach(() => {
      clock = T0 + 1_000_000;
    });

    async function reviewedCount(): Promise<number> {
      const row = await server.database.db
        .selectFrom('reviewed_labels')
        .select(sql<number>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    it('lists pending items by priority with pre-labels and a working frame URL', async () => {
      const low = await seedItem(server, 1, { priority: 0.2 });
      const high = await seedItem(server, 2, { priority: 0.9 });
      const mid = await seedItem(server, 3, { priority: 0.5, camera: 'cam-2' });
      const list = await call(server.app, 'GET', `${Q}?status=pending`, server.auth('viewer'));
      expect(list.status).toBe(200);
      const items = list.body.items as { id: string; preLabels: unknown[]; frameUrl: string }[];
      expect(items.map((i) => i.id)).toEqual([high.id, mid.id, low.id]);
      expect(list.body.total).toBe(3);
      expect(items[0]?.preLabels).toHaveLength(1);
      expect(items[0]?.frameUrl).toBe(`/api/frames/${high.predictionId}`);
      const frame = await server.app.inject({
        method: 'GET',
        url: items[0]?.frameUrl ?? '',
        headers: server.auth('viewer'),
      });
      expect(frame.statusCode).toBe(200);
      expect(frame.headers['content-type']).toBe('image/jpeg');
      const byCamera = await call(server.app, 'GET', `${Q}?camera=cam-2`, server.auth('viewer'));
      expect((byCamera.body.items as { id: string }[]).map((i) => i.id)).toEqual([mid.id]);
      const one = await call(server.app, 'GET', `${Q}/${low.id}`, server.auth('viewer'));
      expect(one.body).toMatchObject({ id: low.id, status: 'pending', claim: null, labels: null });
      expect((await call(server.app, 'GET', `${Q}/lq-nope`, admin)).status).toBe(404);
    });

    it('gives an item to exactly one of two reviewers claiming it at once', async () => {
      const item = await seedItem(server, 10);
      for (let round = 0; round < 3; round++) {
        const [a, b] = await Promise.all([
          call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers),
          call(server.app, 'POST', `${Q}/${item.id}/claim`, bob.headers),
        ]);
        const statuses = [a.status, b.status].sort();
        expect(statuses).toEqual([200, 409]);
        const winner = a.status === 200 ? a : b;
        const loser = a.status === 200 ? b : a;
        expect(loser.body.error?.message).toMatch(/claimed by another reviewer/);
        expect((winner.body.claim as { reviewer: { id: string } }).reviewer.id).toBe(
          a.status === 200 ? alice.id : bob.id,
        );
        // Let the lease run out for the next round.
        clock += 301_000;
      }
    });

    it('never hands one item to two reviewers calling `next` at once', async () => {
      for (let i = 0; i < 10; i++) await seedItem(server, 20 + i, { priority: i / 10 });
      const callers = Array.from({ length: 8 }, (_, k) => (k % 2 === 0 ? alice : bob));
      const calls = await Promise.all(
        callers.map((who) => call(server.app, 'GET', `${Q}/next`, who.headers)),
      );
      const held = new Map<string, string>();
      calls.forEach((response, k) => {
        const item = response.body.item as { id: string; claim: { reviewer: { id: string } } };
        const who = callers[k]?.id ?? '';
        expect(item.claim.reviewer.id).toBe(who);
        expect(held.get(item.id) ?? who, `${item.id} went to both reviewers`).toBe(who);
        held.set(item.id, who);
      });
      // The highest-priority items went first.
      expect([...held.keys()].every((id) => id >= 'lq-00022')).toBe(true);

      // Sequentially, `next` gives back the item the reviewer holds until it is done with it.
      const mine = (await call(server.app, 'GET', `${Q}/next`, alice.headers)).body.item as {
        id: string;
      };
      expect(held.get(mine.id)).toBe(alice.id);
      expect(
        ((await call(server.app, 'GET', `${Q}/next`, alice.headers)).body.item as { id: string })
          .id,
      ).toBe(mine.id);

      // Working through the queue hands out every item exactly once.
      const seen = new Set<string>();
      for (let k = 0; k < 40; k++) {
        const who = k % 2 === 0 ? alice : bob;
        const next = (await call(server.app, 'GET', `${Q}/next`, who.headers)).body.item as {
          id: string;
        } | null;
        if (next === null) break;
        expect(seen.has(next.id)).toBe(false);
        seen.add(next.id);
        expect((await call(server.app, 'POST', `${Q}/${next.id}/skip`, who.headers)).status).toBe(
          200,
        );
      }
      expect(seen.size).toBe(10);
      expect((await call(server.app, 'GET', `${Q}/next`, bob.headers)).body.item).toBeNull();
    });

    it('puts an item whose lease ran out back in the queue', async () => {
      await call(server.app, 'PUT', '/api/settings/labeling', admin, { leaseSeconds: 60 });
      const item = await seedItem(server, 30);
      const claimed = await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      expect(claimed.status).toBe(200);
      expect(claimed.body.claim).toMatchObject({ expiresAt: clock + 60_000 });
      const pending = () => call(server.app, 'GET', `${Q}?status=pending`, admin);
      expect((await pending()).body.total).toBe(0);
      expect((await call(server.app, 'POST', `${Q}/${item.id}/claim`, bob.headers)).status).toBe(
        409,
      );

      clock += 60_001;
      const after = await pending();
      expect(after.body.total).toBe(1);
      expect((after.body.items as { status: string; claim: unknown }[])[0]).toMatchObject({
        status: 'pending',
        claim: null,
      });
      expect((await call(server.app, 'POST', `${Q}/${item.id}/claim`, bob.headers)).status).toBe(
        200,
      );
      // Alice's label comes too late: the item is Bob's now.
      const late = await call(server.app, 'POST', `${Q}/${item.id}/label`, alice.headers, oneBox());
      expect(late.status).toBe(409);
      expect(late.body.error?.message).toMatch(/claimed by another reviewer/);
      // Claiming again renews the holder's lease and keeps the claim time.
      clock += 10_000;
      const renewed = await call(server.app, 'POST', `${Q}/${item.id}/claim`, bob.headers);
      expect(renewed.body.claim).toMatchObject({
        claimedAt: clock - 10_000,
        expiresAt: clock + 60_000,
      });
    });

    it('accepts a label submitted twice once, and refuses a different or foreign one', async () => {
      const item = await seedItem(server, 40);
      await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      clock += 12_345;
      const first = await call(server.app, 'POST', `${Q}/${item.id}/label`, alice.headers, {
        ...oneBox(),
        notes: 'a clear crack\nnear the edge',
      });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        status: 'labeled',
        leadTimeMs: 12_345,
        notes: 'a clear crack\nnear the edge',
        labeledBy: { id: alice.id, name: 'alice' },
        labels: oneBox().boxes,
      });
      clock += 1000;
      const again = await call(
        server.app,
        'POST',
        `${Q}/${item.id}/label`,
        alice.headers,
        oneBox(),
      );
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ status: 'labeled', leadTimeMs: 12_345 });
      const different = await call(
        server.app,
        'POST',
        `${Q}/${item.id}/label`,
        alice.headers,
        oneBox(10, 10, 50, 50),
      );
      expect(different.status).toBe(409);
      expect(different.body.error?.message).toMatch(/already labeled/);
      const foreign = await call(
        server.app,
        'POST',
        `${Q}/${item.id}/label`,
        bob.headers,
        oneBox(),
      );
      expect(foreign.status).toBe(409);
      expect((await call(server.app, 'GET', `${Q}/${item.id}`, admin)).body.labels).toEqual(
        oneBox().boxes,
      );
      expect(events.filter((e) => e.type === 'labeling').map((e) => e.action)).toEqual(['labeled']);
    });

    it('refuses labeling, skipping or flagging without a claim', async () => {
      const item = await seedItem(server, 45);
      for (const [verb, body] of [
        ['label', oneBox()],
        ['skip', {}],
        ['flag', { reason: 'missed a dent' }],
      ] as const) {
        const response = await call(
          server.app,
          'POST',
          `${Q}/${item.id}/${verb}`,
          alice.headers,
          body,
        );
        expect(response.status, verb).toBe(409);
        expect(response.body.error?.message).toMatch(/claim item/);
      }
    });

    it('needs a second reviewer to approve a labeler’s label', async () => {
      const item = await seedItem(server, 50);
      await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      await call(server.app, 'POST', `${Q}/${item.id}/label`, alice.headers, oneBox());
      const own = await call(server.app, 'POST', `${Q}/${item.id}/approve`, alice.headers, {});
      expect(own.status).toBe(403);
      expect(own.body.error?.code).toBe('FORBIDDEN');
      expect(await reviewedCount()).toBe(0);

      clock += 5000;
      const approved = await call(server.app, 'POST', `${Q}/${item.id}/approve`, bob.headers, {
        notes: 'agreed',
      });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({
        status: 'approved',
        reviewedBy: { id: bob.id, name: 'bob' },
        reviewedAt: clock,
        reviewNotes: 'agreed',
      });
      const rows = await server.database.db.selectFrom('reviewed_labels').selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        queue_item_id: item.id,
        prediction_id: item.predictionId,
        source: 'review',
        image_blob: item.frameBlob,
        width: 640,
        height: 480,
        labeled_by: alice.id,
        approved_by: bob.id,
        image_ext: 'jpg',
      });
      expect(JSON.parse(rows[0]?.labels ?? '')).toEqual(oneBox().boxes);
      // Approving again is harmless; rejecting an approved label is a conflict.
      expect((await call(server.app, 'POST', `${Q}/${item.id}/approve`, bob.headers)).status).toBe(
        200,
      );
      expect(await reviewedCount()).toBe(1);
      expect((await call(server.app, 'POST', `${Q}/${item.id}/reject`, bob.headers)).status).toBe(
        409,
      );
      expect(events.map((e) => (e.type === 'labeling' ? e.action : ''))).toEqual([
        'labeled',
        'approved',
      ]);
    });

    it('lets an admin approve anything and approves admin labels on submission', async () => {
      const mine = await seedItem(server, 55);
      await call(server.app, 'POST', `${Q}/${mine.id}/claim`, alice.headers);
      await call(server.app, 'POST', `${Q}/${mine.id}/label`, alice.headers, oneBox());
      expect((await call(server.app, 'POST', `${Q}/${mine.id}/approve`, admin)).status).toBe(200);
      const adminItem = await seedItem(server, 56);
      await call(server.app, 'POST', `${Q}/${adminItem.id}/claim`, admin);
      const labeled = await call(server.app, 'POST', `${Q}/${adminItem.id}/label`, admin, {
        boxes: [],
        noDefects: true,
      });
      expect(labeled.body).toMatchObject({ status: 'approved', labels: [] });
      expect(await reviewedCount()).toBe(2);
    });

    it('approves on submission when the setting turns the second review off', async () => {
      const off = await call(server.app, 'PUT', '/api/settings/labeling', admin, {
        requireApproval: false,
      });
      expect(off.body).toMatchObject({ requireApproval: false, leaseSeconds: 300, revision: 1 });
      expect(
        (await call(server.app, 'PUT', '/api/settings/labeling', alice.headers, {})).status,
      ).toBe(403);
      const item = await seedItem(server, 60);
      await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      const labeled = await call(
        server.app,
        'POST',
        `${Q}/${item.id}/label`,
        alice.headers,
        oneBox(),
      );
      expect(labeled.body.status).toBe('approved');
      expect(await reviewedCount()).toBe(1);
    });

    it('rejects into `rejected`, or back into the queue with requeue', async () => {
      const [a, b] = [await seedItem(server, 70), await seedItem(server, 71)];
      for (const item of [a, b]) {
        await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
        await call(server.app, 'POST', `${Q}/${item.id}/label`, alice.headers, oneBox());
      }
      const rejected = await call(server.app, 'POST', `${Q}/${a.id}/reject`, bob.headers, {
        notes: 'that is glare',
      });
      expect(rejected.body).toMatchObject({ status: 'rejected', reviewNotes: 'that is glare' });
      const requeued = await call(server.app, 'POST', `${Q}/${b.id}/reject`, bob.headers, {
        requeue: true,
      });
      expect(requeued.body).toMatchObject({ status: 'pending', labels: null, labeledBy: null });
      const next = await call(server.app, 'GET', `${Q}/next`, bob.headers);
      expect((next.body.item as { id: string }).id).toBe(b.id);
      expect(await reviewedCount()).toBe(0);
    });

    it('skips and flags a claimed item, each once', async () => {
      const [a, b] = [await seedItem(server, 80), await seedItem(server, 81)];
      await call(server.app, 'POST', `${Q}/${a.id}/claim`, alice.headers);
      await call(server.app, 'POST', `${Q}/${b.id}/claim`, alice.headers);
      const skipped = await server.app.inject({
        method: 'POST',
        url: `${Q}/${a.id}/skip`,
        headers: alice.headers,
      });
      expect(skipped.statusCode).toBe(200);
      expect(skipped.json<{ status: string }>().status).toBe('skipped');
      const flagged = await call(server.app, 'POST', `${Q}/${b.id}/flag`, alice.headers, {
        reason: 'crack called a scratch',
      });
      expect(flagged.body).toMatchObject({
        status: 'flagged',
        flaggedReason: 'crack called a scratch',
      });
      expect(
        (await call(server.app, 'POST', `${Q}/${b.id}/flag`, alice.headers, { reason: 'x' }))
          .status,
      ).toBe(200);
      expect(
        (await call(server.app, 'POST', `${Q}/${b.id}/label`, alice.headers, oneBox())).status,
      ).toBe(409);
      expect(
        (await call(server.app, 'POST', `${Q}/${a.id}/flag`, alice.headers, { reason: '' })).status,
      ).toBe(400);
    });

    it('refuses bad boxes with a clear 400 and leaves the item as it was', async () => {
      const item = await seedItem(server, 90);
      await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      const cases: [unknown, RegExp, string][] = [
        [oneBox(600, 400, 660, 470), /outside the 640×480 frame/, 'INVALID_ARGUMENT'],
        [oneBox(100, 100, 100, 180), /zero-size/, 'INVALID_ARGUMENT'],
        [oneBox(100, 100, 200, 180, 'burr'), /'burr' is not a class/, 'INVALID_ARGUMENT'],
        [{ boxes: [] }, /noDefects/, 'VALIDATION_FAILED'],
        [{ ...oneBox(), noDefects: true }, /cannot come with boxes/, 'VALIDATION_FAILED'],
        [{ boxes: [{ className: 'crack', box: { x1: 'a' } }] }, /box/, 'VALIDATION_FAILED'],
        [{ ...oneBox(), extra: 1 }, /extra/, 'VALIDATION_FAILED'],
      ];
      for (const [body, message, code] of cases) {
        const response = await call(
          server.app,
          'POST',
          `${Q}/${item.id}/label`,
          alice.headers,
          body,
        );
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.body.error?.code).toBe(code);
        expect(response.body.error?.message).toMatch(message);
      }
      const unchanged = await call(server.app, 'GET', `${Q}/${item.id}`, admin);
      expect(unchanged.body).toMatchObject({ status: 'claimed', labels: null });
      // A box overshooting by at most 1 px is clipped, and the label then goes through.
      const ok = await call(
        server.app,
        'POST',
        `${Q}/${item.id}/label`,
        alice.headers,
        oneBox(-1, 0, 640.5, 480),
      );
      expect(ok.status).toBe(200);
      expect(ok.body.labels).toEqual(oneBox(0, 0, 640, 480).boxes);
      expect(
        (await call(server.app, 'POST', `${Q}/lq-missing/label`, alice.headers, oneBox())).status,
      ).toBe(404);
      expect((await call(server.app, 'POST', `${Q}/a%2F..%2Fb/claim`, alice.headers)).status).toBe(
        400,
      );
    });

    it('uses the class setting, which only grows once labels exist', async () => {
      const classes = await call(server.app, 'GET', '/api/settings/classes', server.auth('viewer'));
      expect(classes.body).toEqual({ revision: 0, classes: ['scratch', 'crack', 'dent', 'stain'] });
      const replaced = await call(server.app, 'PUT', '/api/settings/classes', admin, {
        classes: ['burr', 'crack'],
      });
      expect(replaced.status).toBe(200);
      const item = await seedItem(server, 95);
      await call(server.app, 'POST', `${Q}/${item.id}/claim`, alice.headers);
      expect(
        (
          await call(
            server.app,
            'POST',
            `${Q}/${item.id}/label`,
            alice.headers,
            oneBox(1, 1, 9, 9, 'burr'),
          )
        ).status,
      ).toBe(200);
      const reorder = await call(server.app, 'PUT', '/api/settings/classes', admin, {
        classes: ['crack', 'burr'],
      });
      expect(reorder.status).toBe(409);
      const append = await call(server.app, 'PUT', '/api/settings/classes', admin, {
        classes: ['burr', 'crack', 'pit'],
      });
      expect(append.body).toEqual({ revision: 2, classes: ['burr', 'crack', 'pit'] });
      const twice = await call(server.app, 'PUT', '/api/settings/classes', admin, {
        classes: ['burr', 'crack', 'pit', 'pit'],
      });
      expect(twice.status).toBe(400);
    });

    it('reports counts, throughput and lead times per reviewer, and the Prometheus depth', async () => {
      const items: SeededItem[] = [];
      for (let i = 0; i < 7; i++) items.push(await seedItem(server, 100 + i));
      const start = clock;
      const act = async (
        who: typeof alice,
        index: number,
        verb: string,
        seconds: number,
        body: unknown,
      ) => {
        const id = items[index]?.id ?? '';
        await call(server.app, 'POST', `${Q}/${id}/claim`, who.headers);
        clock += seconds * 1000;
        const response = await call(server.app, 'POST', `${Q}/${id}/${verb}`, who.headers, body);
        expect(response.status).toBe(200);
      };
      await act(alice, 0, 'label', 10, oneBox());
      await act(alice, 1, 'label', 20, oneBox());
      await act(alice, 2, 'skip', 3, {});
      await act(bob, 3, 'label', 30, oneBox());
      await act(bob, 4, 'flag', 5, { reason: 'false alarm' });
      await call(server.app, 'POST', `${Q}/${items[0]?.id}/approve`, bob.headers);
      await call(server.app, 'POST', `${Q}/${items[1]?.id}/reject`, bob.headers);
      await call(server.app, 'POST', `${Q}/${items[5]?.id}/claim`, alice.headers);
      clock += 1000;
      const stats = await call(
        server.app,
        'GET',
        `${Q}/stats?since=${start}&until=${start + 3_600_000}`,
        server.auth('viewer'),
      );
      expect(stats.status).toBe(200);
      expect(stats.body.counts).toEqual({
        pending: 1,
        claimed: 1,
        labeled: 1,
        approved: 1,
        rejected: 1,
        skipped: 1,
        flagged: 1,
        total: 7,
      });
      expect(stats.body.reviewedLabels).toBe(1);
      expect(stats.body.actions).toBe(5);
      expect(stats.body.actionsPerHour).toBe(5);
      expect(stats.body.reviewers).toEqual([
        {
          reviewer: { id: alice.id, name: 'alice' },
          labeled: 2,
          skipped: 1,
          flagged: 0,
          approvedOfTheirs: 1,
          rejectedOfTheirs: 1,
          reviewed: 0,
          meanLeadTimeMs: 11_000,
          itemsPerHour: 3,
        },
        {
          reviewer: { id: bob.id, name: 'bob' },
          labeled: 1,
          skipped: 0,
          flagged: 1,
          approvedOfTheirs: 0,
          rejectedOfTheirs: 0,
          reviewed: 2,
          meanLeadTimeMs: 17_500,
          itemsPerHour: 2,
        },
      ]);
      const metrics = await server.app.inject({ method: 'GET', url: '/metrics', headers: admin });
      expect(metrics.body).toMatch(/visionloop_labeling_queue_depth\{status="pending"\} 1\n/);
      expect(metrics.body).toMatch(/visionloop_labeling_queue_depth\{status="claimed"\} 1\n/);
      expect(metrics.body).toMatch(/visionloop_labeling_queue_depth\{status="approved"\} 1\n/);
      // The lease runs out: the refresh moves the item back to pending.
      clock += 301_000;
      await server.services.labeling.refreshQueueDepth();
      const later = await server.app.inject({ method: 'GET', url: '/metrics', headers: admin });
      expect(later.body).toMatch(/visionloop_labeling_queue_depth\{status="pending"\} 2\n/);
      expect(later.body).toMatch(/visionloop_labeling_queue_depth\{status="claimed"\} 0\n/);
      expect(
        (await call(server.app, 'GET', `${Q}/stats?since=10&until=5`, admin)).body.error?.code,
      ).toBe('INVALID_ARGUMENT');
    });

    it('pages the history newest first, by reviewer and status', async () => {
      for (let i = 0; i < 5; i++) {
        const item = await seedItem(server, 200 + i);
        const who = i < 3 ? alice : bob;
        await call(server.app, 'POST', `${Q}/${item.id}/claim`, who.headers);
        clock += 1000;
        await call(
          server.app,
          'POST',
          `${Q}/${item.id}/${i === 4 ? 'skip' : 'label'}`,
          who.headers,
          i === 4 ? {} : oneBox(),
        );
      }
      const first = await call(server.app, 'GET', `${Q}/history?limit=2`, server.auth('viewer'));
      expect((first.body.items as { id: string }[]).map((i) => i.id)).toEqual([
        'lq-00204',
        'lq-00203',
      ]);
      const second = await call(
        server.app,
        'GET',
        `${Q}/history?limit=2&cursor=${String(first.body.nextCursor)}`,
        server.auth('viewer'),
      );
      expect((second.body.items as { id: string }[]).map((i) => i.id)).toEqual([
        'lq-00202',
        'lq-00201',
      ]);
      const mine = await call(server.app, 'GET', `${Q}/history?reviewer=${alice.id}`, admin);
      expect((mine.body.items as unknown[]).length).toBe(3);
      const skipped = await call(server.app, 'GET', `${Q}/history?status=skipped`, admin);
      expect((skipped.body.items as { id: string }[]).map((i) => i.id)).toEqual(['lq-00204']);
      expect((await call(server.app, 'GET', `${Q}/history?cursor=forged`, admin)).status).toBe(400);
    });
  });
}
