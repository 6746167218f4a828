import { describe, expect, it } from 'vitest';
import { DEFAULT_CHAIN, type ChainConfig } from '../shared/api/inspection-chain.js';
import type { Detection, InspectionStages } from '../shared/domain.js';
import { decideWithChain } from './decision-rules.js';

const det = (className: string, confidence: number, x = 0): Detection => ({
  classId: className === 'crack' ? 1 : 0,
  className,
  confidence,
  box: { x1: x, y1: 0, x2: x + 10, y2: 10 },
});

function stages(partial: Partial<InspectionStages>, vetoed: boolean[] = []): InspectionStages {
  return {
    versions: {},
    detections: vetoed.map((v) => ({ vetoed: v })),
    totalAreaPx: null,
    totalAreaMm2: null,
    maxSeverity: null,
    timings: {},
    ...partial,
  };
}

const chain = (rules: ChainConfig['rules']): ChainConfig => ({ ...DEFAULT_CHAIN, rules });

describe('decideWithChain', () => {
  it('without rules applies the fail threshold as decideFrame did and names fail-threshold', () => {
    expect(decideWithChain([det('scratch', 0.6)], null, DEFAULT_CHAIN, 0.5)).toEqual({
      decision: 'FAIL',
      decidedBy: 'fail-threshold',
    });
    expect(decideWithChain([det('scratch', 0.49)], null, DEFAULT_CHAIN, 0.5)).toEqual({
      decision: 'PASS',
    });
    expect(decideWithChain([], null, DEFAULT_CHAIN, 0.5)).toEqual({ decision: 'PASS' });
    // A whole policy: fail classes and the minimum area hold as before.
    const policy = { failClasses: ['crack'], failThreshold: 0.5, minAreaPx: 50 };
    expect(decideWithChain([det('scratch', 0.9)], null, DEFAULT_CHAIN, policy).decision).toBe(
      'PASS',
    );
    expect(decideWithChain([det('crack', 0.9)], null, DEFAULT_CHAIN, policy).decidedBy).toBe(
      'fail-threshold',
    );
  });

  it('never counts a vetoed detection, for the default rule either', () => {
    const detections = [det('scratch', 0.9), det('crack', 0.3, 20)];
    expect(decideWithChain(detections, stages({}, [true, false]), DEFAULT_CHAIN, 0.5)).toEqual({
      decision: 'PASS',
    });
    expect(decideWithChain(detections, stages({}, [false, true]), DEFAULT_CHAIN, 0.5)).toEqual({
      decision: 'FAIL',
      decidedBy: 'fail-threshold',
    });
    const anyDefect = chain([{ id: 'any', when: 'any-defect', minConfidence: 0.2 }]);
    expect(decideWithChain(detections, stages({}, [true, true]), anyDefect, 0.5).decision).toBe(
      'PASS',
    );
  });

  it('takes the first matching rule in order and ignores the fail threshold when rules exist', () => {
    const rules = chain([
      { id: 'cracks', when: 'class', classes: ['crack'], minConfidence: 0.3 },
      { id: 'confident', when: 'any-defect', minConfidence: 0.8 },
    ]);
    expect(decideWithChain([det('crack', 0.35)], null, rules, 0.5)).toEqual({
      decision: 'FAIL',
      decidedBy: 'cracks',
    });
    expect(decideWithChain([det('crack', 0.9)], null, rules, 0.5).decidedBy).toBe('cracks');
    expect(decideWithChain([det('scratch', 0.85)], null, rules, 0.5).decidedBy).toBe('confident');
    // 0.7 would fail under the default rule; with rules it passes.
    expect(decideWithChain([det('scratch', 0.7)], null, rules, 0.5)).toEqual({ decision: 'PASS' });
    expect(decideWithChain([det('crack', 0.29)], null, rules, 0.5).decision).toBe('PASS');
  });

  it('fails on the total area strictly above the limit, in px and in mm²', () => {
    const rules = chain([
      { id: 'big-mm', when: 'area-mm2', gt: 2 },
      { id: 'big-px', when: 'area-px', gt: 100 },
    ]);
    const d = [det('scratch', 0.3)];
    expect(
      decideWithChain(d, stages({ totalAreaPx: 100, totalAreaMm2: 2 }, [false]), rules, 0.5),
    ).toEqual({ decision: 'PASS' });
    expect(
      decideWithChain(d, stages({ totalAreaPx: 100, totalAreaMm2: 2.01 }, [false]), rules, 0.5),
    ).toEqual({ decision: 'FAIL', decidedBy: 'big-mm' });
    expect(
      decideWithChain(d, stages({ totalAreaPx: 101, totalAreaMm2: null }, [false]), rules, 0.5),
    ).toEqual({ decision: 'FAIL', decidedBy: 'big-px' });
    // Without stage outputs an area rule cannot match.
    expect(decideWithChain(d, null, rules, 0.5)).toEqual({ decision: 'PASS' });
  });

  it('fails on a severity at or above the limit', () => {
    const rules = chain([{ id: 'severe', when: 'severity', gte: 2 }]);
    const d = [det('scratch', 0.3)];
    expect(decideWithChain(d, stages({ maxSeverity: 1 }, [false]), rules, 0.5).decision).toBe(
      'PASS',
    );
    expect(decideWithChain(d, stages({ maxSeverity: 2 }, [false]), rules, 0.5)).toEqual({
      decision: 'FAIL',
      decidedBy: 'severe',
    });
    expect(decideWithChain(d, stages({ maxSeverity: null }, [false]), rules, 0.5).decision).toBe(
      'PASS',
    );
  });
});
