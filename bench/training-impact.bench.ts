/**
 * What a training costs the line (issue 15, part B): detection fps of a live synthetic camera
 * and /api/health latency of a real server in the same process (as in `visionloop up`),
 * measured in three phases of the same run:
 *   1. baseline: no training;
 *   2. trainer as before: 2 torch threads, normal priority;
 *   3. trainer as now: `threads` 0 (1 on ≤ 2 cores) and nice 10 (the retraining defaults);
 *   4. trainer at 2 threads and nice 10 (more epochs per minute for the demo's budget?).
 * Each training phase also reports the trainer's own speed (images/s of its epochs, when one
 * finished within the phase: use --phase-seconds ≥ 90 on a loaded machine).
 * The trainer fine-tunes the seed on the drift experiment's data and is cancelled at the end
 * of its phase. Targets: detect ≥ 80% of its baseline rate, health p99 < 100 ms, 0 unanswered.
 *
 *   npx tsx bench/training-impact.bench.ts [--phase-seconds 45] [--fps 15]
 *
 * Prints one JSON object; progress on stderr.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRuntimeConfig } from '../src/config/runtime.config.js';
import { loadServerConfig } from '../src/config/server.config.js';
import { BUILTIN_SEED_MODEL, startDetect } from '../src/main/detect.main.js';
import { startServer } from '../src/main/server.main.js';
import { ensureSynthDataset, SEED_MODEL_DIR } from '../src/main/train.main.js';
import { findPython, runTrainer } from '../src/repositories/trainer-process.js';
import { DEFAULT_MOTION_GATE } from '../src/agent/motion-gate.js';
import { percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    'phase-seconds': { type: 'string', default: '45' },
    fps: { type: 'string', default: '15' },
    work: { type: 'string', default: 'data/bench/drift' },
  },
});
const phaseMs = Number(values['phase-seconds']) * 1000;
const fps = Number(values.fps);
const log = (message: string) => process.stderr.write(`[training-impact] ${message}\n`);
const config = loadRuntimeConfig();
const python = findPython(config.VISIONLOOP_PYTHON);
const work = resolve(values.work);

const dataDir = join(work, 'finetune-night-100');
await ensureSynthDataset(dataDir, {
  presets: 'night,nominal',
  count: 200,
  seed: 200_100,
  valFraction: 0.1,
});

const dataRoot = await mkdtemp(join(tmpdir(), 'vl-impact-'));
const server = await startServer(
  loadServerConfig({
    VISIONLOOP_DATA_DIR: dataRoot,
    PORT: '0',
    HOST: '127.0.0.1',
    VISIONLOOP_LOG_LEVEL: 'silent',
  }),
  { logger: false, processMetrics: false, seedModel: null, onAdminToken: () => undefined },
);

const controller = new AbortController();
const detect = await startDetect({
  modelPath: BUILTIN_SEED_MODEL,
  source: 'synth:nominal',
  config,
  fps,
  seed: 1,
  // Every frame goes to the detector: the motion gate would hide the detector's rate.
  pipeline: { motion: { ...DEFAULT_MOTION_GATE, enabled: false } },
  onResult: () => undefined,
  signal: controller.signal,
});

async function probeHealth(until: number): Promise<{ latencies: number[]; unanswered: number }> {
  const latencies: number[] = [];
  let unanswered = 0;
  while (Date.now() < until) {
    const started = performance.now();
    try {
      const response = await fetch(`${server.url}/api/health`, {
        signal: AbortSignal.timeout(2000),
      });
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
    } catch {
      unanswered++;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { latencies, unanswered };
}

async function phase(name: string, trainer: { threads: number; nice: number } | null) {
  const training = new AbortController();
  let trainerRun: Promise<unknown> = Promise.resolve();
  const imagesPerSecond: number[] = [];
  if (trainer !== null) {
    const out = join(dataRoot, `run-${name}`);
    trainerRun = runTrainer(
      python,
      {
        data: dataDir,
        out,
        base: join(SEED_MODEL_DIR, 'weights.pt'),
        epochs: 50,
        imgsz: 320,
        batch: 16,
        seed: 0,
        threads: trainer.threads,
        nice: trainer.nice,
        extraArgs: ['--val-interval', '0'],
      },
      {
        signal: training.signal,
        onEvent: (event) => {
          if (event.event === 'epoch') imagesPerSecond.push(Number(event.images_per_s));
        },
      },
    ).catch(() => undefined);
    // The trainer's start-up (imports, decoding) is part of what the line sees.
  }
  const before = detect.stats();
  const started = Date.now();
  const health = await probeHealth(started + phaseMs);
  const after = detect.stats();
  const seconds = (Date.now() - started) / 1000;
  training.abort();
  await trainerRun;
  const sorted = [...health.latencies].sort((x, y) => x - y);
  const result = {
    phase: name,
    trainer,
    seconds: Math.round(seconds),
    detectFps: Math.round(((after.processedFrames - before.processedFrames) / seconds) * 100) / 100,
    droppedFrames: after.droppedFrames - before.droppedFrames,
    healthRequests: health.latencies.length + health.unanswered,
    healthP50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
    healthP99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
    unanswered: health.unanswered,
    trainerImagesPerSecond: imagesPerSecond.length > 0 ? imagesPerSecond : null,
  };
  log(JSON.stringify(result));
  return result;
}

// Let the detector warm up before measuring.
await new Promise((r) => setTimeout(r, 5000));
const baseline = await phase('baseline', null);
const before = await phase('trainer-as-before', { threads: 2, nice: 0 });
const now = await phase('trainer-as-now', { threads: 0, nice: 10 });
const twoNice = await phase('trainer-2-threads-nice-10', { threads: 2, nice: 10 });

controller.abort();
await detect.done.catch(() => undefined);
await server.close();
await rm(dataRoot, { recursive: true, force: true });

const ratio = (x: number) => Math.round((x / Math.max(1e-9, baseline.detectFps)) * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'training-impact',
    cameraFps: fps,
    phases: [baseline, before, now, twoNice],
    detectRatio: {
      asBefore: ratio(before.detectFps),
      asNow: ratio(now.detectFps),
      twoThreadsNice10: ratio(twoNice.detectFps),
    },
    targets: { detectRatioAtLeast: 0.8, healthP99MsBelow: 100, unanswered: 0 },
    pass: ratio(now.detectFps) >= 0.8 && now.healthP99Ms < 100 && now.unanswered === 0,
  }),
);
