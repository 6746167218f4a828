/**
 * Independent data-set samples: sample k of (seed, presets) is its own part sequence at its own
 * belt position, rendered under one of the presets (round-robin). Export and preview both use
 * this, so a preview shows exactly the frames an export with the same arguments writes.
 */
import { VisionLoopError } from '../shared/errors.js';
import { PRESETS, PRESET_NAMES, isPresetName, type PresetName } from './conditions.js';
import { renderScene, type RenderResult } from './render.js';
import { Rng, hashSeed } from './rng.js';
import { sampleScene } from './scene.js';

export interface DatasetSample extends RenderResult {
  index: number;
  preset: PresetName;
}

/**
 * Parses a preset list: one name, a comma-separated mix (`nominal,night`) or an array.
 * Unknown names or an empty list → INVALID_ARGUMENT naming the valid presets.
 */
export function parsePresetList(presets: string | readonly string[]): PresetName[] {
  const names = (typeof presets === 'string' ? presets.split(',') : [...presets])
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `no preset given (valid presets: ${PRESET_NAMES.join(', ')})`,
    );
  }
  return names.map((name) => {
    if (!isPresetName(name)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `unknown preset '${name}' (valid presets: ${PRESET_NAMES.join(', ')})`,
      );
    }
    return name;
  });
}

/** Renders sample `index` of a data set. Pure: same arguments, same bytes and boxes. */
export function renderDatasetSample(
  seed: number,
  index: number,
  presets: readonly PresetName[],
  width = 640,
  height = 480,
): DatasetSample {
  const preset = presets[index % presets.length] ?? 'nominal';
  const scene = sampleScene(hashSeed(seed, index, 0xda7a), width, height);
  const result = renderScene(scene, PRESETS[preset], new Rng(hashSeed(seed, index, 0x0015e)));
  return { ...result, index, preset };
}
