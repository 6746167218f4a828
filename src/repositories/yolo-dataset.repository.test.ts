import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { labelPathFor, parseLabelText, YoloDatasetRepository } from './yolo-dataset.repository.js';

let root: string;
const repository = new YoloDatasetRepository();

async function write(relative: string, content: string | Buffer): Promise<string> {
  const file = path.join(root, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}

async function png(relative: string, width: number, height: number): Promise<string> {
  const image = await sharp({
    create: { width, height, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 0.5 } },
  })
    .png()
    .toBuffer();
  return write(relative, image);
}

/** A 24-bit bottom-up BMP, written by hand (sharp cannot write BMP). */
function bmp(width: number, height: number): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + rowBytes * height, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  return Buffer.concat([header, Buffer.alloc(rowBytes * height, 128)]);
}

async function errorOf(promise: Promise<unknown>): Promise<VisionLoopError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'visionloop-yolo-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A valid four-class dataset: a.png (640×480, two objects), b.png (empty label), c.png (no label). */
async function validDataset(): Promise<void> {
  await write(
    'data.yaml',
    'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: scratch\n  1: crack\n  2: dent\n  3: stain\n',
  );
  await png('images/val/a.png', 640, 480);
  await png('images/val/b.png', 100, 50);
  await png('images/val/c.png', 100, 50);
  await write('labels/val/a.txt', '0 0.5 0.5 0.25 0.5\n\n3 0.25 0.125 0.25 0.125\n');
  await write('labels/val/b.txt', '');
}

