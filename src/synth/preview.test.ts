import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASS_COLOURS, sheetLayout } from './contact-sheet.js';
import { previewFrames, writePreview } from './preview.js';
import { renderDatasetSample } from './samples.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'visionloop-synth-preview-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('sheetLayout', () => {
  it('lays frames out in a square-ish grid with a legend row', () => {
    const layout = sheetLayout(5, 640, 480, 0.25);
    expect(layout).toMatchObject({ columns: 3, rows: 2, cellWidth: 160, cellHeight: 120 });
    expect(layout.width).toBe(3 * 160 + 4 * layout.gap);
    expect(layout.height).toBe(layout.legendHeight + 2 * 120 + 3 * layout.gap);
  });
});

describe('writePreview', () => {
  it('writes a PNG of the expected size with the legend in class colours', async () => {
    const file = join(root, 'nominal.png');
    const result = await writePreview(file, { preset: 'nominal', count: 3, seed: 2, scale: 0.25 });
    const layout = sheetLayout(3, 640, 480, 0.25);
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', layout.width, layout.height]);
    expect(result).toMatchObject({ width: layout.width, height: layout.height, frames: 3 });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const colours = new Set<string>();
    for (let y = 0; y < layout.legendHeight; y++) {
      for (let x = 0; x < info.width; x++) {
        const o = (y * info.width + x) * info.channels;
        colours.add(`${data[o]},${data[o + 1]},${data[o + 2]}`);
      }
    }
    for (const colour of Object.values(CLASS_COLOURS)) expect(colours).toContain(colour.join(','));
  });

  it('shows the same frames as the export and spreads scenario frames over the timeline', () => {
    const frames = previewFrames({ preset: 'nominal,glare', count: 2, seed: 4 });
    expect(frames.map((f) => f.caption)).toEqual(['0 nominal', '1 glare']);
    expect(frames[1]!.objects).toEqual(renderDatasetSample(4, 1, ['nominal', 'glare']).objects);
    const timeline = previewFrames({ scenario: 'nominal:40,night', count: 3, seed: 1 });
    expect(timeline.map((f) => f.caption)).toEqual([
      '#0 nominal t=0.0s',
      '#375 nominal t=25.0s',
      '#750 night t=50.0s',
    ]);
  });

  it('rejects bad input', async () => {
    await expect(writePreview(join(root, 'x.jpg'), { count: 1 })).rejects.toThrow(/\.png/);
    expect(() => previewFrames({ preset: 'nominal', scenario: 'static' })).toThrow(/either/);
    expect(() => previewFrames({ count: 0 })).toThrow(/count/);
    expect(() => previewFrames({ scenario: 'fog' })).toThrow(/unknown preset or scenario 'fog'/);
  });
});
