/**
 * Pipeline throughput vs bare session.run, and event-loop lag while detecting at full speed.
 *
 *   npx tsx bench/pipeline-throughput.bench.ts [--model models/seed/model.onnx] [--seconds 10] [--threads 2]
 *
 * Baseline (same run, same model, same thread count): back-to-back `session.run` on one
 * preprocessed tensor in this thread, no decode or NMS. Pipeline: 640×480 frames from memory
 * through the whole InspectionPipeline (letterbox, inference in the worker, decode, NMS,
 * features, decision) with the motion gate off. Targets (issue 2): ratio ≥ 0.85, event-loop
 * lag p99 < 20 ms. Prints one JSON object.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { OnnxDetector } from '../src/agent/onnx-detector.js';
import type { CapturedFrame, FrameSource } from '../src/agent/frame-source.js';
import { InspectionPipeline } from '../src/agent/pipeline.js';
import { DEFAULT_MOTION_GATE } from '../src/agent/motion-gate.js';
import { BUILTIN_SEED_MODEL } from '../src/main/detect.main.js';
import { SynthCamera } from '../src/synth/camera.js';
import { parseScenario } from '../src/synth/scenario.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: BUILTIN_SEED_MODEL },
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const modelPath = values.model;

const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 7 });
const frames = Array.from({ length: 32 }, (_, i) => camera.frame(i * 5).image);

async function bareSessionRate(inputWidth: number, inputHeight: number): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const input = new Float32Array(3 * inputWidth * inputHeight).fill(0.45);
  const feeds = {
    [session.inputNames[0] ?? 'images']: new ort.Tensor('float32', input, [
      1,
      3,
      inputHeight,
      inputWidth,
    ]),
  };
  for (let i = 0; i < 5; i++) await session.run(feeds);
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await session.run(feeds);
    runs++;
  }
  const rate = (runs * 1000) / (performance.now() - start);
  await session.release();
  return rate;
}

function memorySource(limitMs: number): FrameSource {
  return {
    description: 'memory',
    fps: null,
    live: false,
    // eslint-disable-next-line @typescript-eslint/require-await -- frames are already in memory
    async *frames(signal?: AbortSignal): AsyncIterable<CapturedFrame> {
      const end = performance.now() + limitMs;
      for (let index = 0; performance.now() < end && !signal?.aborted; index++) {
        const image = frames[index % frames.length];
        if (!image) return;
        yield { index, capturedAt: Date.now(), image };
      }
    },
    close: () => Promise.resolve(),
  };
}

async function pipelineRate(): Promise<{ rate: number; lagP99Ms: number; lagMaxMs: number }> {
  const detector = new OnnxDetector({ threads });
  await detector.load(modelPath);
  // Warm-up pass so session start-up is not measured.
  const warm = new InspectionPipeline(memorySource(1000), detector, () => undefined, {
    motion: { ...DEFAULT_MOTION_GATE, enabled: false },
  });
  await warm.run();
  let results = 0;
  const pipeline = new InspectionPipeline(
    memorySource(seconds * 1000),
    detector,
    () => {
      results++;
    },
    { motion: { ...DEFAULT_MOTION_GATE, enabled: false } },
  );
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const start = performance.now();
  await pipeline.run();
  const elapsed = performance.now() - start;
  lag.disable();
  await detector.dispose();
  return {
    rate: (results * 1000) / elapsed,
    lagP99Ms: lag.percentile(99) / 1e6,
    lagMaxMs: lag.max / 1e6,
  };
}

const probe = new OnnxDetector({ threads });
const model = await probe.load(modelPath);
await probe.dispose();
const bare = await bareSessionRate(model.inputWidth, model.inputHeight);
const pipeline = await pipelineRate();
const ratio = pipeline.rate / bare;
console.log(
  JSON.stringify({
    bench: 'pipeline-throughput',
    model: model.version,
    input: `${model.inputWidth}x${model.inputHeight}`,
    frame: '640x480',
    threads,
    seconds,
    baseline: { bareSessionRunsPerSecond: round(bare) },
    pipelineFramesPerSecond: round(pipeline.rate),
    ratio: round(ratio, 3),
    eventLoopLagP99Ms: round(pipeline.lagP99Ms, 2),
    eventLoopLagMaxMs: round(pipeline.lagMaxMs, 2),
    target: { ratio: 0.85, eventLoopLagP99Ms: 20 },
    pass: ratio >= 0.85 && pipeline.lagP99Ms < 20,
  }),
);

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
