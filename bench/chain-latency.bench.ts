/**
 * Latency of the inspection chain per stage (issue 18): detect alone, detect + classify, and
 * detect + classify + segment, per 640×480 frame with 1, 4 and 16 crops; and the gain of one
 * batched session run per frame over crop-by-crop runs.
 *
 *   npx tsx bench/chain-latency.bench.ts [--frames 60] [--threads N] [--crop-size 64]
 *     [--detector models/seed/model.onnx] [--classifier path] [--segmenter path]
 *
 * Models: the shipped seed detector; `models/seed-classify/model.onnx` and
 * `models/seed-segment/model.onnx` when present (or the paths given), else the computing
 * fixtures of test/helpers/onnx-fixtures.ts (mean-colour classifier, dark-pixel mask model) at
 * `--crop-size`. Crops are seeded random boxes on the frame (their count must not depend on
 * what the detector finds). Frames run one after another, each stage awaited in turn, as the
 * agent's chain does.
 *
 * Batched vs crop by crop (the baseline, same run): the same fixture classifier exported with a
 * dynamic batch and with the batch fixed to 1 — the runtime runs the latter crop by crop —
 * on 16 crops per frame; `batchedSpeedup` = crop-by-crop run p50 / batched run p50.
 * Prints one JSON object.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultInferenceThreads, OnnxDetector } from '../src/inference/onnx-detector.js';
import { OnnxCropClassifier, OnnxCropSegmenter } from '../src/inference/onnx-stage-model.js';
import type { Box } from '../src/shared/domain.js';
import { SynthCamera } from '../src/synth/camera.js';
import { parseScenario } from '../src/synth/scenario.js';
import { padBox } from '../src/vision/crops.js';
import { buildColourClassifierModel, buildDarkMaskModel } from '../test/helpers/onnx-fixtures.js';
import { median, percentile } from './stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const shipped = (name: string): string | undefined => {
  const path = join(root, 'models', name, 'model.onnx');
  return existsSync(path) ? path : undefined;
};

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '60' },
    threads: { type: 'string', default: String(defaultInferenceThreads()) },
    'crop-size': { type: 'string', default: '64' },
    detector: { type: 'string', default: join(root, 'models', 'seed', 'model.onnx') },
    classifier: { type: 'string' },
    segmenter: { type: 'string' },
  },
});
const frameCount = Number(values.frames);
const threads = Number(values.threads);
const cropSize = Number(values['crop-size']);
const CROP_COUNTS = [1, 4, 16] as const;

const work = mkdtempSync(join(tmpdir(), 'vl-chain-bench-'));
function fixture(name: string, bytes: Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, bytes);
  return path;
}
const batchedClassifierPath = fixture(
  'classify-batched.onnx',
  buildColourClassifierModel({ size: cropSize }),
);
const fixedClassifierPath = fixture(
  'classify-fixed.onnx',
  buildColourClassifierModel({ size: cropSize, dynamicBatch: false }),
);
const classifierPath = values.classifier ?? shipped('seed-classify') ?? batchedClassifierPath;
const segmenterPath =
  values.segmenter ??
  shipped('seed-segment') ??
  fixture('segment.onnx', buildDarkMaskModel({ size: cropSize }));

const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 7 });
const frames = Array.from({ length: 16 }, (_, i) => camera.frame(i * 5).image);

/** Seeded boxes (mulberry32) of 24..120 px, padded by 10 % as the chain pads them. */
function seededBoxes(count: number, seed: number): Box[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const w = 24 + next() * 96;
    const h = 24 + next() * 96;
    const x = next() * (640 - w);
    const y = next() * (480 - h);
    return padBox({ x1: x, y1: y, x2: x + w, y2: y + h }, 0.1, 640, 480);
  });
}

interface Summary {
  p50Ms: number;
  p99Ms: number;
}
function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Ms: round(percentile(sorted, 50), 2), p99Ms: round(percentile(sorted, 99), 2) };
}

const detector = new OnnxDetector({ threads });
const classifier = new OnnxCropClassifier({ threads });
const segmenter = new OnnxCropSegmenter({ threads });
const fixedClassifier = new OnnxCropClassifier({ threads });
const batchedClassifier = new OnnxCropClassifier({ threads });
const detectorInfo = await detector.load(values.detector);
const classifierInfo = await classifier.load(classifierPath);
const segmenterInfo = await segmenter.load(segmenterPath);
await fixedClassifier.load(fixedClassifierPath);
await batchedClassifier.load(batchedClassifierPath);

