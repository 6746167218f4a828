/**
 * Dataset snapshots through the HTTP API on every available dialect: snapshots of approved
 * labels (content-named, deterministic replay), materialization, YOLO and COCO exports,
 * export → import → the same manifest hash on a fresh server, and imports that must be
 * refused whole (a malformed row with its file and line, `../` entries, unknown classes).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import {
  directoryEntries,
  extractArchive,
  packTarGz,
} from '../../../src/repositories/dataset-archive.js';
import { YoloDatasetRepository } from '../../../src/repositories/yolo-dataset.repository.js';
import { sha256Hex, splitOf } from '../../../src/services/dataset-manifest.js';
import type { DatasetInfo } from '../../../src/shared/api/datasets.js';
import { exportDataset } from '../../../src/synth/dataset-export.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, openTestServer } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';
import { call, reviewer, seedItem } from './fixtures.js';

const Q = '/api/labeling-queue';
const work = mkdtempSync(path.join(tmpdir(), 'vl-datasets-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Labels `count` items as admin (approved on submission), index `from`…, 1–2 boxes each. */
async function approveItems(server: TestServer, from: number, count: number): Promise<void> {
  const admin = server.auth('admin');
  for (let i = from; i < from + count; i++) {
    const item = await seedItem(server, i);
    await call(server.app, 'POST', `${Q}/${item.id}/claim`, admin);
    const boxes = [{ className: 'crack', box: { x1: 10 + i, y1: 20, x2: 110 + i, y2: 90.5 } }];
    if (i % 3 === 0)
      boxes.push({ className: 'stain', box: { x1: 300, y1: 200, x2: 333, y2: 260 } });
    const body = i % 5 === 4 ? { boxes: [], noDefects: true } : { boxes };
    const labeled = await call(server.app, 'POST', `${Q}/${item.id}/label`, admin, body);
    if (labeled.body.status !== 'approved') throw new Error(JSON.stringify(labeled.body));
  }
}

