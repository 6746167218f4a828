/**
 * Pipeline throughput vs bare session.run, and event-loop lag while detecting at full speed.
 *
 *   npx tsx bench/pipeline-throughput.bench.ts [--model models/seed/model.onnx] [--rounds 6]
 *     [--seconds 2] [--threads N]
 *
 * Baseline (same run, same model, same thread count): back-to-back `session.run` on one
 * preprocessed tensor in this thread, no decode or NMS. Pipeline: 640×480 frames from memory
 * through the whole InspectionPipeline (letterbox, inference in the worker, decode, NMS,
 * features, decision) with the motion gate off. The two alternate in short rounds (A B B A …)
 * so that load from elsewhere on a shared machine hits both alike; the ratio reported is the
 * median of the per-round-pair ratios. `--threads` defaults to what the product uses
 * (`defaultInferenceThreads()`: cores − 1, at least 1). Targets (issue 2): ratio ≥ 0.85,
 * event-loop lag p99 < 20 ms. Prints one JSON object.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { defaultInferenceThreads, OnnxDetector } from '../src/inference/onnx-detector.js';
import type { CapturedFrame, FrameSource } from '../src/agent/frame-source.js';
import { InspectionPipeline } from '../src/agent/pipeline.js';
import { DEFAULT_MOTION_GATE } from '../src/agent/motion-gate.js';
import { BUILTIN_SEED_MODEL } from '../src/main/detect.main.js';
import { SynthCamera } from '../src/synth/camera.js';
import { parseScenario } from '../src/synth/scenario.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: BUILTIN_SEED_MODEL },
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '2' },
    threads: { type: 'string', default: String(defaultInferenceThreads()) },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const modelPath = values.model;

const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 7 });
const frames = Array.from({ length: 32 }, (_, i) => camera.frame(i * 5).image);

async function bareSession(
  inputWidth: number,
  inputHeight: number,
): Promise<{ rate: () => Promise<number>; release: () => Promise<void> }> {
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
  return {
    rate: async () => {
      let runs = 0;
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        await session.run(feeds);
        runs++;
      }
      return (runs * 1000) / (performance.now() - start);
    },
    release: () => session.release(),
  };
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

const detector = new OnnxDetector({ threads });
const model = await detector.load(modelPath);
const noMotionGate = { motion: { ...DEFAULT_MOTION_GATE, enabled: false } };
// Warm-up pass so start-up is not measured.
await new InspectionPipeline(memorySource(1000), detector, () => undefined, noMotionGate).run();
const bare = await bareSession(model.inputWidth, model.inputHeight);

// One monitor per pipeline round (a monitor re-enabled after a pause would count the pause,
// the bare rounds, as one long delay); the worst round's p99 and max are reported.
const lagP99PerRound: number[] = [];
const lagMaxPerRound: number[] = [];
async function pipelineRate(): Promise<number> {
  const roundLag = monitorEventLoopDelay({ resolution: 5 });
  let results = 0;
  const pipeline = new InspectionPipeline(
    memorySource(seconds * 1000),
    detector,
    () => {
      results++;
    },
    noMotionGate,
  );
  roundLag.enable();
  const start = performance.now();
  await pipeline.run();
  const elapsed = performance.now() - start;
  roundLag.disable();
  lagP99PerRound.push(roundLag.percentile(99) / 1e6);
  lagMaxPerRound.push(roundLag.max / 1e6);
  return (results * 1000) / elapsed;
}

const bareRates: number[] = [];
const pipelineRates: number[] = [];
for (let round = 0; round < rounds; round++) {
  // A B, then B A: a trend in background load does not favour either side.
  if (round % 2 === 0) {
    bareRates.push(await bare.rate());
    pipelineRates.push(await pipelineRate());
  } else {
    pipelineRates.push(await pipelineRate());
    bareRates.push(await bare.rate());
  }
}
await bare.release();
await detector.dispose();

const ratios = pipelineRates.map((rate, i) => rate / (bareRates[i] ?? Number.NaN));
const ratio = median(ratios);
const lagP99Ms = Math.max(...lagP99PerRound);
console.log(
  JSON.stringify({
    bench: 'pipeline-throughput',
    model: model.version,
    input: `${model.inputWidth}x${model.inputHeight}`,
    frame: '640x480',
    threads,
    rounds,
    secondsPerRound: seconds,
    baseline: { bareSessionRunsPerSecond: round(median(bareRates)) },
    pipelineFramesPerSecond: round(median(pipelineRates)),
    ratio: round(ratio, 3),
    ratioPerRound: ratios.map((value) => round(value, 3)),
    eventLoopLagP99Ms: round(lagP99Ms, 2),
    eventLoopLagMaxMs: round(Math.max(...lagMaxPerRound), 2),
    target: { ratio: 0.85, eventLoopLagP99Ms: 20 },
    pass: ratio >= 0.85 && lagP99Ms < 20,
  }),
);

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
