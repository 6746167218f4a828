/**
 * Offline drift comparison (`visionloop drift compare`, issue 15): are the images of one
 * source distributed like those of another? No server, database or model: each side's frames
 * are measured with the agent's image-quality features (src/vision/features.ts) and the two
 * samples go through the server's own drift decision (src/vision/drift: KS per feature at the
 * drift settings' defaults, p < 0.05, drift share > 0.3 yellow, > 0.7 red).
 *
 * Over 500 lines on purpose: one reader per kind of source (synth, folder, dataset, archive,
 * video) and the comparison that pairs them; nothing else uses the readers.
 *
 * What is read from each side (at most `maxFrames`):
 * - `synth:<scenario>`: the synthetic line's frames `everySeconds` apart on its own clock
 *   (random access, so nothing in between is rendered). Its seed is `seed` for the reference
 *   and `currentSeed` (default seed + 1) for the current side, so `synth:nominal` against
 *   `synth:nominal` compares two independent runs of the line, not the same frames twice.
 * - a folder of images: every image, or `maxFrames` evenly spaced by name when it holds more.
 * - a YOLO dataset (a folder with data.yaml, or one folder holding one) or an exported archive
 *   (.tar, .tar.gz, .tgz): the images of `split` ('all': every split it has), evenly spaced.
 * - a video file, stream or camera (through ffmpeg): the first frame of every `everySeconds`
 *   bucket of the video's clock (frame index ÷ fps; a live stream's own arrival clock), as
 *   the server thins a camera's frames: neighbouring frames show the same parts, and KS fed
 *   with near-copies gives p-values far too small.
 *
 * Never writes anything but a temporary directory for an archive (removed afterwards); never
 * skips an unreadable image (the error names it).
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { CapturedFrame, FrameSource } from '../agent/frame-source.js';
import { describeFfmpegInput, isStreamUrl } from '../agent/sources/ffmpeg-input.js';
import { locateFfmpeg } from '../agent/sources/ffmpeg-locate.js';
import { probeStream } from '../agent/sources/ffmpeg-probe.js';
import { FolderSource } from '../agent/sources/folder.source.js';
import { openSource } from '../agent/sources/open-source.js';
import { SynthSource } from '../agent/sources/synth.source.js';
import { loadRuntimeConfig, type RuntimeConfig } from '../config/runtime.config.js';
import { extractArchive } from '../repositories/dataset-archive.js';
import { DATASET_SPLITS, type DatasetSplit } from '../repositories/yolo-dataset.repository.js';
import { renderDriftReportHtml } from '../services/drift-report-html.js';
import { evenlySpaced } from '../services/training-reference.js';
import { DEFAULT_DRIFT_SETTINGS } from '../shared/api/drift.js';
import { FEATURE_NAMES, type FrameFeatures } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  checkDrift,
  imageFeatureColumns,
  prepareReference,
  type DriftConfig,
  type DriftReport,
} from '../vision/drift/index.js';
import { computeFeatures } from '../vision/features.js';
import { parseScenario } from '../synth/index.js';
import type { RgbImage } from '../vision/image.js';
import { createDatasetRepository } from './evaluation.main.js';

export const DEFAULT_COMPARE_MAX_FRAMES = 200;
/** The server's thinning: at most one frame per this many seconds of a camera's clock. */
export const DEFAULT_COMPARE_EVERY_SECONDS = DEFAULT_DRIFT_SETTINGS.minSpacingSeconds;
export const DEFAULT_COMPARE_SEED = 1;
export const COMPARE_SPLITS = ['all', ...DATASET_SPLITS] as const;
export type CompareSplit = (typeof COMPARE_SPLITS)[number];

/** The drift settings' defaults, as the server's drift check uses them. */
export const COMPARE_DRIFT_CONFIG: Readonly<Partial<DriftConfig>> = Object.freeze({
  alpha: DEFAULT_DRIFT_SETTINGS.alpha,
  driftShareThreshold: DEFAULT_DRIFT_SETTINGS.driftShareThreshold,
  redShareThreshold: DEFAULT_DRIFT_SETTINGS.redShareThreshold,
  correction: DEFAULT_DRIFT_SETTINGS.correction,
  minSamples: DEFAULT_DRIFT_SETTINGS.minSamples,
});

