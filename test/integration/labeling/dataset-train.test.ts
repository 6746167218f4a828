/**
 * The round trip the whole review exists for: synthetic frames go through the queue
 * (claimed, labelled with their ground truth, approved), become a snapshot, the snapshot is
 * exported as a .tar.gz, unpacked, and the real trainer trains on it unchanged (one short
 * epoch); the model it writes is served by the runtime with the deployment's class names.
 * Skipped when no Python with PyTorch is installed. SQLite only: the database plays no part
 * in what the trainer reads.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxDetector } from '../../../src/inference/onnx-detector.js';
import { extractArchive } from '../../../src/repositories/dataset-archive.js';
import { findPython, runTrainer } from '../../../src/repositories/trainer-process.js';
import { SYNTH_CLASSES } from '../../../src/shared/domain.js';
import { renderDatasetSample } from '../../../src/synth/samples.js';
import { databaseTargets } from '../../helpers/database.js';
import { frameResult, openTestServer } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';
import { call, seedItem } from './fixtures.js';

function python(): string | null {
  try {
    return findPython(process.env.VISIONLOOP_PYTHON);
  } catch {
    return null;
  }
}
const interpreter = python();
const sqlite = databaseTargets().find((t) => t.dialect === 'sqlite');

describe.skipIf(interpreter === null || sqlite === undefined)('snapshot → export → trainer', () => {
  let server: TestServer;
  const work = mkdtempSync(path.join(tmpdir(), 'vl-dataset-train-'));
  beforeAll(async () => {
    server = await openTestServer(sqlite ?? databaseTargets()[0]!);
  });
  afterAll(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('trains on an exported snapshot as it is', async () => {
    const admin = server.auth('admin');
    for (let index = 0; index < 16; index++) {
      const sample = renderDatasetSample(41, index, ['nominal', 'night'], 320, 240);
      const jpeg = await sharp(sample.image.data, {
        raw: { width: 320, height: 240, channels: 3 },
      })
        .jpeg({ quality: 90 })
        .toBuffer();
      const item = await seedItem(server, 500 + index, {
        jpeg,
        result: { ...frameResult(500 + index), width: 320, height: 240, detections: [] },
      });
      await call(server.app, 'POST', `/api/labeling-queue/${item.id}/claim`, admin);
      const boxes = sample.objects.map((o) => ({ className: o.className, box: o.box }));
      const labeled = await call(
        server.app,
        'POST',
        `/api/labeling-queue/${item.id}/label`,
        admin,
        boxes.length === 0 ? { boxes, noDefects: true } : { boxes },
      );
      expect(labeled.body.status).toBe('approved');
    }
    const { dataset } = await server.services.datasets.createSnapshot({}, null);
    expect(dataset.counts.images).toBe(16);

    const archive = await server.services.datasets.exportArchive('yolo', dataset.id);
    await extractArchive(archive.stream, work);
    const data = path.join(work, `visionloop-${dataset.id.slice(0, 12)}-yolo`);
    const out = path.join(work, 'run');
    const done = await runTrainer(interpreter ?? 'python3', {
      data,
      out,
      epochs: 1,
      imgsz: 160,
      batch: 8,
      seed: 1,
      datasetHash: dataset.id,
    });
    expect(existsSync(done.model)).toBe(true);
    expect(existsSync(path.join(out, 'weights.pt'))).toBe(true);

    const detector = new OnnxDetector({ threads: 1 });
    try {
      const model = await detector.load(done.model);
      expect(model.classNames).toEqual([...SYNTH_CLASSES]);
    } finally {
      await detector.dispose();
    }
  }, 300_000);
});
