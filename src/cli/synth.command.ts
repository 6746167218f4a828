/**
 * `visionloop synth export|preview|crops`: the synthetic inspection line from the command line.
 * Parses and validates flags (bad values → VisionLoopError INVALID_ARGUMENT), then calls
 * exportDataset / writePreview / exportCrops of src/synth through main/synth.main.ts; no
 * rendering logic lives here.
 */
import type { Command } from 'commander';
import { VisionLoopError } from '../shared/errors.js';
import {
  NAMED_SCENARIOS,
  PRESET_NAMES,
  exportCrops,
  exportDataset,
  writePreview,
} from '../main/synth.main.js';
import { ProgressDisplay } from './output.js';

interface ExportFlags {
  preset: string;
  count: string;
  out: string;
  seed: string;
  valFraction: string;
  format: string;
  quality: string;
  overwrite?: boolean;
}

interface PreviewFlags {
  preset?: string;
  scenario?: string;
  count: string;
  seed: string;
  out: string;
  scale: string;
  columns?: string;
  interval?: string;
}

interface CropsFlags {
  out: string;
  count: string;
  seed: string;
  preset: string;
  valFraction: string;
  size: string;
  overwrite?: boolean;
}

function invalid(message: string): VisionLoopError {
  return new VisionLoopError('INVALID_ARGUMENT', message);
}

/** An integer flag in [min, max], or INVALID_ARGUMENT naming the flag. */
export function integerFlag(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw invalid(`${flag} must be an integer in ${min}..${max}, got '${value}'`);
  }
  return n;
}

/** A finite number flag in [min, max], or INVALID_ARGUMENT naming the flag. */
export function numberFlag(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw invalid(`${flag} must be a number in ${min}..${max}, got '${value}'`);
  }
  return n;
}

const PRESET_HELP = `preset or comma-separated mix (${PRESET_NAMES.join(', ')})`;
const SCENARIO_HELP = `scenario: a preset, ${Object.keys(NAMED_SCENARIOS)
  .map((name) => `'${name}'`)
  .join(', ')}, or a timeline like 'nominal:120,night:60,glare' (seconds; last lasts forever)`;

async function runExport(flags: ExportFlags): Promise<void> {
  const count = integerFlag(flags.count, '--count', 1, 1_000_000);
  const seed = integerFlag(flags.seed, '--seed', 0, 0xffffffff);
  const valFraction = numberFlag(flags.valFraction, '--val-fraction', 0, 0.99);
  if (flags.format !== 'jpg' && flags.format !== 'png') {
    throw invalid(`--format must be jpg or png, got '${flags.format}'`);
  }
  const quality = integerFlag(flags.quality, '--quality', 1, 100);
  const progress = new ProgressDisplay('synth export');
  try {
    const summary = await exportDataset(
      {
        outDir: flags.out,
        presets: flags.preset,
        count,
        seed,
        valFraction,
        format: flags.format,
        quality,
        overwrite: flags.overwrite === true,
      },
      ({ done, total }) => progress.update({ current: done, total }),
    );
    progress.done();
    const classes = Object.entries(summary.perClass)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
    process.stdout.write(
      `wrote ${summary.train + summary.val} frames (${summary.train} train, ${summary.val} val) ` +
        `with ${summary.objects} defects (${classes}) to ${summary.outDir}\n` +
        `data set: ${summary.dataYaml}\n`,
    );
  } catch (error) {
    progress.done();
    throw error;
  }
}

async function runPreview(flags: PreviewFlags): Promise<void> {
  if (flags.preset !== undefined && flags.scenario !== undefined) {
    throw invalid('give either --preset or --scenario, not both');
  }
  const result = await writePreview(flags.out, {
    preset: flags.preset,
    scenario: flags.scenario,
    count: integerFlag(flags.count, '--count', 1, 256),
    seed: integerFlag(flags.seed, '--seed', 0, 0xffffffff),
    scale: numberFlag(flags.scale, '--scale', 0.1, 2),
    columns:
      flags.columns === undefined ? undefined : integerFlag(flags.columns, '--columns', 1, 64),
    intervalSeconds:
      flags.interval === undefined ? undefined : numberFlag(flags.interval, '--interval', 0, 1e6),
  });
  process.stdout.write(
    `wrote ${result.path} (${result.width}×${result.height}, ${result.frames} frames, ${result.objects} defects)\n`,
  );
}

