/**
 * /api/inspection-logs on each dialect: every filter, newest-first order, and cursor pages
 * that neither skip nor repeat a result (many results share a capture time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectionLogItem } from '../../../src/shared/api/inspection-logs.js';
import type { FrameResult } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, frameResult, openTestServer, seededRandom } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const CAMERAS = ['cam-a', 'cam-b', 'cam-c'];
const CLASSES = ['scratch', 'crack', 'dent', 'stain'];
const MODELS = ['seed-1', 'ft-2'];

/** 600 results over 3 cameras; capture times collide often (only 150 distinct). */
function dataset(): FrameResult[] {
  const random = seededRandom(7);
  return Array.from({ length: 600 }, (_, i) => {
    const classCount = Math.floor(random() * 3);
    const classes = Array.from(
      { length: classCount },
      () => CLASSES[Math.floor(random() * 4)] ?? 'dent',
    );
    return frameResult(i, {
      camera: CAMERAS[i % 3],
      capturedAt: T0 + Math.floor(random() * 150) * 1000,
      modelVersion: MODELS[i % 2],
      classes,
      uncertain: random() < 0.3,
    });
  });
}

function newestFirst(a: FrameResult, b: FrameResult): number {
  return b.capturedAt - a.capturedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`inspection logs on ${target.dialect}`, () => {
    let server: TestServer;
    const all = dataset();

    beforeAll(async () => {
      server = await openTestServer(target);
      const response = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results: all },
      });
      expect(response.json()).toMatchObject({ accepted: 600 });
    });
    afterAll(() => server.close());

    /** Every page of a query, following cursors. */
    async function allPages(query: string, limit: number): Promise<InspectionLogItem[]> {
      const items: InspectionLogItem[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const url: string = `/api/inspection-logs?limit=${limit}${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
        const response = await server.app.inject({
          method: 'GET',
          url,
          headers: server.auth('viewer'),
        });
        expect(response.statusCode).toBe(200);
        const body = response.json<{ items: InspectionLogItem[]; nextCursor: string | null }>();
        expect(body.items.length).toBeLessThanOrEqual(limit);
        items.push(...body.items);
        cursor = body.nextCursor;
        if (cursor === null) return items;
      }
      throw new Error('too many pages');
    }

    const ids = (items: readonly { id: string }[]) => items.map((item) => item.id);

    it('pages through everything newest first without skipping or repeating', async () => {
      const expected = [...all].sort(newestFirst);
      expect(ids(await allPages('', 37))).toEqual(ids(expected));
      const first = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-logs',
        headers: server.auth('viewer'),
      });
      expect(first.json<{ items: unknown[] }>().items).toHaveLength(50);
    });

    it('applies each filter, alone and combined, across pages', async () => {
      const cases: [string, (r: FrameResult) => boolean][] = [
        ['&camera=cam-b', (r) => r.camera === 'cam-b'],
        ['&class=crack', (r) => r.detections.some((d) => d.className === 'crack')],
        ['&decision=FAIL', (r) => r.decision === 'FAIL'],
        ['&uncertain=true', (r) => r.uncertain],
        ['&uncertain=0', (r) => !r.uncertain],
        ['&modelVersion=ft-2', (r) => r.modelVersion === 'ft-2'],
        [
          `&from=${T0 + 40_000}&to=${T0 + 90_000}`,
          (r) => r.capturedAt >= T0 + 40_000 && r.capturedAt < T0 + 90_000,
        ],
        [
          `&class=dent&camera=cam-a&uncertain=false&from=${T0 + 10_000}`,
          (r) =>
            r.detections.some((d) => d.className === 'dent') &&
            r.camera === 'cam-a' &&
            !r.uncertain &&
            r.capturedAt >= T0 + 10_000,
        ],
      ];
      for (const [query, keep] of cases) {
        const expected = all.filter(keep).sort(newestFirst);
        expect(expected.length).toBeGreaterThan(5);
        expect(ids(await allPages(query, 23)), query).toEqual(ids(expected));
      }
    });

    it('answers one stored result by id, and 404/400 for unknown or malformed ids', async () => {
      const wanted = all[123];
      if (wanted === undefined) throw new Error('fixture too small');
      const response = await server.app.inject({
        method: 'GET',
        url: `/api/inspection-logs/${wanted.id}`,
        headers: server.auth('viewer'),
      });
      expect(response.statusCode).toBe(200);
      const item = response.json<InspectionLogItem>();
      expect(item).toMatchObject({
        id: wanted.id,
        camera: wanted.camera,
        capturedAt: wanted.capturedAt,
        decision: wanted.decision,
        modelVersion: wanted.modelVersion,
        detections: wanted.detections,
        features: wanted.features,
        hasFrame: false,
      });
      const missing = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-logs/res-nobody-0000000',
        headers: server.auth('viewer'),
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json<{ error: { code: string } }>().error.code).toBe('NOT_FOUND');
      const malformed = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-logs/..%2F..%2Fetc',
        headers: server.auth('viewer'),
      });
      expect(malformed.statusCode).toBe(400);
    });

    it('answers 400 for a cursor it did not issue and for bad filters', async () => {
      for (const query of [
        'cursor=bm90LWEtY3Vyc29y',
        'cursor=%2e%2e%2f',
        'limit=0',
        'limit=501',
        'decision=MAYBE',
        'uncertain=yes',
        'from=-5',
        'camera=../../etc/passwd',
        'colour=red',
      ]) {
        const response = await server.app.inject({
          method: 'GET',
          url: `/api/inspection-logs?${query}`,
          headers: server.auth('viewer'),
        });
        expect(response.statusCode, query).toBe(400);
        expect(response.json<{ error: { code: string } }>().error.code).toMatch(
          /VALIDATION_FAILED|INVALID_ARGUMENT/,
        );
      }
    });
  });
}
