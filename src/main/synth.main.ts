/**
 * The local `visionloop synth` commands' entry into the synthetic line: exporting a labelled
 * dataset and writing a preview sheet run in-process, so the command line reaches src/synth
 * through this composition root (DESIGN.md §8: cli uses shared, HTTP, or main/).
 */
export { PRESET_NAMES } from '../synth/conditions.js';
export { exportDataset } from '../synth/dataset-export.js';
export { writePreview } from '../synth/preview.js';
export { NAMED_SCENARIOS } from '../synth/scenario.js';
export { exportCrops } from '../synth/crop-export.js';