// Warm-up: every model, every crop count once.
for (const n of CROP_COUNTS) {
  const image = frames[0]!;
  const boxes = seededBoxes(n, 1);
  await detector.detect(image);
  await classifier.classify(image, boxes);
  await segmenter.segment(image, boxes, 0.1);
  await fixedClassifier.classify(image, boxes);
  await batchedClassifier.classify(image, boxes);
}

const detectAlone: number[] = [];
for (let f = 0; f < frameCount; f++) {
  const started = performance.now();
  await detector.detect(frames[f % frames.length]!);
  detectAlone.push(performance.now() - started);
}

const perCropCount: Record<string, unknown> = {};
for (const n of CROP_COUNTS) {
  const detectClassify: number[] = [];
  const detectClassifySegment: number[] = [];
  const classifyRun: number[] = [];
  const classifyPrepare: number[] = [];
  const segmentRun: number[] = [];
  const segmentPrepare: number[] = [];
  for (let f = 0; f < frameCount; f++) {
    const image = frames[f % frames.length]!;
    const boxes = seededBoxes(n, 1000 * n + f);
    const started = performance.now();
    await detector.detect(image);
    const classified = await classifier.classify(image, boxes);
    const afterClassify = performance.now();
    const segmented = await segmenter.segment(image, boxes, 0.1);
    const afterSegment = performance.now();
    // The two chains share the detect and classify steps of one pass: +segment adds its time.
    detectClassify.push(afterClassify - started);
    detectClassifySegment.push(afterSegment - started);
    classifyRun.push(classified.timing.runMs);
    classifyPrepare.push(classified.timing.prepareMs);
    segmentRun.push(segmented.timing.runMs);
    segmentPrepare.push(segmented.timing.prepareMs);
  }
  perCropCount[String(n)] = {
    detectPlusClassify: summarize(detectClassify),
    detectPlusClassifyPlusSegment: summarize(detectClassifySegment),
    classify: { run: summarize(classifyRun), prepare: summarize(classifyPrepare) },
    segment: { run: summarize(segmentRun), prepare: summarize(segmentPrepare) },
  };
}

// Batched vs crop by crop, alternating frame by frame so machine load hits both alike.
const batchedRuns: number[] = [];
const cropByCropRuns: number[] = [];
for (let f = 0; f < frameCount; f++) {
  const image = frames[f % frames.length]!;
  const boxes = seededBoxes(16, 5000 + f);
  const first = f % 2 === 0 ? batchedClassifier : fixedClassifier;
  const second = f % 2 === 0 ? fixedClassifier : batchedClassifier;
  const a = await first.classify(image, boxes);
  const b = await second.classify(image, boxes);
  (first === batchedClassifier ? batchedRuns : cropByCropRuns).push(a.timing.runMs);
  (second === batchedClassifier ? batchedRuns : cropByCropRuns).push(b.timing.runMs);
}

await Promise.all([
  detector.dispose(),
  classifier.dispose(),
  segmenter.dispose(),
  fixedClassifier.dispose(),
  batchedClassifier.dispose(),
]);
rmSync(work, { recursive: true, force: true });

const speedup = median(cropByCropRuns) / median(batchedRuns);
console.log(
  JSON.stringify({
    bench: 'chain-latency',
    frame: '640x480',
    frames: frameCount,
    threads,
    models: {
      detect: `${detectorInfo.version} ${detectorInfo.inputWidth}x${detectorInfo.inputHeight}`,
      classify: `${classifierInfo.version} ${classifierInfo.inputWidth}x${classifierInfo.inputHeight} (${classifierInfo.layout}${classifierPath.startsWith(work) ? ', fixture' : ''})`,
      segment: `${segmenterInfo.version} ${segmenterInfo.inputWidth}x${segmenterInfo.inputHeight} (${segmenterInfo.layout}${segmenterPath.startsWith(work) ? ', fixture' : ''})`,
    },
    detectAlone: summarize(detectAlone),
    crops: perCropCount,
    batching: {
      crops: 16,
      model: `fixture classifier ${cropSize}x${cropSize}`,
      batchedRun: summarize(batchedRuns),
      cropByCropRun: summarize(cropByCropRuns),
      batchedSpeedup: round(speedup, 2),
    },
  }),
);

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