export type CompareRole = 'reference' | 'current';
export type CompareSourceKind = 'synth' | 'folder' | 'dataset' | 'archive' | 'video' | 'stream';

export interface DriftCompareRequest {
  reference: string;
  current: string;
  /** Most frames measured per side (default 200). */
  maxFrames?: number;
  /** Spacing of frames taken from synthetic and video sources, seconds (default 10; 0 = every frame). */
  everySeconds?: number;
  /** Seed of the reference's synthetic line (default 1). */
  seed?: number;
  /** Seed of the current side's synthetic line (default seed + 1). */
  currentSeed?: number;
  /** Dataset split(s) read from a dataset or archive (default 'all'). */
  split?: CompareSplit;
  /** ffmpeg's location and the like (default: loadRuntimeConfig()). */
  config?: RuntimeConfig;
  /** Where an archive is unpacked (default the OS temp dir). */
  tmpDir?: string;
  signal?: AbortSignal;
  /** Called after each measured frame. */
  onProgress?: (role: CompareRole, frames: number, total: number) => void;
}

/** One side as it was read. */
export interface ComparedSide {
  role: CompareRole;
  /** The source as given. */
  spec: string;
  kind: CompareSourceKind;
  /** What was read, for people, e.g. `folder /x (412 images)`. */
  description: string;
  /** Frames measured. */
  frames: number;
  /** Images the source holds (folders, datasets) or frames decoded (videos, synth: its index range). */
  available: number | null;
  /** Seconds between the frames measured on the source's clock; null for image sets. */
  spacingSeconds: number | null;
  /** Synthetic line seed, when the side is `synth:`. */
  seed: number | null;
  notes: string[];
}

export interface DriftComparison {
  reference: ComparedSide;
  current: ComparedSide;
  /** The drift decision, exactly as the server's check makes it. */
  report: DriftReport;
  /** Each side's measured values per feature (FEATURE_NAMES), for charts. */
  samples: Record<CompareRole, Record<string, number[]>>;
}

interface SideSampling {
  role: CompareRole;
  spec: string;
  seed: number;
  maxFrames: number;
  everySeconds: number;
  split: CompareSplit;
  config: RuntimeConfig;
  request: DriftCompareRequest;
}

interface SideResult {
  side: ComparedSide;
  features: FrameFeatures[];
}

function sideError(role: CompareRole, error: unknown): unknown {
  if (error instanceof VisionLoopError && !error.message.startsWith(`--${role}`)) {
    return new VisionLoopError(error.code, `--${role}: ${error.message}`, { cause: error });
  }
  return error;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new VisionLoopError('INTERNAL', 'the comparison was interrupted');
}

const ARCHIVE = /\.(tar|tar\.gz|tgz)$/i;

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() === true;
}

/** The folder holding data.yaml: `dir` itself or its single sub-folder; null when neither. */
async function datasetRoot(dir: string): Promise<string | null> {
  const has = async (candidate: string) =>
    (await isFile(path.join(candidate, 'data.yaml'))) ||
    (await isFile(path.join(candidate, 'data.yml')));
  if (await has(dir)) return dir;
  const folders = (await readdir(dir, { withFileTypes: true })).filter(
    (entry) => entry.isDirectory() && !entry.name.startsWith('.'),
  );
  const only = folders.length === 1 ? folders[0] : undefined;
  if (only !== undefined && (await has(path.join(dir, only.name)))) {
    return path.join(dir, only.name);
  }
  return null;
}

function progress(sampling: SideSampling, frames: number): void {
  sampling.request.onProgress?.(sampling.role, frames, sampling.maxFrames);
}

/** Frames of the synthetic line `everySeconds` apart, rendered by index. */
async function sampleSynth(source: SynthSource, sampling: SideSampling): Promise<SideResult> {
  const camera = source.camera;
  const step = Math.max(1, Math.round(sampling.everySeconds * camera.fps));
  const features: FrameFeatures[] = [];
  for (let k = 0; k < sampling.maxFrames; k++) {
    checkAborted(sampling.request.signal);
    features.push(computeFeatures(camera.frame(k * step).image));
    progress(sampling, features.length);
    // Rendering is synchronous; yield so Ctrl-C and progress output get their turn.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    features,
    side: {
      role: sampling.role,
      spec: sampling.spec,
      kind: 'synth',
      description: `${source.description.replace(/, unpaced\)$/, ')')}, a frame every ${step / camera.fps} s`,
      frames: features.length,
      available: null,
      spacingSeconds: step / camera.fps,
      seed: source.seed,
      notes: [],
    },
  };
}

