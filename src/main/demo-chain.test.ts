import { describe, expect, it } from 'vitest';
import { chainConfigSchema } from '../shared/api/inspection-chain.js';
import { CROP_CLASSES } from '../synth/crop-export.js';
import { DEMO_AREA_LIMIT_MM2, demoChain } from './demo-chain.js';

describe('demoChain', () => {
  it('is a valid chain: classify then segment from the production stage aliases', () => {
    const chain = demoChain();
    expect(chainConfigSchema.safeParse(chain).success).toBe(true);
    expect(chain.stages.map((s) => [s.stage, s.alias, s.padding, s.minConfidence])).toEqual([
      ['classify', 'classify-production', 0.15, 0.25],
      ['segment', 'segment-production', 0.15, 0.25],
    ]);
    expect(chain.vetoClass).toBe('not_defect');
    expect(chain.mmPerPixel).toBe(0.1);
    expect(chain.maxCrops).toBe(16);
  });

  it('decides by severity ≥ major, area above the critical threshold in mm², then any defect', () => {
    const chain = demoChain();
    expect(chain.rules).toEqual([
      { id: 'severe', when: 'severity', gte: 2 },
      { id: 'big', when: 'area-mm2', gt: 7.8 },
      { id: 'any', when: 'any-defect', minConfidence: 0.5 },
    ]);
    expect(DEMO_AREA_LIMIT_MM2).toBe(7.8);
    // Severity 2 is the classifier's `major` class, and the veto class is class 0.
    expect(CROP_CLASSES[2]).toBe('major');
    expect(CROP_CLASSES[0]).toBe(chain.vetoClass);
  });

  it('returns a fresh object each call (callers may edit theirs)', () => {
    const a = demoChain();
    a.rules.pop();
    expect(demoChain().rules).toHaveLength(3);
  });
});
