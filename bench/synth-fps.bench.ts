/**
 * Synthetic camera frames per second per core at 640×480.
 *
 *   npx tsx bench/synth-fps.bench.ts [--seconds 3]
 *
 * Measures SynthCamera.frame() on consecutive conveyor frames of the `nominal` scenario in this
 * one thread, by CPU time (user + system of the process), so a busy machine does not make the
 * renderer look slower than it is; the median of five windows is the result. Baseline (same run): a trivial per-pixel fill of a 640×480
 * RGB buffer, a memory-bandwidth reference that makes the ratio comparable across machines.
 * Also reports each preset's rate, and what a real JPEG round trip through sharp would cost per
 * frame next to the built-in JPEG-artefact emulation. Target (issue): ≥ 60 frames/s per core.
 * Prints one JSON object on stdout.
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { SynthCamera } from '../src/synth/camera.js';
import { PRESET_NAMES } from '../src/synth/conditions.js';
import { applyJpegArtifacts } from '../src/synth/jpeg-artifacts.js';
import { parseScenario } from '../src/synth/scenario.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
const seconds = Math.max(0.5, Number(values.seconds) || 3);
const WIDTH = 640;
const HEIGHT = 480;
const TARGET_FPS = 60;

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Runs `step` repeatedly for about `budgetSeconds` of wall time; rates by CPU and by wall time. */
function measure(step: (i: number) => void, budgetSeconds: number) {
  const cpuStart = cpuMs();
  const wallStart = performance.now();
  let n = 0;
  while (performance.now() - wallStart < budgetSeconds * 1000) step(n++);
  const cpu = cpuMs() - cpuStart;
  const wall = performance.now() - wallStart;
  return { count: n, perCpuSecond: (n * 1000) / cpu, perWallSecond: (n * 1000) / wall };
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// Baseline: fill a 640×480 RGB buffer pixel by pixel.
const buffer = new Uint8Array(WIDTH * HEIGHT * 3);
let sink = 0;
const fill = (k: number) => {
  for (let i = 0; i < buffer.length; i++) buffer[i] = (i + k) & 255;
  sink ^= buffer[k % buffer.length]!;
};
measure(fill, 0.3);
const baseline = measure(fill, Math.max(0.5, seconds / 3));

// Camera, nominal conveyor: consecutive frames as the agent would pull them. Five windows;
// the median window is reported, so a burst of load from other processes does not decide it.
const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 1 });
measure((i) => camera.frame(i), 1.5);
let next = 1000;
const windows = Array.from({ length: 5 }, () => measure(() => camera.frame(next++), seconds / 5));
const byRate = [...windows].sort((a, b) => a.perCpuSecond - b.perCpuSecond);
const nominal = byRate[2]!;

const perPreset: Record<string, number> = {};
for (const preset of PRESET_NAMES) {
  const presetCamera = new SynthCamera({ scenario: parseScenario(preset), seed: 2 });
  measure((i) => presetCamera.frame(i), 0.3);
  perPreset[preset] = round(measure((i) => presetCamera.frame(500 + i), seconds / 3).perCpuSecond);
}

// JPEG: emulated artefacts (what the camera does) vs a real sharp round trip (async, off-thread).
const sample = camera.frame(0).image;
const jpegEmulation = measure(() => {
  const copy = new Uint8Array(sample.data);
  applyJpegArtifacts(copy, WIDTH, HEIGHT, 75);
}, 0.5);
const roundTrips = 20;
const sharpStart = performance.now();
for (let i = 0; i < roundTrips; i++) {
  const encoded = await sharp(sample.data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .jpeg({ quality: 75 })
    .toBuffer();
  await sharp(encoded).raw().toBuffer();
}
const sharpRoundTripMs = (performance.now() - sharpStart) / roundTrips;

const framesPerSecondPerCore = round(nominal.perCpuSecond);
process.stdout.write(
  `${JSON.stringify({
    bench: 'synth-fps',
    framesPerSecondPerCore,
    framesPerSecondWall: round(nominal.perWallSecond),
    windowsFramesPerSecondPerCore: windows.map((w) => round(w.perCpuSecond)),
    frames: windows.reduce((n, w) => n + w.count, 0),
    frameSize: `${WIDTH}x${HEIGHT}`,
    baseline: {
      name: 'per-pixel fill of a 640x480 RGB buffer',
      fillsPerSecondPerCore: round(baseline.perCpuSecond),
    },
    ratio: round(nominal.perCpuSecond / baseline.perCpuSecond, 4),
    perPresetFramesPerSecondPerCore: perPreset,
    jpeg: {
      emulatedMsPerFrame: round(1000 / jpegEmulation.perCpuSecond, 2),
      sharpRoundTripMsPerFrame: round(sharpRoundTripMs, 2),
    },
    target: { framesPerSecondPerCore: TARGET_FPS },
    pass: framesPerSecondPerCore >= TARGET_FPS,
    checksum: sink,
  })}\n`,
);