async function countRows(
  server: TestServer,
  table: 'reviewed_labels' | 'datasets',
): Promise<number> {
  const row = await server.database.db
    .selectFrom(table)
    .select(sql<number>`count(*)`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function upload(
  server: TestServer,
  archive: Buffer,
  query = '',
  contentType = 'application/gzip',
) {
  const response = await server.app.inject({
    method: 'POST',
    url: `/api/datasets/import${query}`,
    headers: { ...server.auth('admin'), 'content-type': contentType },
    payload: archive,
  });
  return {
    status: response.statusCode,
    body: response.json<{
      dataset: DatasetInfo;
      created: boolean;
      images: number;
      warnings: string[];
      error?: { code: string; message: string };
    }>(),
  };
}

/** A synthetic YOLO data set on disk (6 small frames), a fresh copy per call. */
async function synthDataset(name: string): Promise<string> {
  const dir = path.join(work, name);
  await exportDataset({
    outDir: dir,
    presets: 'nominal',
    count: 6,
    seed: 11,
    valFraction: 0.34,
    width: 160,
    height: 120,
  });
  return dir;
}

async function archiveOf(dir: string): Promise<Buffer> {
  return buffer(packTarGz(await directoryEntries(dir, 'upload/')));
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`dataset snapshots on ${target.dialect}`, () => {
    let server: TestServer;
    let clock = T0 + 5_000_000;
    let first: DatasetInfo;

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => clock });
    });
    afterAll(() => server.close());

    it('refuses an empty snapshot and an unknown parent', async () => {
      const empty = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {});
      expect(empty.status).toBe(400);
      expect(empty.body.error?.message).toMatch(/no reviewed labels yet/);
      const exported = await call(server.app, 'GET', `${Q}/export`, server.auth('viewer'));
      expect(exported.status).toBe(404);
      const parent = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        parentId: 'a'.repeat(64),
      });
      expect(parent.status).toBe(404);
    });

    it('snapshots approved labels, named by the hash of the stored manifest', async () => {
      await approveItems(server, 1, 12);
      clock += 60_000;
      const created = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        name: 'first',
      });
      expect(created.status).toBe(201);
      first = (created.body as unknown as { dataset: DatasetInfo }).dataset;
      const manifestBytes = await new LocalBlobStore(server.blobDir).get(first.id);
      expect(manifestBytes).not.toBeNull();
      expect(sha256Hex(manifestBytes ?? Buffer.alloc(0))).toBe(first.id);
      const manifest = JSON.parse(manifestBytes?.toString() ?? '') as {
        images: { id: string; split: string; labels: string[] }[];
      };
      expect(first.counts).toMatchObject({ images: 12, boxes: 13, empty: 2 });
      expect(first.counts.perClass).toEqual({ scratch: 0, crack: 10, dent: 0, stain: 3 });
      expect(first.counts.train + first.counts.val).toBe(12);
      for (const image of manifest.images) expect(image.split).toBe(splitOf(image.id));
      expect(first).toMatchObject({
        name: 'first',
        source: 'snapshot',
        parentId: null,
        classNames: ['scratch', 'crack', 'dent', 'stain'],
        provenance: { kind: 'snapshot', reviewedImages: 12, replay: null },
      });
      const again = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {});
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({
        created: false,
        dataset: { id: first.id, name: 'first' },
      });
      const list = await call(server.app, 'GET', '/api/datasets', server.auth('viewer'));
      expect((list.body.datasets as DatasetInfo[]).map((d) => d.id)).toEqual([first.id]);
      expect(
        (await call(server.app, 'GET', `/api/datasets/${first.id}`, server.auth('viewer'))).body,
      ).toEqual(first);
    });

    it('takes new labels since a time plus a seeded replay sample of the parent', async () => {
      const since = clock;
      await approveItems(server, 100, 3);
      const request = {
        reviewedSince: since,
        parentId: first.id,
        replay: { count: 4, seed: 7 },
      };
      const one = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), request);
      expect(one.status).toBe(201);
      const dataset = (one.body as unknown as { dataset: DatasetInfo }).dataset;
      expect(dataset.counts.images).toBe(7);
      expect(dataset).toMatchObject({
        parentId: first.id,
        provenance: {
          reviewedSince: since,
          reviewedImages: 3,
          replay: { datasetIds: [first.id], seed: 7, candidates: 12, sampled: 4 },
        },
      });
      const two = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), request);
      expect(two.body).toMatchObject({ created: false, dataset: { id: dataset.id } });
      const other = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        ...request,
        replay: { count: 12, seed: 7 },
      });
      expect((other.body as unknown as { dataset: DatasetInfo }).dataset.counts.images).toBe(15);
      const bad = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        replay: { count: 1, fraction: 0.5 },
      });
      expect(bad.status).toBe(400);
    });

    it('materializes a snapshot the YOLO reader accepts, labels and all', async () => {
      const dir = path.join(work, `materialized-${target.dialect}`);
      const result = await server.services.datasets.materialize(first.id, dir);
      expect(result.counts.images).toBe(12);
      const reader = new YoloDatasetRepository();
      const train = await reader.loadSplit(dir, 'train');
      expect(train.dataset.names).toEqual(['scratch', 'crack', 'dent', 'stain']);
      expect(train.images.length).toBe(first.counts.train);
      const boxes = train.images.flatMap((image) => image.objects);
      expect(boxes.length).toBeGreaterThan(0);
      const crack = boxes.find((b) => b.classId === 1);
      expect(crack?.box.y2).toBeCloseTo(90.5, 3);
      await expect(server.services.datasets.materialize(first.id, dir)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
    });

    it('exports YOLO and COCO archives that stream the stored frames', async () => {
      const yolo = await server.app.inject({
        method: 'GET',
        url: `${Q}/export?format=yolo&dataset=${first.id}`,
        headers: server.auth('viewer'),
      });
      expect(yolo.statusCode).toBe(200);
      expect(yolo.headers['content-type']).toBe('application/gzip');
      expect(yolo.headers['x-visionloop-dataset']).toBe(first.id);
      const out = path.join(work, `export-${target.dialect}`);
      await extractArchive(Readable.from([yolo.rawPayload]), out);
      const folder = path.join(out, `visionloop-${first.id.slice(0, 12)}-yolo`);
      expect(readdirSync(folder).sort()).toEqual([
        'data.yaml',
        'images',
        'labels',
        'manifest.json',
      ]);
      const images = readdirSync(path.join(folder, 'images', 'train'));
      expect(images.length).toBe(first.counts.train);
      const one = images[0] ?? '';
      expect(sha256Hex(readFileSync(path.join(folder, 'images', 'train', one)))).toBe(
        one.replace(/\.jpg$/, ''),
      );

      const coco = await server.app.inject({
        method: 'GET',
        url: `${Q}/export?format=coco&dataset=${first.id}`,
        headers: server.auth('viewer'),
      });
      const cocoDir = path.join(work, `coco-${target.dialect}`);
      await extractArchive(Readable.from([coco.rawPayload]), cocoDir);
      const annotations = ['train', 'val'].map(
        (split) =>
          JSON.parse(
            readFileSync(
              path.join(
                cocoDir,
                `visionloop-${first.id.slice(0, 12)}-coco`,
                'annotations',
                `instances_${split}.json`,
              ),
              'utf8',
            ),
          ) as { images: unknown[]; annotations: { category_id: number }[] },
      );
      expect(annotations.reduce((n, a) => n + a.images.length, 0)).toBe(12);
      expect(annotations.reduce((n, a) => n + a.annotations.length, 0)).toBe(13);
      // Without a dataset: every approved label now (15 images), named by its manifest hash.
      const current = await server.app.inject({
        method: 'GET',
        url: `${Q}/export`,
        headers: server.auth('viewer'),
      });
      expect(current.statusCode).toBe(200);
      expect(current.headers['x-visionloop-dataset']).toMatch(/^[0-9a-f]{64}$/);
      expect(current.headers['x-visionloop-dataset']).not.toBe(first.id);
    });

    it('imports an export on a fresh server under the same manifest hash', async () => {
      const exported = await server.app.inject({
        method: 'GET',
        url: `${Q}/export?dataset=${first.id}`,
        headers: server.auth('viewer'),
      });
      const fresh = await openTestServer(target, { now: () => clock });
      try {
        const imported = await upload(fresh, exported.rawPayload);
        expect(imported.status).toBe(201);
        expect(imported.body.dataset.id).toBe(first.id);
        expect(imported.body.dataset.counts).toEqual(first.counts);
        expect(imported.body).toMatchObject({ created: true, images: 12 });
        expect(imported.body.dataset.provenance.kind).toBe('import');
        expect(await countRows(fresh, 'reviewed_labels')).toBe(12);
        // A snapshot of the imported reviewed labels is the same data set again.
        const snapshot = await call(fresh.app, 'POST', '/api/datasets', fresh.auth('admin'), {});
        expect(snapshot.body).toMatchObject({ created: false, dataset: { id: first.id } });
      } finally {
        await fresh.close();
      }
      // Importing it where it came from finds it and writes nothing.
      const before = await countRows(server, 'reviewed_labels');
      const again = await upload(server, exported.rawPayload);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ created: false, images: 0, dataset: { id: first.id } });
      expect(await countRows(server, 'reviewed_labels')).toBe(before);
    });

    it('imports an existing YOLO data set, test split left out', async () => {
      const dir = await synthDataset(`synth-ok-${target.dialect}`);
      const yaml = readFileSync(path.join(dir, 'data.yaml'), 'utf8');
      writeFileSync(path.join(dir, 'data.yaml'), `${yaml}test: images/val\n`);
      const imported = await upload(server, await archiveOf(dir), '?name=line-3%20history');
      expect(imported.status).toBe(201);
      expect(imported.body.dataset).toMatchObject({
        name: 'line-3 history',
        source: 'import',
        counts: { images: 6 },
      });
      expect(imported.body.warnings.join('\n')).toMatch(/'test' split was not imported/);
      expect(imported.body.warnings.join('\n')).toMatch(/path: .* was ignored/);
    });

    it('refuses a malformed row with its file and line, storing nothing', async () => {
      const dir = await synthDataset(`synth-bad-row-${target.dialect}`);
      const labels = path.join(dir, 'labels', 'train');
      const file = readdirSync(labels).sort()[1] ?? '';
      writeFileSync(path.join(labels, file), '0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n');
      const before = [
        await countRows(server, 'reviewed_labels'),
        await countRows(server, 'datasets'),
      ];
      const refused = await upload(server, await archiveOf(dir));
      expect(refused.status).toBe(422);
      expect(refused.body.error?.code).toBe('DATASET_INVALID');
      expect(refused.body.error?.message).toContain(`labels/train/${file} line 2`);
      expect(refused.body.error?.message).toMatch(/expected 5 values/);
      expect([
        await countRows(server, 'reviewed_labels'),
        await countRows(server, 'datasets'),
      ]).toEqual(before);
    });

    it('refuses an archive with ../ entries without writing outside or storing anything', async () => {
      const escapee = `vl-escape-${target.dialect}-${process.pid}.txt`;
      const pack = tar.pack();
      pack.entry({ name: 'ds/data.yaml' }, 'train: images/train\nnames: [a]\n');
      pack.entry({ name: `../${escapee}` }, 'gotcha');
      pack.finalize();
      const archive = gzipSync(await buffer(pack));
      const before = await countRows(server, 'datasets');
      const refused = await upload(server, archive);
      expect(refused.status).toBe(422);
      expect(refused.body.error?.message).toMatch(/climbs out of the archive/);
      expect(existsSync(path.join(tmpdir(), escapee))).toBe(false);
      expect(await countRows(server, 'datasets')).toBe(before);
      // A data.yaml whose splits point outside the archive is refused too.
      const outside = tar.pack();
      outside.entry({ name: 'data.yaml' }, 'train: ../../etc\nnames: [a]\n');
      outside.finalize();
      const sneaky = await upload(server, gzipSync(await buffer(outside)));
      expect(sneaky.status).toBe(422);
      expect(sneaky.body.error?.message).toMatch(/outside the archive/);
    });

    it('refuses unknown classes unless asked to add them, and bad uploads', async () => {
      const dir = await synthDataset(`synth-classes-${target.dialect}`);
      writeFileSync(
        path.join(dir, 'data.yaml'),
        'train: images/train\nval: images/val\nnames: [scratch, crack, burr, pit]\n',
      );
      const refused = await upload(server, await archiveOf(dir));
      expect(refused.status).toBe(422);
      expect(refused.body.error?.message).toMatch(/'burr', 'pit' are not classes.*addClasses/);
      const added = await upload(server, await archiveOf(dir), '?addClasses=true');
      expect(added.status).toBe(201);
      expect(added.body.dataset.classNames).toEqual([
        'scratch',
        'crack',
        'dent',
        'stain',
        'burr',
        'pit',
      ]);
      const classes = await call(server.app, 'GET', '/api/settings/classes', server.auth('viewer'));
      expect(classes.body.classes).toEqual(['scratch', 'crack', 'dent', 'stain', 'burr', 'pit']);

      expect((await upload(server, Buffer.from('not an archive at all'.repeat(30)))).status).toBe(
        422,
      );
      expect((await upload(server, Buffer.from('{}'), '', 'application/json')).status).toBe(415);
      expect((await upload(server, Buffer.from('x'), '', 'text/plain')).status).toBe(415);
    });

    it("counts the simulated reviewer's labels in a snapshot, replayed ones included", async () => {
      const before = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {});
      const all = (before.body as unknown as { dataset: DatasetInfo }).dataset;
      expect(all.counts.simulatedLabels).toBe(0);
      clock += 60_000;
      const since = clock;
      const robot = await reviewer(server, 'simulated-reviewer', 'admin');
      for (let i = 500; i < 503; i++) {
        const item = await seedItem(server, i);
        await call(server.app, 'POST', `${Q}/${item.id}/claim`, robot.headers);
        const body = {
          boxes: [{ className: 'crack', box: { x1: 10 + i / 10, y1: 20, x2: 110, y2: 90 } }],
        };
        const labeled = await call(
          server.app,
          'POST',
          `${Q}/${item.id}/label`,
          robot.headers,
          body,
        );
        expect(labeled.body.status).toBe('approved');
      }
      await approveItems(server, 40, 2);
      const fresh = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        reviewedSince: since,
      });
      const snapshot = (fresh.body as unknown as { dataset: DatasetInfo }).dataset;
      expect(snapshot.counts).toMatchObject({ images: 5, simulatedLabels: 3 });
      // Replayed from it into a later snapshot, they stay counted.
      clock += 60_000;
      const later = clock;
      await approveItems(server, 42, 1);
      const replayed = await call(server.app, 'POST', '/api/datasets', server.auth('admin'), {
        reviewedSince: later,
        parentId: snapshot.id,
        replay: { datasetIds: [snapshot.id] },
      });
      expect(replayed.status).toBe(201);
      expect((replayed.body as unknown as { dataset: DatasetInfo }).dataset.counts).toMatchObject({
        images: 6,
        simulatedLabels: 3,
      });
    });
  });
}
