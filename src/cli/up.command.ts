/**
 * `visionloop up` — what `npm start` runs. Today: the synthetic camera through the seed model
 * with a live summary. The server, worker and dashboard join it as their issues land.
 */
import type { Command } from 'commander';
import { DEFAULT_DECISION_POLICY, DEFAULT_UNCERTAIN_BAND } from '../vision/decision.js';
import { DEFAULT_DETECT_OPTIONS } from '../vision/detector.js';
import { runDetectCommand } from './detect.command.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

interface UpFlags {
  scenario: string;
  model?: string;
  fps: number;
  seed: number;
  duration?: number;
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description(
      'Run VisionLoop on this machine: the synthetic camera through the production model, with live numbers.',
    )
    .option(
      '--scenario <spec>',
      'synthetic-line scenario (a preset, a named scenario, or a timeline like nominal:120,night)',
      'drift-demo',
    )
    .option(
      '-m, --model <path>',
      'ONNX model (default: $VISIONLOOP_MODEL, else the shipped seed model)',
    )
    .option('--fps <n>', 'camera frame rate', parseNumberInRange(0.1, 120), 15)
    .option('--seed <n>', 'seed of the synthetic line', parseIntegerInRange(0, 2 ** 31 - 1), 1)
    .option(
      '--duration <seconds>',
      'stop after this many seconds (default: until Ctrl-C)',
      parseNumberInRange(0.1, 1e9),
    )
    .action(async (flags: UpFlags) => {
      await runDetectCommand({
        model: flags.model,
        source: `synth:${flags.scenario}`,
        fps: flags.fps,
        seed: flags.seed,
        duration: flags.duration,
        camera: 'synth-line-1',
        show: true,
        conf: DEFAULT_DETECT_OPTIONS.confThreshold,
        iou: DEFAULT_DETECT_OPTIONS.iouThreshold,
        failThreshold: DEFAULT_DECISION_POLICY.failThreshold,
        uncertain: DEFAULT_UNCERTAIN_BAND,
        motionGate: true,
      });
    });
}
