/**
 * Issue 18 on the labeling side, on each dialect: a frame sampled because its shadow model
 * disagreed becomes a `committee` item carrying the shadow's boxes as an alternative; a label
 * may carry mask polygons and crop classes (bad polygons are clear 400s); snapshots keep them
 * and export YOLO-seg rows (labels-seg/) and crops.csv, while labels without them hash as before.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelingItem } from '../../../src/shared/api/labeling.js';
import type { FrameResult } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, frameResult, openTestServer } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';
import { call, frameJpeg, reviewer } from './fixtures.js';

function committeeResult(index: number): FrameResult {
  const base = frameResult(index, { classes: ['crack'] });
  return {
    ...base,
    sampling: { reasons: ['committee'], priority: 5.5, phash: '00ff00ff00ff00ff' },
    shadow: {
      version: 'cand-2',
      detections: [
        {
          classId: 3,
          className: 'stain',
          confidence: 0.81,
          box: { x1: 300, y1: 200, x2: 340, y2: 260 },
        },
      ],
      decision: 'FAIL',
      disagreement: 1,
      disagrees: true,
      inferenceMs: 6,
    },
  };
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`stage labels on ${target.dialect}`, () => {
    let server: TestServer;
    const work = mkdtempSync(path.join(tmpdir(), 'visionloop-stage-labels-'));

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => T0 + 5_000_000 });
    });
    afterAll(async () => {
      await server.close();
      rmSync(work, { recursive: true, force: true });
    });

    async function ingestAndUpload(result: FrameResult, index: number): Promise<void> {
      const admin = server.auth('admin');
      const ingest = await call(server.app, 'POST', '/api/ingest', admin, { results: [result] });
      expect(ingest.status).toBe(200);
      const upload = await server.app.inject({
        method: 'PUT',
        url: `/api/frames/${result.id}`,
        headers: { ...admin, 'content-type': 'image/jpeg' },
        payload: await frameJpeg(index),
      });
      expect(upload.statusCode).toBe(200);
    }

    it('queues a shadow disagreement as a committee item with the shadow boxes beside the pre-labels', async () => {
      const result = committeeResult(1);
      await ingestAndUpload(result, 1);
      // A frame sampled for another reason keeps its ranking strategy and has no alternative.
      const plain = {
        ...frameResult(2),
        sampling: {
          reasons: ['low_confidence'],
          priority: 4.2,
          phash: '0f0f0f0f0f0f0f0f',
          strategy: 'uncertainty',
          strategyScore: 0.4,
        },
      };
      await ingestAndUpload(plain, 2);
      const viewer = server.auth('viewer');
      const committee = await call(
        server.app,
        'GET',
        '/api/labeling-queue?strategy=committee',
        viewer,
      );
      expect(committee.status).toBe(200);
      const items = committee.body.items as LabelingItem[];
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({
        predictionId: result.id,
        reason: 'committee',
        strategy: 'committee',
        strategyScore: 1,
        preLabels: result.detections,
        alternatives: [
          {
            source: 'shadow',
            modelVersion: 'cand-2',
            detections: result.shadow?.detections,
            decision: 'FAIL',
            disagreement: 1,
          },
        ],
      });
      const all = await call(server.app, 'GET', '/api/labeling-queue', viewer);
      const other = (all.body.items as LabelingItem[]).find((i) => i.predictionId === plain.id);
      expect(other).toMatchObject({
        strategy: 'uncertainty',
        strategyScore: 0.4,
        alternatives: [],
      });
    });

    it('stores polygons and crop classes with a label and refuses bad polygons with a 400', async () => {
      const admin = await reviewer(server, 'stage-admin', 'admin');
      const item = (
        (await call(server.app, 'GET', '/api/labeling-queue?strategy=committee', admin.headers))
          .body.items as LabelingItem[]
      )[0];
      if (item === undefined) throw new Error('no committee item');
      const url = `/api/labeling-queue/${item.id}`;
      expect((await call(server.app, 'POST', `${url}/claim`, admin.headers)).status).toBe(200);
      const box = { x1: 100, y1: 100, x2: 200, y2: 180 };
      const bad: [unknown, RegExp][] = [
        [[110, 110, 150, 170], /at least 3 points/],
        [[110, 110, 150, 170, 190], /even count|at least 3/],
        [[110, 110, 150, 170, 260, 120], /point 2 \(260,120\) lies outside its box/],
        [[110, 110, 150, 150, 190, 190], /lies outside its box|encloses no area/],
        [[110, 110, 130, 130, 150, 150], /encloses no area/],
        [Array.from({ length: 130 }, (_, i) => 120 + (i % 50)), /at most 64 points/],
      ];
      for (const [polygon, message] of bad) {
        const response = await call(server.app, 'POST', `${url}/label`, admin.headers, {
          boxes: [{ className: 'crack', box, polygon }],
        });
        expect(response.status, JSON.stringify(polygon)).toBe(400);
        expect(response.body.error?.message, JSON.stringify(polygon)).toMatch(message);
      }
      const cropClassBad = await call(server.app, 'POST', `${url}/label`, admin.headers, {
        boxes: [{ className: 'crack', box, cropClass: '' }],
      });
      expect(cropClassBad.status).toBe(400);
      const label = {
        boxes: [
          {
            className: 'crack',
            box,
            // 0.5 px overshoot of the box is clipped to it.
            polygon: [99.5, 110, 150, 100, 200, 170, 120, 180],
            cropClass: 'major',
          },
          { className: 'stain', box: { x1: 300, y1: 200, x2: 340, y2: 260 }, cropClass: 'minor' },
        ],
      };
      const labeled = await call(server.app, 'POST', `${url}/label`, admin.headers, label);
      expect(labeled.status).toBe(200);
      expect(labeled.body).toMatchObject({
        status: 'approved',
        labels: [
          {
            className: 'crack',
            box,
            polygon: [100, 110, 150, 100, 200, 170, 120, 180],
            cropClass: 'major',
          },
          { className: 'stain', cropClass: 'minor' },
        ],
      });
      expect(
        (labeled.body.labels as { polygon?: unknown }[])[1]?.polygon,
        'a box without a polygon has none',
      ).toBeUndefined();
      const read = await call(server.app, 'GET', url, admin.headers);
      expect(read.body.labels).toEqual(labeled.body.labels);
    });

    it('snapshots polygons and crop classes and writes labels-seg/ and crops.csv', async () => {
      const created = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {});
      expect(created.status).toBe(201);
      const id = (created.body as { dataset: { id: string } }).dataset.id;
      const dir = path.join(work, 'materialized');
      await server.services.datasets.materialize(id, dir);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
        images: { id: string; ext: string; split: string; segments?: string[] }[];
      };
      const image = manifest.images[0];
      if (image === undefined) throw new Error('empty snapshot');
      // 640×480 frame: the crack's outline normalized, class id 1 (crack).
      expect(image.segments).toEqual([
        '1 0.156250 0.229167 0.234375 0.208333 0.312500 0.354167 0.187500 0.375000',
      ]);
      const seg = readFileSync(
        path.join(dir, 'labels-seg', image.split, `${image.id}.txt`),
        'utf8',
      );
      expect(seg).toBe(`${image.segments?.[0]}\n`);
      expect(readdirSync(path.join(dir, 'labels', image.split))).toEqual([`${image.id}.txt`]);
      expect(readFileSync(path.join(dir, 'crops.csv'), 'utf8')).toBe(
        'image,split,class_id,class,x1,y1,x2,y2,crop_class\n' +
          `images/${image.split}/${image.id}.${image.ext},${image.split},1,crack,100,100,200,180,major\n` +
          `images/${image.split}/${image.id}.${image.ext},${image.split},3,stain,300,200,340,260,minor\n`,
      );
    });
  });
}
