/**
 * `synth preview`: picks frames (independent samples of a preset mix, or camera frames of a
 * scenario spread over its timeline), lays them out as a contact sheet and writes a PNG.
 * The only I/O is the final file write.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import sharp from 'sharp';
import { VisionLoopError, messageOf } from '../shared/errors.js';
import { SynthCamera } from './camera.js';
import { renderContactSheet, sheetLayout, type SheetFrame } from './contact-sheet.js';
import { parsePresetList, renderDatasetSample } from './samples.js';
import { parseScenario, scenarioLengthSeconds } from './scenario.js';

export interface PreviewOptions {
  /** A preset or a mix (`nominal,night`): independent samples, as `synth export` writes them. */
  preset?: string;
  /** A scenario spec: camera frames spread over its timeline. */
  scenario?: string;
  count?: number;
  seed?: number;
  /** Seconds between scenario frames (default: spread over the timeline). */
  intervalSeconds?: number;
  /** Size of each frame on the sheet relative to the frame (default 0.5). */
  scale?: number;
  columns?: number;
}

export interface PreviewResult {
  path: string;
  width: number;
  height: number;
  frames: number;
  objects: number;
}

function invalid(message: string): VisionLoopError {
  return new VisionLoopError('INVALID_ARGUMENT', message);
}

/** Seconds between scenario frames when none is given: the whole timeline plus a bit of the end. */
function defaultInterval(length: number, count: number): number {
  if (count <= 1 || length <= 0) return 1;
  return (length + Math.min(30, length * 0.25)) / (count - 1);
}

/** Renders the preview frames (pure). */
export function previewFrames(options: PreviewOptions): SheetFrame[] {
  const count = options.count ?? 8;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    throw invalid(`count must be an integer in 1..256, got ${count}`);
  }
  if (options.preset !== undefined && options.scenario !== undefined) {
    throw invalid('give either a preset or a scenario, not both');
  }
  if (options.scenario !== undefined) {
    const scenario = parseScenario(options.scenario);
    const camera = new SynthCamera({ scenario, seed });
    const interval =
      options.intervalSeconds ?? defaultInterval(scenarioLengthSeconds(scenario), count);
    if (!(interval >= 0)) throw invalid('interval must be ≥ 0 seconds');
    const frames: SheetFrame[] = [];
    for (let i = 0; i < count; i++) {
      const index = Math.round(i * interval * camera.fps);
      const frame = camera.frame(index);
      frames.push({
        image: frame.image,
        objects: frame.objects,
        caption: `#${index} ${frame.preset} t=${(frame.timestampMs / 1000).toFixed(1)}s`,
      });
    }
    return frames;
  }
  const presets = parsePresetList(options.preset ?? 'nominal');
  const frames: SheetFrame[] = [];
  for (let i = 0; i < count; i++) {
    const sample = renderDatasetSample(seed, i, presets);
    frames.push({ image: sample.image, objects: sample.objects, caption: `${i} ${sample.preset}` });
  }
  return frames;
}

/** Renders the preview and writes it as a PNG at `outFile` (creating its directory). */
export async function writePreview(
  outFile: string,
  options: PreviewOptions,
): Promise<PreviewResult> {
  const scale = options.scale ?? 0.5;
  if (!(scale >= 0.1 && scale <= 2)) throw invalid(`scale must be in 0.1..2, got ${scale}`);
  if (!outFile.toLowerCase().endsWith('.png')) throw invalid(`--out must name a .png file`);
  const frames = previewFrames(options);
  const sheet = renderContactSheet(frames, { scale, columns: options.columns });
  const path = resolve(outFile);
  try {
    await mkdir(dirname(path), { recursive: true });
    await sharp(sheet.data, { raw: { width: sheet.width, height: sheet.height, channels: 3 } })
      .png()
      .toFile(path);
  } catch (error) {
    throw new VisionLoopError('INVALID_ARGUMENT', `cannot write ${path}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return {
    path,
    width: sheet.width,
    height: sheet.height,
    frames: frames.length,
    objects: frames.reduce((n, f) => n + f.objects.length, 0),
  };
}

export { sheetLayout };
