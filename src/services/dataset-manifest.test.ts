import { describe, expect, it } from 'vitest';
import {
  buildManifest,
  cropsCsvText,
  cocoDocument,
  countsOf,
  dataYamlText,
  labelText,
  manifestId,
  manifestImage,
  manifestText,
  parseManifest,
  parseYoloRow,
  sampleImages,
  sha256Hex,
  sniffImageExt,
  splitOf,
  yoloRow,
} from './dataset-manifest.js';

const CLASSES = ['scratch', 'crack', 'dent', 'stain'];

function id(n: number): string {
  return sha256Hex(`image-${n}`);
}

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('yoloRow', () => {
  it('writes normalized centre and size with six decimals', () => {
    expect(yoloRow(2, { x1: 100, y1: 120, x2: 180, y2: 160 }, 640, 480)).toBe(
      '2 0.218750 0.291667 0.125000 0.083333',
    );
  });

  it('reads back to the same row (the export → import round trip), for 10,000 random boxes', () => {
    const random = rng(7);
    for (let i = 0; i < 10_000; i++) {
      const width = 32 + Math.floor(random() * 4000);
      const height = 32 + Math.floor(random() * 4000);
      const x1 = random() * (width - 2);
      const y1 = random() * (height - 2);
      const x2 = x1 + 1 + random() * (width - x1 - 1);
      const y2 = y1 + 1 + random() * (height - y1 - 1);
      const row = yoloRow(i % 4, { x1, y1, x2, y2 }, width, height);
      const back = parseYoloRow(row, width, height);
      expect(yoloRow(back.classId, back.box, width, height)).toBe(row);
    }
  });
});

describe('splitOf', () => {
  it('puts about one image in ten into val, from the id alone', () => {
    const splits = Array.from({ length: 5000 }, (_, n) => splitOf(id(n)));
    const val = splits.filter((s) => s === 'val').length;
    expect(val).toBeGreaterThan(420);
    expect(val).toBeLessThan(580);
    expect(Array.from({ length: 5000 }, (_, n) => splitOf(id(n)))).toEqual(splits);
  });
});

describe('manifests', () => {
  const a = manifestImage(
    {
      id: id(1),
      ext: 'jpg',
      width: 640,
      height: 480,
      boxes: [
        { className: 'dent', box: { x1: 10, y1: 10, x2: 50, y2: 40 } },
        { className: 'crack', box: { x1: 100, y1: 100, x2: 200, y2: 150 } },
      ],
    },
    CLASSES,
  );
  const b = manifestImage({ id: id(2), ext: 'png', width: 320, height: 240, boxes: [] }, CLASSES);

  it('sorts rows, so the order the reviewer drew boxes in does not change the name', () => {
    const reversed = manifestImage(
      {
        id: id(1),
        ext: 'jpg',
        width: 640,
        height: 480,
        boxes: [
          { className: 'crack', box: { x1: 100, y1: 100, x2: 200, y2: 150 } },
          { className: 'dent', box: { x1: 10, y1: 10, x2: 50, y2: 40 } },
        ],
      },
      CLASSES,
    );
    expect(reversed.labels).toEqual(a.labels);
    expect(a.labels[0]?.startsWith('1 ')).toBe(true);
  });

  it('is named by the hash of its canonical text, whatever the input order', () => {
    const one = buildManifest(CLASSES, [a, b]);
    const two = buildManifest(CLASSES, [b, a]);
    expect(manifestText(one)).toBe(manifestText(two));
    expect(manifestId(one)).toBe(sha256Hex(manifestText(one)));
    expect(manifestId(one)).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestId(buildManifest([...CLASSES, 'burr'], [a, b]))).not.toBe(manifestId(one));
  });

  it('parses what it writes and refuses what is not a manifest', () => {
    const manifest = buildManifest(CLASSES, [a, b]);
    expect(parseManifest(manifestText(manifest), 'x')).toEqual(manifest);
    expect(() => parseManifest('{"format":"other"}', 'x')).toThrow(/not a manifest/);
  });

  it('refuses a class the deployment does not have and an image listed twice', () => {
    expect(() =>
      manifestImage(
        {
          id: id(3),
          ext: 'jpg',
          width: 10,
          height: 10,
          boxes: [{ className: 'burr', box: { x1: 1, y1: 1, x2: 5, y2: 5 } }],
        },
        CLASSES,
      ),
    ).toThrow(/'burr'/);
    expect(() => buildManifest(CLASSES, [a, a])).toThrow(/listed twice/);
  });

  it('counts images, splits, boxes, empty images and boxes per class', () => {
    const counts = countsOf(buildManifest(CLASSES, [a, b]));
    expect(counts).toMatchObject({ images: 2, boxes: 2, empty: 1 });
    expect(counts.train + counts.val).toBe(2);
    expect(counts.perClass).toEqual({ scratch: 0, crack: 1, dent: 1, stain: 0 });
  });

  it('writes label files with one row per line and empty files for no objects', () => {
    expect(labelText(a)).toBe(`${a.labels.join('\n')}\n`);
    expect(labelText(b)).toBe('');
  });

  it('writes data.yaml without path for archives and leaves out an empty val split', () => {
    const manifest = buildManifest(CLASSES, [a]);
    const text = dataYamlText(manifest, 'abc');
    expect(text).not.toMatch(/^path:/m);
    expect(text).toMatch(/^train: images\/train$/m);
    expect(text).toMatch(/^ {2}3: stain$/m);
    const withRoot = dataYamlText(manifest, 'abc', '/data/ds');
    expect(withRoot).toMatch(/^path: \/data\/ds$/m);
    expect(text.includes('val: images/val')).toBe(a.split === 'val');
  });

  it('writes COCO boxes in pixels, categories from 1', () => {
    const manifest = buildManifest(CLASSES, [a]);
    const document = cocoDocument(manifest, a.split, 'abc') as {
      annotations: { bbox: number[]; category_id: number }[];
      categories: { id: number; name: string }[];
    };
    expect(document.categories[0]).toEqual({ id: 1, name: 'scratch', supercategory: 'defect' });
    const boxes = document.annotations.map((x) => [x.category_id, ...x.bbox]);
    expect(boxes).toContainEqual([2, 100, 100, 100, 50]);
    expect(boxes).toContainEqual([3, 10, 10, 40, 30]);
  });
});

