/**
 * The synthetic inspection line (DESIGN.md §5): public API for the frame source, the trainer
 * recipe and tools. Import from here rather than from the individual modules.
 */
export { SynthCamera, DEFAULT_BELT_SPEED } from './camera.js';
export type { SynthCameraOptions, SynthFrame, GroundTruthObject } from './camera.js';
export {
  PRESETS,
  PRESET_NAMES,
  interpolateConditions,
  isPresetName,
  presetConditions,
} from './conditions.js';
export type { Conditions, PresetName } from './conditions.js';
export {
  NAMED_SCENARIOS,
  parseScenario,
  scenarioLengthSeconds,
  scenarioStateAt,
} from './scenario.js';
export type { Scenario, ScenarioSegment, ScenarioState } from './scenario.js';
export { renderScene } from './render.js';
export type { RenderResult } from './render.js';
export { ConveyorLine, sampleScene, withoutDefects } from './scene.js';
export type { Scene, ScenePart, PartTemplate, PlacedDefect } from './scene.js';
export { parsePresetList, renderDatasetSample } from './samples.js';
export type { DatasetSample } from './samples.js';
export { exportDataset, writeYoloSample, yoloLabelText } from './dataset-export.js';
export type { ExportOptions, ExportProgress, ExportSummary } from './dataset-export.js';
export { previewFrames, writePreview } from './preview.js';
export type { PreviewOptions, PreviewResult } from './preview.js';
export { Rng, hashSeed } from './rng.js';
