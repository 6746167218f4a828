import { describe, expect, it } from 'vitest';
import { SynthCamera } from '../synth/camera.js';
import { parseScenario } from '../synth/scenario.js';
import type { RgbImage } from './image.js';
import { dHash, grayGrid, hammingDistance, hashFromHex, hashToHex } from './phash.js';

/** An image whose gray level at (x, y) is `level(x, y)` (R = G = B). */
function grayImage(width: number, height: number, level: (x: number, y: number) => number) {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.fill(level(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return { width, height, data } satisfies RgbImage;
}

describe('grayGrid', () => {
  it('averages whole blocks exactly when the grid divides the image', () => {
    // 18×16 → 9×8: each cell is a 2×2 block; cell (cx, cy) holds 10·cx + cy everywhere.
    const image = grayImage(18, 16, (x, y) => 10 * Math.floor(x / 2) + Math.floor(y / 2));
    const grid = grayGrid(image, 9, 8);
    expect(grid[0]).toBeCloseTo(0, 9);
    expect(grid[1]).toBeCloseTo(10, 9);
    expect(grid[9 + 2]).toBeCloseTo(21, 9);
    expect(grid[7 * 9 + 8]).toBeCloseTo(87, 9);
  });

  it('weights pixels that straddle a cell border by their overlap', () => {
    // 3 columns into 2 cells: the middle column is half in each cell.
    const image = grayImage(3, 2, (x) => [0, 100, 200][x]!);
    const grid = grayGrid(image, 2, 2);
    expect(grid[0]).toBeCloseTo((0 * 1 + 100 * 0.5) / 1.5, 9);
    expect(grid[1]).toBeCloseTo((100 * 0.5 + 200 * 1) / 1.5, 9);
    // Nothing is lost: the grid's mean is the image's mean.
    expect((grid[0]! + grid[1]!) / 2).toBeCloseTo(100, 9);
  });

  it('uses Rec. 601 luma', () => {
    const red = { width: 9, height: 8, data: new Uint8Array(9 * 8 * 3) };
    for (let i = 0; i < red.data.length; i += 3) red.data[i] = 200;
    expect(grayGrid(red, 9, 8)[0]).toBeCloseTo(0.299 * 200, 9);
  });

  it('refuses a buffer of the wrong size and an image smaller than the grid', () => {
    expect(() => grayGrid({ width: 10, height: 10, data: new Uint8Array(10) }, 9, 8)).toThrow(
      /needs 300 bytes/,
    );
    expect(() =>
      grayGrid(
        grayImage(8, 8, () => 0),
        9,
        8,
      ),
    ).toThrow(/smaller than the 9×8 grid/);
  });
});

describe('dHash', () => {
  it('sets a bit where a cell is darker than its right neighbour', () => {
    const rising = grayImage(90, 80, (x) => x * 2);
    const falling = grayImage(90, 80, (x) => 255 - x * 2);
    expect(hashToHex(dHash(rising))).toBe('ffffffffffffffff');
    expect(hashToHex(dHash(falling))).toBe('0000000000000000');
    // Only the top row rises: the first 8 bits.
    const topRow = grayImage(90, 80, (x, y) => (y < 10 ? x * 2 : 255 - x * 2));
    expect(hashToHex(dHash(topRow))).toBe('ff00000000000000');
  });

  it('ignores brightness and contrast changes that keep the order of cells', () => {
    const scene = grayImage(180, 160, (x, y) => (x * 7 + y * 3) % 200);
    const brighter = grayImage(180, 160, (x, y) => 30 + Math.round(((x * 7 + y * 3) % 200) * 1.1));
    expect(hammingDistance(dHash(scene), dHash(brighter))).toBe(0);
  });

  it('gives a static synthetic scene the same hash whatever the sensor noise', () => {
    const camera = new SynthCamera({ scenario: parseScenario('static'), seed: 5 });
    const first = dHash(camera.frame(0).image);
    const distances = [1, 2, 3, 7, 20].map((i) =>
      hammingDistance(first, dHash(camera.frame(i).image)),
    );
    expect(Math.max(...distances)).toBeLessThanOrEqual(1);
  });

  it('changes many bits when the belt moves a part along', () => {
    const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 5 });
    // 2 s at 15 fps: the part moved a fifth of the frame.
    expect(
      hammingDistance(dHash(camera.frame(0).image), dHash(camera.frame(30).image)),
    ).toBeGreaterThan(6);
  });
});

describe('hash helpers', () => {
  it('counts differing bits in both halves', () => {
    expect(hammingDistance({ hi: 0, lo: 0 }, { hi: 0xffffffff, lo: 0xffffffff })).toBe(64);
    expect(hammingDistance({ hi: 0b1011, lo: 1 }, { hi: 0, lo: 0x80000001 })).toBe(4);
  });

  it('round-trips hex and refuses anything else', () => {
    const hash = { hi: 0x0123abcd, lo: 0xfedc0009 };
    expect(hashToHex(hash)).toBe('0123abcdfedc0009');
    expect(hashFromHex('0123abcdfedc0009')).toEqual(hash);
    expect(() => hashFromHex('0123')).toThrow(/16 hex digits/);
    expect(() => hashFromHex('0123abcdfedc000g')).toThrow(/16 hex digits/);
  });
});