describe('sampleImages', () => {
  const images = Array.from({ length: 50 }, (_, n) =>
    manifestImage({ id: id(n), ext: 'jpg', width: 8, height: 8, boxes: [] }, CLASSES),
  );

  it('takes the same images for the same seed whatever the input order', () => {
    const one = sampleImages(images, { count: 10, seed: 3 }).map((x) => x.id);
    const two = sampleImages([...images].reverse(), { count: 10, seed: 3 }).map((x) => x.id);
    expect(one).toEqual(two);
    expect(new Set(one).size).toBe(10);
    expect(sampleImages(images, { count: 10, seed: 4 }).map((x) => x.id)).not.toEqual(one);
  });

  it('takes a fraction, or everything', () => {
    expect(sampleImages(images, { fraction: 0.2, seed: 0 })).toHaveLength(10);
    expect(sampleImages(images, { seed: 0 })).toHaveLength(50);
    expect(sampleImages(images, { count: 500, seed: 0 })).toHaveLength(50);
  });
});

describe('sniffImageExt', () => {
  it('tells JPEG, PNG, WebP and BMP apart by their first bytes', () => {
    expect(sniffImageExt(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpg');
    expect(sniffImageExt(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(
      'png',
    );
    expect(sniffImageExt(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('webp');
    expect(sniffImageExt(Buffer.from('BM\0\0'))).toBe('bmp');
    expect(sniffImageExt(Buffer.from('GIF89a'))).toBeNull();
  });
});

describe('stage labels in manifests', () => {
  const id = 'a'.repeat(64);
  const names = ['scratch', 'crack'];
  const box = { x1: 100, y1: 100, x2: 200, y2: 180 };

  it('leave a manifest without outlines or crop classes as it was (same text, same id)', () => {
    const plain = manifestImage(
      { id, ext: 'jpg', width: 640, height: 480, boxes: [{ className: 'crack', box }] },
      names,
    );
    expect(Object.keys(plain)).toEqual(['id', 'ext', 'width', 'height', 'split', 'labels']);
    expect(manifestText(buildManifest(names, [plain]))).toBe(
      JSON.stringify({
        format: 'visionloop-dataset/1',
        classNames: names,
        images: [{ ...plain }],
      }),
    );
  });

  it('keep YOLO-seg rows and crop classes, hashed, and write them as crops.csv', () => {
    const image = manifestImage(
      {
        id,
        ext: 'jpg',
        width: 640,
        height: 480,
        boxes: [
          { className: 'crack', box, polygon: [100, 120, 200, 100, 160, 180], cropClass: 'major' },
          { className: 'scratch', box: { x1: 0, y1: 0, x2: 64, y2: 48 }, cropClass: 'minor' },
        ],
      },
      names,
    );
    expect(image.segments).toEqual(['1 0.156250 0.250000 0.312500 0.208333 0.250000 0.375000']);
    expect(image.crops).toEqual([
      { box: '0 0.050000 0.050000 0.100000 0.100000', cropClass: 'minor' },
      { box: '1 0.234375 0.291667 0.156250 0.166667', cropClass: 'major' },
    ]);
    const manifest = buildManifest(names, [image]);
    expect(parseManifest(manifestText(manifest), 'x')).toEqual(manifest);
    const plain = buildManifest(names, [{ ...image, segments: undefined, crops: undefined }]);
    expect(manifestId(manifest)).not.toBe(manifestId(plain));
    expect(cropsCsvText(manifest).split('\n')).toEqual([
      'image,split,class_id,class,x1,y1,x2,y2,crop_class',
      `images/${image.split}/${id}.jpg,${image.split},0,scratch,0,0,64,48,minor`,
      `images/${image.split}/${id}.jpg,${image.split},1,crack,100,100,200,180,major`,
      '',
    ]);
  });
});