describe('YoloDatasetRepository', () => {
  it('reads a split with boxes converted to pixels', async () => {
    await validDataset();
    const split = await repository.loadSplit(root, 'val');
    expect(split.dataset.names).toEqual(['scratch', 'crack', 'dent', 'stain']);
    expect(split.dataset.root).toBe(root);
    expect(split.images.map((image) => [image.stem, image.width, image.height])).toEqual([
      ['a', 640, 480],
      ['b', 100, 50],
      ['c', 100, 50],
    ]);
    // 0 0.5 0.5 0.25 0.5 on 640×480: x 0.375..0.625 → 240..400, y 0.25..0.75 → 120..360;
    // 3 0.25 0.125 0.25 0.125: x 0.125..0.375 → 80..240, y 0.0625..0.1875 → 30..90.
    expect(split.images[0]?.objects).toEqual([
      { classId: 0, box: { x1: 240, y1: 120, x2: 400, y2: 360 } },
      { classId: 3, box: { x1: 80, y1: 30, x2: 240, y2: 90 } },
    ]);
    expect(split.images[1]?.objects).toEqual([]);
    expect(split.images[2]?.objects).toEqual([]);
    expect(split.warnings).toEqual([
      "1 image(s) of 'val' have no label file and count as images without objects: images/val/c.png",
    ]);
  });

  it('accepts names as a list, a .yaml path, a relative `path`, and .txt image lists', async () => {
    await write('cfg/ds.yaml', 'path: ../set\nval: val.txt\nnames: [scratch, crack]\n');
    await png('set/images/x/p1.png', 20, 10);
    await png('set/images/x/p2.png', 20, 10);
    await write('set/val.txt', './images/x/p2.png\n\n./images/x/p1.png\n');
    await write('set/labels/x/p1.txt', '1 0.5 0.5 1 1\n');
    await write('set/labels/x/p2.txt', '');
    const split = await repository.loadSplit(path.join(root, 'cfg/ds.yaml'), 'val');
    expect(split.dataset.names).toEqual(['scratch', 'crack']);
    expect(split.images.map((image) => image.stem)).toEqual(['p1', 'p2']);
    expect(split.images[0]?.objects).toEqual([
      { classId: 1, box: { x1: 0, y1: 0, x2: 20, y2: 10 } },
    ]);
  });

  it('names the file and line of a bad label row', async () => {
    await validDataset();
    const cases: [string, string][] = [
      [
        '0 0.5 0.5 0.25 0.5\n1 0.5 0.5 0.2\n',
        'labels/val/a.txt line 2: expected 5 values (class cx cy w h), got 4',
      ],
      [
        '0 0.5 0.5 0.25 0.5\n\n7 0.5 0.5 0.2 0.2\n',
        'labels/val/a.txt line 3: class id 7 out of range 0..3',
      ],
      ['1.5 0.5 0.5 0.2 0.2\n', 'labels/val/a.txt line 1: class id 1.5 is not an integer'],
      ['0 0.5 0.5 0 0.2\n', 'labels/val/a.txt line 1: zero or negative size (w 0, h 0.2)'],
      ['0 0.5 0.5 -0.1 0.2\n', 'labels/val/a.txt line 1: zero or negative size (w -0.1, h 0.2)'],
      [
        '0 1.2 0.5 0.1 0.2\n',
        'labels/val/a.txt line 1: 1.2 is outside 0..1 (coordinates must be normalized)',
      ],
      ['0 0.5 abc 0.1 0.2\n', "labels/val/a.txt line 1: 'abc' is not a number"],
      ['0 0.5 0.5 0.1 0.2 0.3 0.4\n', 'got 7 (segmentation polygons are not supported)'],
    ];
    for (const [text, message] of cases) {
      await write('labels/val/a.txt', text);
      const error = await errorOf(repository.loadSplit(root, 'val'));
      expect(error.code).toBe('DATASET_INVALID');
      expect(error.message).toContain(message);
    }
    // Rounding a hair past 1 (1e-6) is accepted.
    await write('labels/val/a.txt', '0 0.5 0.5 1.0000005 0.2\n');
    await expect(repository.loadSplit(root, 'val')).resolves.toBeDefined();
  });

  it('rejects a label without its image, and two images with one stem', async () => {
    await validDataset();
    await write('labels/val/d.txt', '0 0.5 0.5 0.1 0.1\n');
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toBe(
      'labels/val/d.txt: no image for this label (looked for images/val/d.{jpg,jpeg,png,bmp,webp})',
    );
    await rm(path.join(root, 'labels/val/d.txt'));
    await png('images/val/a.jpg', 10, 10);
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(
      /images\/val\/a\.png and images\/val\/a\.jpg share the stem 'a'|images\/val\/a\.jpg and images\/val\/a\.png share the stem 'a'/,
    );
  });

  it('rejects a missing data.yaml, split, names or images with a clear message', async () => {
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toBe(
      `no data.yaml in ${root}`,
    );
    await write('data.yaml', 'val: images/val\nnames: {0: a, 2: b}\n');
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(
      /names must map the ids 0..1, found key '2'/,
    );
    await write('data.yaml', 'val: images/val\nnames: [a]\nnc: 2\n');
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(
      /nc is 2 but names has 1 entries/,
    );
    await write('data.yaml', 'val: images/val\nnames: [a]\n');
    expect((await errorOf(repository.loadSplit(root, 'test'))).message).toMatch(/no 'test' split/);
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(
      /val entry images\/val does not exist/,
    );
    await mkdir(path.join(root, 'images/val'), { recursive: true });
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(
      /the 'val' split has no images/,
    );
    await write('data.yaml', 'val: [images/val\n');
    expect((await errorOf(repository.loadSplit(root, 'val'))).message).toMatch(/not valid YAML/);
  });

  it('measures images as they will be decoded: EXIF orientation applied, BMP from its header', async () => {
    // Stored 40×30 with orientation 6 (rotate 90°): displayed and decoded as 30×40.
    const rotated = await sharp({
      create: { width: 40, height: 30, channels: 3, background: 'red' },
    })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const file = await write('rotated.jpg', rotated);
    expect(await repository.readImageSize(file)).toEqual({ width: 30, height: 40 });
    const image = await repository.loadImage(file);
    expect([image.width, image.height, image.data.length]).toEqual([30, 40, 30 * 40 * 3]);

    const bitmap = await write('frame.bmp', bmp(7, 5));
    expect(await repository.readImageSize(bitmap)).toEqual({ width: 7, height: 5 });
    await expect(repository.loadImage(bitmap)).rejects.toThrow(/BMP images need ffmpeg/);
    const withFallback = new YoloDatasetRepository({
      decodeUnsupported: (f) =>
        Promise.resolve({ width: 7, height: 5, data: new Uint8Array(105).fill(f.length % 256) }),
    });
    expect((await withFallback.loadImage(bitmap)).width).toBe(7);
  });

  it('decodes to 8-bit RGB without alpha', async () => {
    const file = await png('rgba.png', 3, 2);
    const image = await repository.loadImage(file);
    expect([image.width, image.height]).toEqual([3, 2]);
    expect(Array.from(image.data.slice(0, 3))).toEqual([200, 100, 50]);
    const broken = await write('broken.png', 'not a png');
    const error = await errorOf(repository.loadImage(broken));
    expect(error.code).toBe('IMAGE_INVALID');
    expect(error.message).toContain(broken);
  });

  it('reads JSON files and names the file when they are not JSON', async () => {
    const good = await write('p.json', '[{"a": 1}]');
    expect(await repository.readJsonFile(good)).toEqual([{ a: 1 }]);
    const bad = await write('q.json', '[{"a": ');
    expect((await errorOf(repository.readJsonFile(bad))).message).toMatch(
      /q\.json: not valid JSON/,
    );
    expect((await errorOf(repository.readJsonFile(path.join(root, 'none.json')))).code).toBe(
      'NOT_FOUND',
    );
  });
});

describe('label helpers', () => {
  it('maps an image path to its label path as Ultralytics does', () => {
    expect(labelPathFor('/d/images/val/a.b.png')).toBe('/d/labels/val/a.b.txt');
    expect(labelPathFor('/images/d/images/x/a.jpg')).toBe('/images/d/labels/x/a.txt');
    expect(labelPathFor('/d/flat/a.jpg')).toBe('/d/flat/a.txt');
  });

  it('parses rows, skipping blank lines and accepting CRLF', () => {
    expect(parseLabelText('1 0.5 0.5 0.5 0.5\r\n\r\n', 'x.txt', 2, 100, 10)).toEqual([
      { classId: 1, box: { x1: 25, y1: 2.5, x2: 75, y2: 7.5 } },
    ]);
  });
});
