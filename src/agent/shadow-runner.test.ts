import { describe, expect, it } from 'vitest';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import type { Detection } from '../shared/domain.js';
import type { Detector, ModelInfo } from '../vision/detector.js';
import { ShadowRunner, frameHashUnit } from './shadow-runner.js';

const model = { version: 'shadow-v1', sha256: 'a'.repeat(64) } as ModelInfo;
const idle: Detector = {
  model,
  load: () => Promise.resolve(model),
  detect: () =>
    Promise.resolve({
      detections: [],
      timings: { preprocessMs: 0, inferenceMs: 1, postprocessMs: 0 },
    }),
  dispose: () => Promise.resolve(),
};
const det = (className: string, confidence: number): Detection => ({
  classId: 0,
  className,
  confidence,
  box: { x1: 0, y1: 0, x2: 10, y2: 10 },
});

describe('ShadowRunner', () => {
  it('chooses a stable, well-spread share of frame indexes', () => {
    const runner = new ShadowRunner();
    expect(runner.selects(0)).toBe(false);
    runner.set({ detector: idle, model }, 0.1);
    const chosen = Array.from({ length: 10_000 }, (_, i) => runner.selects(i));
    const count = chosen.filter(Boolean).length;
    // 10 % of 10 000 within ±1.5 % (binomial sd 30).
    expect(count).toBeGreaterThan(850);
    expect(count).toBeLessThan(1150);
    expect(Array.from({ length: 10_000 }, (_, i) => runner.selects(i))).toEqual(chosen);
    expect(frameHashUnit(12345)).toBe(frameHashUnit(12345));
    runner.setShare(1);
    expect(Array.from({ length: 100 }, (_, i) => runner.selects(i)).every(Boolean)).toBe(true);
    runner.setShare(0);
    expect(Array.from({ length: 100 }, (_, i) => runner.selects(i)).some(Boolean)).toBe(false);
    expect(runner.set(null, 1)).toBe(idle);
    expect(runner.share).toBe(0);
  });

  it('compares under the chain rules without stages and drops class scores', () => {
    const runner = new ShadowRunner();
    const rules = {
      rules: [
        { id: 'cracks', when: 'class' as const, classes: ['crack'], minConfidence: 0.5 },
        { id: 'severe', when: 'severity' as const, gte: 1 },
      ],
    };
    const found = {
      version: 'shadow-v1',
      detections: [{ ...det('crack', 0.6), classScores: [0.1, 0.6] }],
      inferenceMs: 7,
    };
    const result = runner.compare(found, [det('crack', 0.9)], rules, 0.5);
    expect(result).toEqual({
      version: 'shadow-v1',
      detections: [det('crack', 0.6)],
      decision: 'FAIL',
      disagreement: 0,
      disagrees: false,
      inferenceMs: 7,
    });
    const missed = runner.compare(
      { ...found, detections: [] },
      [det('crack', 0.9)],
      DEFAULT_CHAIN,
      0.5,
    );
    expect(missed).toMatchObject({ decision: 'PASS', disagreement: 1, disagrees: true });
    expect(runner.stats()).toMatchObject({ frames: 2, disagreements: 1 });
  });
});
