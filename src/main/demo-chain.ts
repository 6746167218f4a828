/**
 * The demo's inspection chain (docs/training-stages.md): the shipped detector, then the shipped
 * crop classifier (models/seed-classify, alias `classify-production`) and crop segmenter
 * (models/seed-segment, alias `segment-production`), with decision rules drawn from the crop
 * data's severity thresholds. Configuration only: the lead's wiring decides where it applies.
 */
import {
  DEFAULT_STAGE_ALIASES,
  chainConfigSchema,
  type ChainConfig,
} from '../shared/api/inspection-chain.js';
import { CROP_PADDING, SEVERITY_AREA_PX } from '../synth/crop-export.js';

/** The synthetic camera's calibration: 640 px across a 64 mm field of view. */
export const DEMO_MM_PER_PIXEL = 0.1;

/**
 * FAIL above this total defect area, mm²: the `critical` severity threshold (780 frame px, the
 * upper tercile of the synthetic defects' areas) at DEMO_MM_PER_PIXEL.
 */
export const DEMO_AREA_LIMIT_MM2 =
  Math.round(SEVERITY_AREA_PX.critical * DEMO_MM_PER_PIXEL * DEMO_MM_PER_PIXEL * 100) / 100;

/**
 * detect → classify → segment → decide: FAIL when a defect is at least `major` (`severe`), when
 * the segmented area exceeds DEMO_AREA_LIMIT_MM2 (`big`), or when any defect the classifier did
 * not veto has confidence ≥ 0.5 (`any`). Crops the classifier calls `not_defect` count for no
 * rule. Validated against the contract's schema, so a change that breaks it fails at once.
 */
export function demoChain(): ChainConfig {
  return chainConfigSchema.parse({
    stages: [
      {
        stage: 'classify',
        alias: DEFAULT_STAGE_ALIASES.classify,
        padding: CROP_PADDING,
        minConfidence: 0.25,
      },
      {
        stage: 'segment',
        alias: DEFAULT_STAGE_ALIASES.segment,
        padding: CROP_PADDING,
        minConfidence: 0.25,
      },
    ],
    vetoClass: 'not_defect',
    mmPerPixel: DEMO_MM_PER_PIXEL,
    maxCrops: 16,
    rules: [
      { id: 'severe', when: 'severity', gte: 2 },
      { id: 'big', when: 'area-mm2', gt: DEMO_AREA_LIMIT_MM2 },
      { id: 'any', when: 'any-defect', minConfidence: 0.5 },
    ],
  });
}
