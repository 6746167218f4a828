/**
 * Stage outputs and shadow results through ingest and /api/inspection-logs, on each dialect:
 * `stages` and `decidedBy` stored with the result, `shadow` as a `shadow_predictions` row under
 * the result's id (production_version = the result's model version), stored once when a batch
 * is sent again, read back, and the `decidedBy` / `shadowDisagrees` filters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectionLogItem } from '../../../src/shared/api/inspection-logs.js';
import type { FrameResult, InspectionStages, ShadowResult } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, frameResult, openTestServer, seededRandom } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const RULES = ['severe', 'big', 'fail-threshold'];

function stagesFor(result: FrameResult, random: () => number): InspectionStages {
  const detections = result.detections.map((_, k) => ({
    classification: {
      classId: k % 4,
      className: ['not_defect', 'minor', 'major', 'critical'][k % 4] ?? 'minor',
      confidence: Math.round(random() * 1000) / 1000,
    },
    segmentation: {
      areaPx: 100 + k * 7,
      areaMm2: (100 + k * 7) * 0.01,
      polygon: [10, 20, 60, 20, 60, 70, 10, 70],
    },
    vetoed: k % 4 === 0,
  }));
  return {
    versions: { classify: 'cls-1', segment: 'seg-1' },
    detections,
    totalAreaPx: detections.reduce((sum, d) => sum + (d.vetoed ? 0 : d.segmentation.areaPx), 0),
    totalAreaMm2: null,
    maxSeverity: detections.length === 0 ? null : Math.min(3, detections.length - 1),
    timings: { classifyMs: 1.5, segmentMs: 2.25 },
  };
}

function shadowFor(result: FrameResult, random: () => number): ShadowResult {
  const disagreement = Math.round(random() * 1000) / 1000;
  return {
    version: 'cand-2',
    detections: result.detections.slice(0, 1),
    decision: random() < 0.5 ? 'PASS' : 'FAIL',
    disagreement,
    disagrees: disagreement >= 0.5,
    inferenceMs: 7.5,
  };
}

/** 300 results: every 2nd with stages, FAILs with a rule, every 3rd with a shadow. */
function dataset(): FrameResult[] {
  const random = seededRandom(18);
  return Array.from({ length: 300 }, (_, i) => {
    const base = frameResult(i, {
      camera: i % 2 === 0 ? 'cam-a' : 'cam-b',
      capturedAt: T0 + Math.floor(i / 3) * 1000,
      classes: i % 5 === 0 ? [] : ['scratch', 'crack'].slice(0, 1 + (i % 2)),
    });
    const result: FrameResult = { ...base };
    if (i % 2 === 0) result.stages = stagesFor(base, random);
    if (base.decision === 'FAIL') result.decidedBy = RULES[i % RULES.length];
    if (i % 3 === 0) result.shadow = shadowFor(base, random);
    return result;
  });
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`stage outputs and shadows on ${target.dialect}`, () => {
    let server: TestServer;
    const all = dataset();

    beforeAll(async () => {
      server = await openTestServer(target);
    });
    afterAll(() => server.close());

    async function ingest(results: FrameResult[]): Promise<{ accepted: number }> {
      const response = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { agentId: 'agt-1', results },
      });
      expect(response.statusCode).toBe(200);
      return response.json<{ accepted: number }>();
    }

    async function pages(query: string): Promise<InspectionLogItem[]> {
      const items: InspectionLogItem[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const url: string = `/api/inspection-logs?limit=41${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
        const response = await server.app.inject({
          method: 'GET',
          url,
          headers: server.auth('viewer'),
        });
        expect(response.statusCode, query).toBe(200);
        const body: { items: InspectionLogItem[]; nextCursor: string | null } = response.json();
        items.push(...body.items);
        cursor = body.nextCursor;
        if (cursor === null) return items;
      }
      throw new Error('too many pages');
    }

    it('stores stages, decidedBy and one shadow row per result, once per re-sent batch', async () => {
      // The first 120 alone, then the whole set (120 repeated): nothing is stored twice.
      expect(await ingest(all.slice(0, 120))).toMatchObject({ accepted: 120 });
      expect(await ingest(all)).toMatchObject({ accepted: 180 });
      expect(await ingest(all.slice(60, 200))).toMatchObject({ accepted: 0 });
      const db = server.database.db;
      const shadows = await db.selectFrom('shadow_predictions').selectAll().orderBy('id').execute();
      const withShadow = all.filter((r) => r.shadow !== undefined);
      expect(shadows).toHaveLength(100);
      expect(shadows.map((row) => row.id)).toEqual(withShadow.map((r) => r.id).sort());
      const first = withShadow[7];
      if (first?.shadow === undefined) throw new Error('fixture too small');
      const row = shadows.find((s) => s.id === first.id);
      expect(row).toMatchObject({
        camera: first.camera,
        captured_at: first.capturedAt,
        model_version: 'cand-2',
        production_version: first.modelVersion,
        rollout_id: null,
        decision: first.shadow.decision,
        disagreement: first.shadow.disagreement,
        disagrees: first.shadow.disagrees ? 1 : 0,
        inference_ms: 7.5,
      });
      expect(JSON.parse(row?.detections ?? 'null')).toEqual(first.shadow.detections);
      // A result without stages stores exactly what it stored before 0010.
      const plain = all.find((r) => r.stages === undefined && r.decidedBy === undefined);
      const stored = await db
        .selectFrom('prediction_logs')
        .select(['stages', 'decided_by'])
        .where('id', '=', plain?.id ?? '')
        .executeTakeFirstOrThrow();
      expect(stored).toEqual({ stages: null, decided_by: null });
    });

    it('answers stages, decidedBy and shadow as they were sent', async () => {
      const items = await pages('');
      expect(items).toHaveLength(300);
      const byId = new Map(items.map((item) => [item.id, item]));
      for (const result of all) {
        const item = byId.get(result.id);
        expect(item?.stages, result.id).toEqual(result.stages);
        expect(item?.decidedBy, result.id).toBe(result.decidedBy);
        expect(item?.shadow, result.id).toEqual(result.shadow);
      }
      const one = all[6];
      if (one?.shadow === undefined || one.stages === undefined) throw new Error('fixture');
      const response = await server.app.inject({
        method: 'GET',
        url: `/api/inspection-logs/${one.id}`,
        headers: server.auth('viewer'),
      });
      expect(response.statusCode).toBe(200);
      expect(response.json<InspectionLogItem>()).toMatchObject({
        id: one.id,
        stages: one.stages,
        shadow: one.shadow,
      });
    });

    it('filters by decidedBy and shadowDisagrees, alone and with other filters', async () => {
      const newestFirst = (a: FrameResult, b: FrameResult) =>
        b.capturedAt - a.capturedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
      const cases: [string, (r: FrameResult) => boolean][] = [
        ['&decidedBy=severe', (r) => r.decidedBy === 'severe'],
        ['&decidedBy=fail-threshold', (r) => r.decidedBy === 'fail-threshold'],
        ['&shadowDisagrees=true', (r) => r.shadow?.disagrees === true],
        ['&shadowDisagrees=false', (r) => r.shadow?.disagrees === false],
        [
          '&shadowDisagrees=1&camera=cam-a&class=scratch',
          (r) =>
            r.shadow?.disagrees === true &&
            r.camera === 'cam-a' &&
            r.detections.some((d) => d.className === 'scratch'),
        ],
        [
          '&decidedBy=severe&shadowDisagrees=true',
          (r) => r.decidedBy === 'severe' && r.shadow?.disagrees === true,
        ],
      ];
      for (const [query, keep] of cases) {
        const expected = all.filter(keep).sort(newestFirst);
        expect(expected.length, query).toBeGreaterThan(2);
        expect(
          (await pages(query)).map((item) => item.id),
          query,
        ).toEqual(expected.map((r) => r.id));
      }
    });

    it('answers 400 for a malformed rule id or shadowDisagrees', async () => {
      for (const query of [
        'decidedBy=Severe',
        'decidedBy=',
        'decidedBy=a%20b',
        'shadowDisagrees=maybe',
      ]) {
        const response = await server.app.inject({
          method: 'GET',
          url: `/api/inspection-logs?${query}`,
          headers: server.auth('viewer'),
        });
        expect(response.statusCode, query).toBe(400);
        expect(response.json<{ error: { code: string; message: string } }>().error).toMatchObject({
          code: 'VALIDATION_FAILED',
        });
      }
    });
  });
}
