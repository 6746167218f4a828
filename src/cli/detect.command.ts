/**
 * `visionloop detect`: detection only, no server. Prints one JSON line per frame result on
 * stdout, or with --show a live summary (FPS, latency, defect and uncertain rates).
 */
import type { Command } from 'commander';
import { loadRuntimeConfig } from '../config/runtime.config.js';
import {
  DEFAULT_DECISION_POLICY,
  DEFAULT_DETECT_OPTIONS,
  DEFAULT_MOTION_GATE,
  DEFAULT_UNCERTAIN_BAND,
  resolveModelPath,
  startDetect,
  type PipelineStats,
} from '../main/detect.main.js';
import { parseBand, parseIntegerInRange, parseNumberInRange } from './parse-options.js';

export interface DetectFlags {
  model?: string;
  source: string;
  fps?: number;
  maxFrames?: number;
  duration?: number;
  seed: number;
  loop?: boolean;
  camera: string;
  show?: boolean;
  threads?: number;
  conf: number;
  iou: number;
  failThreshold: number;
  uncertain?: { low: number; high: number };
  motionGate: boolean;
}

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** One line of live numbers for a person. */
export function formatSummary(stats: PipelineStats): string {
  const frames = stats.processedFrames + stats.skippedFrames;
  const defectRate = frames > 0 ? (100 * stats.failedFrames) / frames : 0;
  const uncertainRate = frames > 0 ? (100 * stats.uncertainFrames) / frames : 0;
  return (
    `${stats.camera} | camera ${fmt(stats.cameraFps)} fps | detect ${fmt(stats.processFps)} fps | ` +
    `skipped ${fmt(stats.skippedFps)} fps | inference p50 ${fmt(stats.inferenceMsP50)} ms ` +
    `p99 ${fmt(stats.inferenceMsP99)} ms | end-to-end p50 ${fmt(stats.totalMsP50, 0)} ms | ` +
    `defects ${fmt(defectRate)}% | uncertain ${fmt(uncertainRate)}% | dropped ${stats.droppedFrames} | ` +
    `frames ${frames}`
  );
}

export function registerDetectCommands(program: Command): void {
  program
    .command('detect')
    .description(
      'Run detection on a source without a server; prints JSON lines, or a live summary with --show.',
    )
    .option(
      '-m, --model <path>',
      'ONNX model (default: $VISIONLOOP_MODEL, else the shipped seed model)',
    )
    .option(
      '-s, --source <spec>',
      'synth:<scenario>, an image folder, a video file, rtsp://… or /dev/videoN',
      'synth:nominal',
    )
    .option(
      '--fps <n>',
      'pace the source at this rate, dropping frames when detection falls behind (default: read as fast as frames are processed; cameras run at their own rate)',
      parseNumberInRange(0.1, 1000),
    )
    .option(
      '--max-frames <n>',
      'stop after this many frames',
      parseIntegerInRange(1, Number.MAX_SAFE_INTEGER),
    )
    .option('--duration <seconds>', 'stop after this many seconds', parseNumberInRange(0.1, 1e9))
    .option('--seed <n>', 'seed of the synthetic line', parseIntegerInRange(0, 2 ** 31 - 1), 1)
    .option('--loop', 'loop a video file or image folder forever')
    .option('--camera <name>', 'camera name carried by every result', 'camera-1')
    .option('--show', 'show a live summary on stderr instead of printing JSON lines')
    .option(
      '--threads <n>',
      'ONNX Runtime threads (default: $VISIONLOOP_THREADS, else one per core but one)',
      parseIntegerInRange(0, 256),
    )
    .option(
      '--conf <x>',
      'lowest detection confidence kept',
      parseNumberInRange(0, 1),
      DEFAULT_DETECT_OPTIONS.confThreshold,
    )
    .option(
      '--iou <x>',
      'IoU above which NMS suppresses a box',
      parseNumberInRange(0, 1),
      DEFAULT_DETECT_OPTIONS.iouThreshold,
    )
    .option(
      '--fail-threshold <x>',
      'confidence at which a defect fails the frame',
      parseNumberInRange(0, 1),
      DEFAULT_DECISION_POLICY.failThreshold,
    )
    .option(
      '--uncertain <low,high>',
      'confidence band that flags a detection as uncertain, exclusive (default: 0.4,0.7)',
      parseBand,
    )
    .option('--no-motion-gate', 'detect every frame, even when nothing moves')
    .action(runDetectCommand);
}

/** Runs detection with the given flags until the source ends, --duration passes or Ctrl-C. */
export async function runDetectCommand(flags: DetectFlags): Promise<void> {
  const band = flags.uncertain ?? DEFAULT_UNCERTAIN_BAND;
  const config = loadRuntimeConfig();
  const effective =
    flags.threads === undefined ? config : { ...config, VISIONLOOP_THREADS: flags.threads };
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = flags.duration ? setTimeout(stop, flags.duration * 1000) : null;
  const run = await startDetect({
    modelPath: resolveModelPath(flags.model, config),
    source: flags.source,
    config: effective,
    fps: flags.fps,
    maxFrames: flags.maxFrames,
    seed: flags.seed,
    loop: flags.loop,
    signal: controller.signal,
    pipeline: {
      camera: flags.camera,
      detect: { ...DEFAULT_DETECT_OPTIONS, confThreshold: flags.conf, iouThreshold: flags.iou },
      decision: { ...DEFAULT_DECISION_POLICY, failThreshold: flags.failThreshold },
      uncertainBand: band,
      motion: { ...DEFAULT_MOTION_GATE, enabled: flags.motionGate },
    },
    onResult: (result) => {
      if (!flags.show) process.stdout.write(`${JSON.stringify(result)}\n`);
    },
  });
  process.stderr.write(
    `model ${run.model.version} (${run.model.layout}, ${run.model.inputWidth}×${run.model.inputHeight}) on ${run.sourceDescription}\n`,
  );
  let ticker: NodeJS.Timeout | null = null;
  if (flags.show) {
    const interactive = process.stderr.isTTY === true;
    ticker = setInterval(
      () => {
        const line = formatSummary(run.stats());
        process.stderr.write(interactive ? `\r\x1b[2K${line}` : `${line}\n`);
      },
      interactive ? 500 : 5_000,
    );
  }
  try {
    const stats = await run.done;
    if (flags.show && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${formatSummary(stats)}\n`);
  } finally {
    if (ticker) clearInterval(ticker);
    if (timer) clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
