/**
 * The drift monitor on the synthetic inspection line: real SynthCamera frames, real
 * computeFeatures, the default window and detector settings. Frames are rendered at 320×240
 * to keep the file fast (features are compared between frames of the same size, so the size
 * does not favour the detector), and only the frames a window keeps are rendered.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FrameFeatures } from '../../shared/domain.js';
import { SynthCamera, parseScenario } from '../../synth/index.js';
import { computeFeatures } from '../features.js';
import { checkDrift, prepareReference, type DriftReference } from './drift-detector.js';
import { DEFAULT_DRIFT_WINDOW, imageFeatureColumns, selectDriftWindow } from './window.js';

const FPS = 15;
const SEED = 11;
const REFERENCE_SAMPLES = 200;
const NOMINAL_WINDOWS = 8;
const { minSpacingMs, maxSamples } = DEFAULT_DRIFT_WINDOW;
const FRAMES_PER_SAMPLE = (minSpacingMs * FPS) / 1000;

function camera(preset: string): SynthCamera {
  return new SynthCamera({
    scenario: parseScenario(preset),
    seed: SEED,
    fps: FPS,
    width: 320,
    height: 240,
  });
}

interface FrameStub {
  timestampMs: number;
  index: number;
}

/** Every frame of the stream up to `frames`, as timestamps only (rendering is lazy). */
function stubs(frames: number): FrameStub[] {
  return Array.from({ length: frames }, (_, index) => ({
    timestampMs: (index * 1000) / FPS,
    index,
  }));
}

/** Renders and measures the frames of a stream with a cache, so each is rendered once. */
function featureSource(source: SynthCamera): (index: number) => FrameFeatures {
  const cache = new Map<number, FrameFeatures>();
  return (index) => {
    let features = cache.get(index);
    if (!features) {
      features = computeFeatures(source.frame(index).image);
      cache.set(index, features);
    }
    return features;
  };
}

/** The features of the window of `stream` that ends at frame `lastFrame`, default settings. */
function windowFeatures(
  all: FrameStub[],
  lastFrame: number,
  features: (index: number) => FrameFeatures,
  options = DEFAULT_DRIFT_WINDOW,
) {
  const selection = selectDriftWindow(all.slice(0, lastFrame + 1), options);
  return {
    camera: 'synth',
    startMs: selection.startMs,
    endMs: selection.endMs,
    framesSeen: selection.framesInSpan,
    numeric: imageFeatureColumns(selection.samples.map((s) => features(s.index))),
  };
}

let stream: FrameStub[];
let nominalFeatures: (index: number) => FrameFeatures;
let reference: DriftReference;
/** Frame index where the reference (a baseline of the same camera) ends. */
let baselineEnd: number;

beforeAll(() => {
  baselineEnd = REFERENCE_SAMPLES * FRAMES_PER_SAMPLE - 1;
  stream = stubs(baselineEnd + 1 + NOMINAL_WINDOWS * maxSamples * FRAMES_PER_SAMPLE);
  nominalFeatures = featureSource(camera('nominal'));
  const baseline = selectDriftWindow(stream.slice(0, baselineEnd + 1), {
    ...DEFAULT_DRIFT_WINDOW,
    maxSamples: REFERENCE_SAMPLES,
    spanMs: Infinity,
  });
  expect(baseline.samples).toHaveLength(REFERENCE_SAMPLES);
  reference = prepareReference({
    id: 'synth:nominal:baseline',
    description: `first ${REFERENCE_SAMPLES} thinned frames of the nominal line`,
    numeric: imageFeatureColumns(baseline.samples.map((s) => nominalFeatures(s.index))),
  });
});

describe('drift on the synthetic line (default settings)', () => {
  it('a nominal stream raises no alert over many consecutive windows', () => {
    const reports = Array.from({ length: NOMINAL_WINDOWS }, (_, w) => {
      const lastFrame = baselineEnd + (w + 1) * maxSamples * FRAMES_PER_SAMPLE;
      return checkDrift(reference, windowFeatures(stream, lastFrame, nominalFeatures));
    });
    for (const report of reports) {
      expect(report.testedFeatures).toBe(7);
      expect(report.window.samples).toBe(maxSamples);
      expect(report.status, report.reason).toBe('ok');
    }
    // Individual features may reject now and then (α = 0.05 each), but rarely.
    const rejections = reports.reduce((n, r) => n + r.driftedFeatures.length, 0);
    expect(rejections / (7 * NOMINAL_WINDOWS)).toBeLessThan(0.15);
  });

  it('without thinning, consecutive video frames make the same nominal stream look drifted', () => {
    // The statistical reason for the window's minSpacingMs: 50 consecutive frames show the
    // same two parts, so KS sees a "different distribution" in stable conditions.
    const unthinned = { ...DEFAULT_DRIFT_WINDOW, minSpacingMs: 0 };
    const lastFrames = [0, 1, 2].map((w) => baselineEnd + (w + 1) * 20 * FRAMES_PER_SAMPLE);
    const alarms = lastFrames.filter(
      (last) =>
        checkDrift(reference, windowFeatures(stream, last, nominalFeatures, unthinned)).drifted,
    );
    expect(alarms.length).toBeGreaterThanOrEqual(2);
  });

  for (const [preset, expected] of [
    ['night', ['brightness', 'contrast', 'noise']],
    ['blur', ['sharpness', 'noise']],
    ['glare', ['brightness', 'contrast']],
  ] as const) {
    it(`a ${preset} stream raises an alert naming ${expected.join(', ')}`, () => {
      const features = featureSource(camera(preset));
      const lastFrame = baselineEnd + maxSamples * FRAMES_PER_SAMPLE;
      const report = checkDrift(reference, windowFeatures(stream, lastFrame, features));
      expect(report.drifted).toBe(true);
      expect(report.level).toBe('red');
      for (const name of expected) {
        expect(report.driftedFeatures).toContain(name);
        expect(report.reason).toContain(`${name} (p=`);
      }
      expect(report.reason).toContain("reference 'synth:nominal:baseline' (200 samples)");
    });
  }
});
