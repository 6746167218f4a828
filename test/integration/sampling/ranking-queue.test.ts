/**
 * The queue order follows the configured ranking weights (issue 17), end to end on each
 * dialect: the weights set through PUT /api/settings/agent reach the agent's sampler, whose
 * marks go through ingest and the frame upload into the labeling queue, and
 * GET /api/labeling-queue serves the items in the order those weights give — with the strategy
 * that ranked each item and its score. Then migration 0009 down and up.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameSampler } from '../../../src/agent/sampling/frame-sampler.js';
import { migrateDown, migrateToLatest } from '../../../src/db/migrate.js';
import { labelingStrategyMigration } from '../../../src/db/migrations/0009-labeling-strategy.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import type { AgentSettings } from '../../../src/shared/api/agents.js';
import type { QueueListResponse } from '../../../src/shared/api/labeling.js';
import type { Detection, FrameResult } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import { frameResult, openTestServer, testJpeg } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';

function candidate(confidence: number): Detection {
  return {
    classId: 1,
    className: 'dent',
    confidence,
    box: { x1: 200, y1: 200, x2: 260, y2: 240 },
    classScores: [0.01, confidence, 0.01, 0.01],
  };
}

/**
 * Three frames of one camera: `sure` has a detection with two-way class confusion (high
 * informativeness) and no candidates; `halfSeen` no detection and a candidate at 0.5 (candidate
 * uncertainty 1); `faint` no detection and a candidate at 0.1 (0.2).
 */
function frames(camera: string): { name: string; result: FrameResult; candidates: Detection[] }[] {
  const base = (index: number) => ({ ...frameResult(index, { camera }), inferred: true });
  const sure = base(1);
  sure.detections = [
    {
      classId: 0,
      className: 'scratch',
      confidence: 0.9,
      box: { x1: 10, y1: 20, x2: 110, y2: 90 },
      classScores: [0.9, 0.85, 0.01, 0.01],
    },
  ];
  const halfSeen = { ...base(2), detections: [] };
  const faint = { ...base(3), detections: [] };
  return [
    { name: 'sure', result: sure, candidates: [] },
    { name: 'halfSeen', result: halfSeen, candidates: [candidate(0.5)] },
    { name: 'faint', result: faint, candidates: [candidate(0.1)] },
  ];
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`ranking on ${target.dialect}`, () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await openTestServer(target);
    });
    afterAll(() => server.close());

    /** Sets the weights, samples the three frames with them on `camera`, uploads, lists. */
    async function queueWith(
      camera: string,
      weights: { uncertainty: number; candidates: number },
    ): Promise<{ name: string; strategy: string | null; strategyScore: number | null }[]> {
      const put = await server.app.inject({
        method: 'PUT',
        url: '/api/settings/agent',
        headers: server.auth('admin'),
        payload: {
          sampling: {
            // Every frame is kept by `random` alone (one tier), nothing else interferes.
            strategies: {
              uncertainty: { enabled: false },
              novelty: { enabled: false },
              random: { keepProbability: 1 },
            },
            dedupe: { enabled: false },
            ranking: { weights: { ...weights, diversity: 0, class_balance: 0, random: 0 } },
          },
        },
      });
      expect(put.statusCode).toBe(200);
      const settings = put.json<AgentSettings>();
      expect(settings.sampling?.ranking?.weights).toEqual({
        ...weights,
        diversity: 0,
        class_balance: 0,
        random: 0,
      });
      const sampler = new FrameSampler(settings.sampling, { random: () => 0.5, now: () => 1 });
      const byId = new Map<string, string>();
      const results: FrameResult[] = [];
      for (const { name, result, candidates } of frames(camera)) {
        const outcome = sampler.sample({
          result,
          hash: () => ({ hi: results.length + 1, lo: 0 }),
          driftActive: false,
          candidates,
        });
        if (!outcome.sampled) throw new Error(`${name} was not sampled: ${outcome.skipped}`);
        results.push({ ...result, sampling: outcome.sampling });
        byId.set(result.id, name);
      }
      const ingest = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results },
      });
      expect(ingest.json()).toMatchObject({ accepted: 3 });
      const jpeg = await testJpeg();
      for (const result of results) {
        const upload = await server.app.inject({
          method: 'PUT',
          url: `/api/frames/${result.id}`,
          headers: { ...server.auth('agent'), 'content-type': 'image/jpeg' },
          payload: jpeg,
        });
        expect(upload.statusCode).toBe(200);
      }
      const list = await server.app.inject({
        method: 'GET',
        url: `/api/labeling-queue?status=pending&camera=${camera}`,
        headers: server.auth('labeler'),
      });
      expect(list.statusCode).toBe(200);
      return list.json<QueueListResponse>().items.map((item) => ({
        name: byId.get(item.predictionId ?? '') ?? '?',
        strategy: item.strategy,
        strategyScore: item.strategyScore,
      }));
    }

    it('serves the queue in the order the ranking weights give', async () => {
      const byDetections = await queueWith('cam-u', { uncertainty: 1, candidates: 0 });
      expect(byDetections.map((i) => i.name)).toEqual(['sure', 'halfSeen', 'faint']);
      expect(byDetections[0]?.strategy).toBe('uncertainty');

      const byCandidates = await queueWith('cam-c', { uncertainty: 0, candidates: 1 });
      expect(byCandidates).toEqual([
        { name: 'halfSeen', strategy: 'candidates', strategyScore: 1 },
        { name: 'faint', strategy: 'candidates', strategyScore: 0.2 },
        // Only candidates count: the frame without any is ranked by them too, at 0.
        { name: 'sure', strategy: 'candidates', strategyScore: 0 },
      ]);
    });

    it('migration 0009 adds the strategy columns, and removes them again', async () => {
      const handle = await target.open({ migrate: false });
      const hasColumns = async () => {
        try {
          await sql`select strategy, strategy_score from labeling_queue where 1 = 0`.execute(
            handle.db,
          );
          return true;
        } catch {
          return false;
        }
      };
      try {
        const upTo = MIGRATIONS.slice(0, MIGRATIONS.indexOf(labelingStrategyMigration) + 1);
        await migrateToLatest(handle, upTo);
        expect(await hasColumns()).toBe(true);
        expect(await migrateDown(handle, 1, upTo)).toEqual(['0009_labeling_strategy']);
        expect(await hasColumns()).toBe(false);
        await migrateToLatest(handle, upTo);
        expect(await hasColumns()).toBe(true);
      } finally {
        await handle.cleanup();
      }
    });
  });
}