async function runCrops(flags: CropsFlags): Promise<void> {
  const count = integerFlag(flags.count, '--count', 1, 1_000_000);
  const seed = integerFlag(flags.seed, '--seed', 0, 0xffffffff);
  const valFraction = numberFlag(flags.valFraction, '--val-fraction', 0, 0.99);
  const size = integerFlag(flags.size, '--size', 16, 256);
  const progress = new ProgressDisplay('synth crops');
  try {
    const summary = await exportCrops(
      {
        outDir: flags.out,
        count,
        seed,
        presets: flags.preset,
        valFraction,
        size,
        overwrite: flags.overwrite === true,
      },
      ({ done, total }) => progress.update({ current: done, total }),
    );
    progress.done();
    const classes = (split: typeof summary.train) =>
      Object.entries(split.perClass)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ');
    process.stdout.write(
      `wrote ${summary.train.count + summary.val.count} ${summary.size}×${summary.size} crops from ${summary.frames} frames to ${summary.outDir}\n` +
        `  train ${summary.train.count}: ${classes(summary.train)}\n` +
        `  val ${summary.val.count}: ${classes(summary.val)}\n`,
    );
  } catch (error) {
    progress.done();
    throw error;
  }
}

/** Registers `synth` with its subcommands `export`, `preview` and `crops`. */
export function registerSynthCommands(program: Command): void {
  const synth = program
    .command('synth')
    .description(
      'The built-in synthetic inspection line: 640×480 frames of parts with scratches, cracks, dents and stains, with exact boxes.',
    );

  synth
    .command('export')
    .description(
      'Write a YOLO-format data set (data.yaml, images/, labels/) of independent frames.',
    )
    .requiredOption('--preset <names>', PRESET_HELP)
    .requiredOption('--count <n>', 'number of frames to write')
    .requiredOption(
      '--out <dir>',
      'output directory (created if missing; must not hold a data set)',
    )
    .option('--seed <n>', 'random seed; the same seed writes the same files', '0')
    .option('--val-fraction <f>', 'share of frames in the validation split, 0..0.99', '0.2')
    .option('--format <jpg|png>', 'image format', 'jpg')
    .option('--quality <1-100>', 'JPEG quality', '95')
    .option('--overwrite', 'replace an existing data set in --out (data.yaml, images/, labels/)')
    .action((flags: ExportFlags) => runExport(flags));

  synth
    .command('preview')
    .description('Write a contact sheet PNG of frames with their ground-truth boxes.')
    .requiredOption('--out <file.png>', 'PNG file to write')
    .option('--preset <names>', `${PRESET_HELP}; frames as synth export writes them`)
    .option('--scenario <spec>', `${SCENARIO_HELP}; camera frames over its timeline`)
    .option('--count <n>', 'number of frames, 1..256', '8')
    .option('--seed <n>', 'random seed', '0')
    .option('--scale <f>', 'size of each frame on the sheet, 0.1..2', '0.5')
    .option('--columns <n>', 'frames per row (default: a square-ish grid)')
    .option(
      '--interval <seconds>',
      'seconds between scenario frames (default: spread over the timeline)',
    )
    .action((flags: PreviewFlags) => runPreview(flags));

  synth
    .command('crops')
    .description(
      'Write a crop data set for the classify and segment stages: crops around each defect (severity class, exact mask) and "not a defect" crops.',
    )
    .requiredOption('--out <dir>', 'output directory (created if missing; must not hold crops)')
    .requiredOption('--count <n>', 'number of crops to write')
    .option('--seed <n>', 'random seed; the same seed writes the same files', '0')
    .option('--preset <names>', PRESET_HELP, 'nominal,night,blur,glare')
    .option('--val-fraction <f>', 'share of frames whose crops are held out, 0..0.99', '0.2')
    .option('--size <px>', 'side of the square crops, 16..256', '64')
    .option('--overwrite', 'replace crop files already in --out')
    .action((flags: CropsFlags) => runCrops(flags));
}
