import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { SynthCamera } from './camera.js';
import { PRESETS } from './conditions.js';
import { parseScenario } from './scenario.js';

const bytes = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('SynthCamera', () => {
  const scenario = parseScenario('nominal');

  it('renders 640×480 frames at 15 fps by default, with timestamps from the index', () => {
    const camera = new SynthCamera({ scenario, seed: 1 });
    const frame = camera.frame(30);
    expect([camera.width, camera.height, camera.fps]).toEqual([640, 480, 15]);
    expect(frame.image.width).toBe(640);
    expect(frame.image.data).toHaveLength(640 * 480 * 3);
    expect(frame.timestampMs).toBe(2000);
    expect(frame.preset).toBe('nominal');
  });

  it('is deterministic by seed and index, with random access', () => {
    const a = new SynthCamera({ scenario, seed: 7 });
    const b = new SynthCamera({ scenario, seed: 7 });
    for (let i = 0; i < 3; i++) a.frame(i);
    const late = a.frame(400);
    const direct = b.frame(400);
    expect(bytes(late.image.data).equals(bytes(direct.image.data))).toBe(true);
    expect(late.objects).toEqual(direct.objects);
    const other = new SynthCamera({ scenario, seed: 8 }).frame(400);
    expect(bytes(other.image.data).equals(bytes(late.image.data))).toBe(false);
  });

  it('moves the parts along the conveyor: defects shift by the belt step and keep their size', () => {
    const camera = new SynthCamera({ scenario, seed: 3 });
    // Find a frame pair with defects fully inside the frame in both.
    let shifted = 0;
    for (let i = 0; i < 150 && shifted < 3; i += 5) {
      const now = camera.frame(i);
      const next = camera.frame(i + 1);
      expect(meanAbsDiff(now.image.data, next.image.data)).toBeGreaterThan(2);
      for (const object of now.objects) {
        const { x1, x2, y1, y2 } = object.box;
        if (x1 < 10 || x2 > 630) continue;
        const match = next.objects.find(
          (o) => o.className === object.className && o.box.y1 === y1 && o.box.y2 === y2,
        );
        expect(match).toBeDefined();
        // 64 px/s at 15 fps = 4.27 px per frame, rounded to whole pixels.
        expect([4, 5]).toContain(x1 - match!.box.x1);
        expect(match!.box.x2 - match!.box.x1).toBe(x2 - x1);
        shifted++;
      }
    }
    expect(shifted).toBe(3);
  });

  it("runs the belt at the scenario's `?belt=` speed unless the camera sets one", () => {
    const shift = (camera: SynthCamera) => {
      for (let i = 0; i < 150; i += 5) {
        const now = camera.frame(i).objects.filter((o) => o.box.x1 >= 10 && o.box.x2 <= 630);
        const next = camera.frame(i + 1).objects;
        for (const object of now) {
          const match = next.find(
            (o) => o.className === object.className && o.box.y1 === object.box.y1,
          );
          if (match) return object.box.x1 - match.box.x1;
        }
      }
      return null;
    };
    // 192 px/s at 15 fps = 12.8 px a frame; 64 px/s = 4.27.
    expect(
      shift(new SynthCamera({ scenario: parseScenario('nominal?belt=192'), seed: 3 })),
    ).toSatisfy((px: number | null) => px === 12 || px === 13);
    expect(
      shift(
        new SynthCamera({ scenario: parseScenario('nominal?belt=192'), seed: 3, beltSpeed: 64 }),
      ),
    ).toSatisfy((px: number | null) => px === 4 || px === 5);
  });

  it('keeps the static scene still: frames differ by sensor noise only', () => {
    const camera = new SynthCamera({ scenario: parseScenario('static'), seed: 5 });
    const first = camera.frame(0);
    const later = camera.frame(90);
    expect(first.objects.length).toBeGreaterThanOrEqual(2);
    expect(later.objects).toEqual(first.objects);
    const diff = meanAbsDiff(first.image.data, later.image.data);
    // Two independent N(0, 1.5²) draws differ by 1.5·√2·√(2/π) ≈ 1.7 on average.
    expect(diff).toBeGreaterThan(0.5);
    expect(diff).toBeLessThan(2.5);
    expect(bytes(camera.frame(90).image.data).equals(bytes(later.image.data))).toBe(true);
  });

  it('follows the scenario timeline', () => {
    const camera = new SynthCamera({ scenario: parseScenario('drift-demo'), seed: 1, fps: 10 });
    expect(camera.frame(1190).preset).toBe('nominal');
    expect(camera.frame(1400).preset).toBe('night');
    const during = camera.conditionsAt(1250).conditions.gain;
    expect(during).toBeLessThan(PRESETS.nominal.gain);
    expect(during).toBeGreaterThan(PRESETS.night.gain);
  });

  it('rejects bad indices and options', () => {
    const camera = new SynthCamera({ scenario, seed: 1 });
    expect(() => camera.frame(-1)).toThrow(VisionLoopError);
    expect(() => camera.frame(1.5)).toThrow(/integer/);
    expect(() => new SynthCamera({ scenario, seed: 1, fps: 0 })).toThrow(/fps/);
    expect(() => new SynthCamera({ scenario, seed: 1, width: 10 })).toThrow(/width/);
  });
});