/** Every image of a list, or `maxFrames` evenly spaced ones. */
async function sampleImages(
  files: readonly string[],
  decode: (file: string) => Promise<RgbImage>,
  sampling: SideSampling,
): Promise<FrameFeatures[]> {
  const picked = evenlySpaced(files, sampling.maxFrames);
  const features: FrameFeatures[] = [];
  // Decode the next image (sharp works off the main thread) while this one is measured.
  let pending: Promise<RgbImage> | null = picked[0] === undefined ? null : decode(picked[0]);
  for (let i = 0; pending !== null; i++) {
    checkAborted(sampling.request.signal);
    const image = await pending;
    const next = picked[i + 1];
    pending = next === undefined ? null : decode(next);
    pending?.catch(() => undefined);
    features.push(computeFeatures(image));
    progress(sampling, features.length);
  }
  return features;
}

function imageSetNotes(files: number, picked: number): string[] {
  return files > picked
    ? [`${picked} of ${files} images, evenly spaced by name (--max-frames ${picked})`]
    : [];
}

async function sampleFolder(source: FolderSource, sampling: SideSampling): Promise<SideResult> {
  const features = await sampleImages(source.files, (name) => source.decode(name), sampling);
  return {
    features,
    side: {
      role: sampling.role,
      spec: sampling.spec,
      kind: 'folder',
      description: source.description,
      frames: features.length,
      available: source.files.length,
      spacingSeconds: null,
      seed: null,
      notes: imageSetNotes(source.files.length, features.length),
    },
  };
}

async function sampleDataset(
  root: string,
  kind: 'dataset' | 'archive',
  sampling: SideSampling,
): Promise<SideResult> {
  const repository = createDatasetRepository(sampling.config);
  const dataset = await repository.readDataset(root);
  const splits: DatasetSplit[] =
    sampling.split === 'all'
      ? DATASET_SPLITS.filter((split) => dataset.splits[split] !== undefined)
      : [sampling.split];
  if (splits.length === 0) {
    throw new VisionLoopError('DATASET_INVALID', `${dataset.configPath} names no split`);
  }
  const files: string[] = [];
  for (const split of splits) files.push(...(await repository.listImages(dataset, split)));
  const unique = [...new Set(files)].sort();
  const features = await sampleImages(unique, (file) => repository.loadImage(file), sampling);
  const where = kind === 'archive' ? `archive ${sampling.spec}` : `dataset ${root}`;
  return {
    features,
    side: {
      role: sampling.role,
      spec: sampling.spec,
      kind,
      description: `${where} (${splits.join('+')}: ${unique.length} images)`,
      frames: features.length,
      available: unique.length,
      spacingSeconds: null,
      seed: null,
      notes: imageSetNotes(unique.length, features.length),
    },
  };
}

/**
 * An archive's data.yaml `path` names the packer's directory, meaningless here: drop it so the
 * splits resolve inside the archive.
 */
async function dropDatasetPath(root: string): Promise<void> {
  for (const name of ['data.yaml', 'data.yml']) {
    const file = path.join(root, name);
    if (!(await isFile(file))) continue;
    let document: unknown;
    try {
      document = parseYaml(await readFile(file, 'utf8'));
    } catch {
      return; // The dataset reader reports the syntax error with its file.
    }
    if (typeof document === 'object' && document !== null && 'path' in document) {
      const { path: _dropped, ...rest } = document as Record<string, unknown>;
      await writeFile(file, stringifyYaml(rest));
    }
    return;
  }
}

