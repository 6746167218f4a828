/**
 * Drift statistics and the drift decision (issue 6): the public API of src/vision/drift. Pure
 * functions only; the DriftService (src/services) owns storage, scheduling and events.
 */
export {
  checkDrift,
  prepareReference,
  resolveDriftConfig,
  DEFAULT_DRIFT_CONFIG,
} from './drift-detector.js';
export type {
  DriftConfig,
  DriftLevel,
  DriftReference,
  DriftReferenceInput,
  DriftReport,
  DriftSamples,
  DriftStatus,
  DriftWindowInput,
  FeatureDriftResult,
  FeatureTestStatus,
} from './drift-detector.js';
export {
  DEFAULT_DRIFT_WINDOW,
  DriftWindow,
  featureColumns,
  imageFeatureColumns,
  resolveWindowOptions,
  selectDriftWindow,
} from './window.js';
export type { DriftWindowOptions, DriftWindowSelection, TimedSample } from './window.js';
export { ksTwoSample, ksTwoSampleSorted, KS_MAX_AUTO_EXACT_N } from './ks.js';
export type { KsMethod, KsTestOptions, KsTestResult } from './ks.js';
export { categoricalShares, sharedHistogram, DISTRIBUTION_BINS } from './distribution.js';
export type {
  CategoricalDistribution,
  FeatureDistribution,
  HistogramDistribution,
} from './distribution.js';
export { chiSquareHomogeneity } from './chi-square.js';
export type { ChiSquareOptions, ChiSquareResult } from './chi-square.js';
export { referenceSpread, wassersteinDistance, wassersteinSorted } from './wasserstein.js';
export type { ReferenceSpread, SpreadKind } from './wasserstein.js';
export { adjustPValues, P_VALUE_CORRECTIONS } from './multiple-testing.js';
export type { PValueCorrection } from './multiple-testing.js';
export { kolmogorovSf, smirnovSf } from './kolmogorov.js';
export { chiSquareSf, logGamma, regularizedGammaP, regularizedGammaQ } from './special.js';