async function sampleArchive(file: string, sampling: SideSampling): Promise<SideResult> {
  const work = await mkdtemp(path.join(sampling.request.tmpDir ?? tmpdir(), 'visionloop-compare-'));
  try {
    await extractArchive(createReadStream(file), work);
    const root = await datasetRoot(work);
    if (root === null) {
      throw new VisionLoopError(
        'DATASET_INVALID',
        `${file}: no data.yaml in the archive (nor in a single folder inside it)`,
      );
    }
    await dropDatasetPath(root);
    return await sampleDataset(root, 'archive', sampling);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The first frame of every `everySeconds` bucket of a video's clock. */
async function sampleVideo(
  source: FrameSource,
  videoFps: number | null,
  sampling: SideSampling,
): Promise<SideResult> {
  const spacingMs = sampling.everySeconds * 1000;
  const features: FrameFeatures[] = [];
  let decoded = 0;
  let firstArrival: number | null = null;
  let lastBucket = Number.NaN;
  const controller = new AbortController();
  const signal = sampling.request.signal
    ? AbortSignal.any([sampling.request.signal, controller.signal])
    : controller.signal;
  const clock = (frame: CapturedFrame): number => {
    if (videoFps !== null) return (frame.index * 1000) / videoFps;
    firstArrival ??= frame.capturedAt;
    return frame.capturedAt - firstArrival;
  };
  for await (const frame of source.frames(signal)) {
    decoded++;
    const t = clock(frame);
    const bucket = spacingMs > 0 ? Math.floor(t / spacingMs) : frame.index;
    if (bucket === lastBucket) continue;
    lastBucket = bucket;
    features.push(computeFeatures(frame.image));
    progress(sampling, features.length);
    if (features.length >= sampling.maxFrames) {
      controller.abort();
      break;
    }
  }
  checkAborted(sampling.request.signal);
  const notes: string[] = [];
  if (videoFps === null) notes.push('the stream gave no frame rate: frames spaced by arrival time');
  const live = source.live;
  return {
    features,
    side: {
      role: sampling.role,
      spec: sampling.spec,
      kind: live ? 'stream' : 'video',
      description: `${source.description}, a frame every ${sampling.everySeconds} s`,
      frames: features.length,
      available: decoded,
      spacingSeconds: sampling.everySeconds,
      seed: null,
      notes,
    },
  };
}

async function sampleSide(sampling: SideSampling): Promise<SideResult> {
  const spec = sampling.spec;
  const ffmpegPath = sampling.config.VISIONLOOP_FFMPEG;
  if (!spec.startsWith('synth:') && !isStreamUrl(spec)) {
    const info = await stat(spec).catch(() => null);
    if (info?.isFile() === true && ARCHIVE.test(spec)) return sampleArchive(spec, sampling);
    if (info?.isDirectory() === true) {
      const root = await datasetRoot(spec);
      if (root !== null) return sampleDataset(root, 'dataset', sampling);
    }
  }
  // `seed` and `maxFrames` bound what the source yields; no fps: read as fast as measured.
  const source = await openSource(spec, {
    seed: sampling.seed,
    ffmpegPath,
  });
  try {
    if (source instanceof SynthSource) return await sampleSynth(source, sampling);
    if (source instanceof FolderSource) return await sampleFolder(source, sampling);
    let videoFps = source.fps;
    if (!source.live) {
      // A file read unpaced reports no rate; its own clock comes from the container.
      const tools = await locateFfmpeg({ ffmpegPath });
      videoFps = (await probeStream(tools, describeFfmpegInput(spec))).fps;
    }
    return await sampleVideo(source, videoFps, sampling);
  } finally {
    await source.close();
  }
}

/** Fails fast on what needs no reading: an unknown scenario, a path that does not exist. */
async function preflight(spec: string): Promise<void> {
  if (spec.startsWith('synth:')) {
    parseScenario(spec.slice('synth:'.length));
    return;
  }
  if (isStreamUrl(spec) || /^[a-z][a-z0-9+.-]+:/i.test(spec) || spec.trim() === '') return;
  if ((await stat(spec).catch(() => null)) === null && !spec.startsWith('/dev/')) {
    throw new VisionLoopError(
      'SOURCE_NOT_FOUND',
      `source not found: ${spec} (no such file or folder)`,
    );
  }
}

function tooFew(side: ComparedSide, minSamples: number, everySeconds: number): VisionLoopError {
  const hint =
    side.kind === 'video' || side.kind === 'stream'
      ? `; take frames closer together with --every (now ${everySeconds} s), knowing that frames showing the same parts make the test too sensitive`
      : side.kind === 'synth'
        ? ''
        : '; add images';
  return new VisionLoopError(
    'SOURCE_EMPTY',
    `--${side.role}: ${side.spec} gave ${side.frames} frame${side.frames === 1 ? '' : 's'}, ` +
      `the tests need at least ${minSamples} per side${hint}`,
  );
}

/**
 * Measures both sides and runs the drift check on them.
 * @throws VisionLoopError naming the side: SOURCE_NOT_FOUND, SOURCE_EMPTY (no images, or fewer
 *   frames than the tests need), SOURCE_UNREADABLE / IMAGE_INVALID (naming the file),
 *   DATASET_INVALID, SOURCE_UNSUPPORTED, FFMPEG_MISSING, INVALID_ARGUMENT.
 */
export async function compareSources(request: DriftCompareRequest): Promise<DriftComparison> {
  const maxFrames = request.maxFrames ?? DEFAULT_COMPARE_MAX_FRAMES;
  const everySeconds = request.everySeconds ?? DEFAULT_COMPARE_EVERY_SECONDS;
  const seed = request.seed ?? DEFAULT_COMPARE_SEED;
  const currentSeed = request.currentSeed ?? seed + 1;
  const split = request.split ?? 'all';
  const config = request.config ?? loadRuntimeConfig();
  if (!Number.isInteger(maxFrames) || maxFrames < 1) {
    throw new VisionLoopError('INVALID_ARGUMENT', `maxFrames must be an integer ≥ 1`);
  }
  if (!(everySeconds >= 0) || !Number.isFinite(everySeconds)) {
    throw new VisionLoopError('INVALID_ARGUMENT', `everySeconds must be a number ≥ 0`);
  }
  // Cheap checks of both sides first, so a typo in --current is not found after minutes of
  // measuring --reference.
  for (const role of ['reference', 'current'] as const) {
    try {
      await preflight(role === 'reference' ? request.reference : request.current);
    } catch (error) {
      throw sideError(role, error);
    }
  }
  const minSamples = COMPARE_DRIFT_CONFIG.minSamples ?? 20;
  const sides: Record<CompareRole, SideResult> = {} as Record<CompareRole, SideResult>;
  for (const role of ['reference', 'current'] as const) {
    try {
      sides[role] = await sampleSide({
        role,
        spec: role === 'reference' ? request.reference : request.current,
        seed: role === 'reference' ? seed : currentSeed,
        maxFrames,
        everySeconds,
        split,
        config,
        request,
      });
    } catch (error) {
      throw sideError(role, error);
    }
    const side = sides[role].side;
    if (side.frames < minSamples) throw tooFew(side, minSamples, everySeconds);
  }
  const reference = prepareReference({
    id: request.reference,
    description: sides.reference.side.description,
    numeric: imageFeatureColumns(sides.reference.features),
  });
  const report = checkDrift(
    reference,
    {
      startMs: null,
      endMs: null,
      framesSeen: sides.current.side.available ?? sides.current.side.frames,
      numeric: imageFeatureColumns(sides.current.features),
    },
    COMPARE_DRIFT_CONFIG,
  );
  // checkDrift names the sides in its own words ("window"); say what they were here.
  report.reason = report.reason.replace(
    /; reference '.*$/,
    `; ${request.reference} (${sides.reference.side.frames} frames) vs ${request.current} (${sides.current.side.frames} frames)`,
  );
  const columns = (features: FrameFeatures[]) =>
    Object.fromEntries(FEATURE_NAMES.map((name) => [name, features.map((f) => f[name])]));
  return {
    reference: sides.reference.side,
    current: sides.current.side,
    report,
    samples: {
      reference: columns(sides.reference.features),
      current: columns(sides.current.features),
    },
  };
}

/** The comparison as one self-contained HTML page (src/services/drift-report-html.ts). */
export function comparisonHtml(
  comparison: DriftComparison,
  meta: { generatedAt?: number; version?: string } = {},
): string {
  return renderDriftReportHtml({ ...comparison, ...meta });
}
