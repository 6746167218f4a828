/**
 * `visionloop train`: runs the PyTorch trainer on a YOLO data set (or the seed recipe), with a
 * progress bar (epoch, loss, ETA), Ctrl-C to cancel, and the evaluation table at the end; with
 * `--stage classify|segment` on a crop data set, or `--recipe classify|segment`, trains the
 * chain's stage models (docs/training-stages.md).
 */
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadRuntimeConfig } from '../config/runtime.config.js';
import {
  runSeedRecipe,
  runStageRecipe,
  SEED_MODEL_DIR,
  SEED_RECIPE,
  STAGE_MODEL_DIRS,
  STAGE_RECIPES,
  trainAndEvaluate,
  trainStage,
  type StageRecipeTask,
  type TrainerEvent,
  type TrainingCallbacks,
} from '../main/train.main.js';
import { formatEvaluation } from './eval.command.js';
import { formatTable, ProgressDisplay } from './output.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

interface TrainFlags {
  data?: string;
  out?: string;
  base?: string;
  recipe?: string;
  stage?: StageRecipeTask;
  modelVersion?: string;
  epochs?: number;
  imgsz?: number;
  batch?: number;
  seed?: number;
  lr?: number;
  threads?: number;
  arch?: string;
  freezeBackbone?: boolean;
  verbose?: boolean;
  workDir?: string;
}

function parseImgsz(value: string): number {
  const size = parseIntegerInRange(32, 2048)(value);
  if (size % 32 !== 0) throw new InvalidArgumentError(`must be a multiple of 32, got ${size}`);
  return size;
}

/** Progress bar fed by trainer events; plain lines when stderr is not a terminal. */
function trainerProgress(): { onEvent: (event: TrainerEvent) => void; done: () => void } {
  const progress = new ProgressDisplay('training');
  return {
    onEvent: (event) => {
      if (event.event !== 'epoch') return;
      const epoch = Number(event.epoch);
      const epochs = Number(event.epochs);
      const loss = Number(event.loss);
      const map =
        typeof event.val_map50 === 'number'
          ? ` val mAP50 ${event.val_map50.toFixed(3)}`
          : typeof event.val_accuracy === 'number'
            ? ` val accuracy ${event.val_accuracy.toFixed(3)}`
            : typeof event.val_mean_iou === 'number'
              ? ` val IoU ${event.val_mean_iou.toFixed(3)}`
              : '';
      progress.update({
        current: epoch,
        total: epochs,
        detail: `epoch ${epoch}/${epochs} loss ${loss.toFixed(3)}${map}`,
      });
    },
    done: () => progress.done(),
  };
}

function cancelOnSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const cancel = () => {
    process.stderr.write('\ncancelling: stopping the trainer…\n');
    controller.abort();
  };
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', cancel);
      process.off('SIGTERM', cancel);
    },
  };
}

async function runTrain(flags: TrainFlags, command: Command): Promise<void> {
  const config = loadRuntimeConfig();
  const verboseLog = flags.verbose
    ? (line: string) => process.stderr.write(`${line}\n`)
    : undefined;
  const { signal, release } = cancelOnSignals();
  const progress = trainerProgress();
  /** The recipes' stages ("exporting …", "training …") each on a line of their own. */
  const recipeCallbacks: TrainingCallbacks = {
    onEvent: progress.onEvent,
    onLog: verboseLog,
    onStage: (stage) => {
      progress.done();
      process.stderr.write(`${stage}\n`);
    },
    signal,
  };
  try {
    if (flags.recipe === 'classify' || flags.recipe === 'segment') {
      const task = flags.recipe;
      const outDir = resolve(flags.out ?? STAGE_MODEL_DIRS[task]);
      const workDir = resolve(
        flags.workDir ?? join(config.VISIONLOOP_DATA_DIR, 'recipes', 'stages'),
      );
      const result = await runStageRecipe(config, task, { outDir, workDir }, recipeCallbacks);
      progress.done();
      process.stdout.write(
        `${task} model written to ${outDir} (trained in ${Math.round(result.trainingSeconds)} s)\n` +
          `${formatStageMetrics(task, result.done.metrics)}\n`,
      );
      return;
    }
    if (flags.stage !== undefined) {
      if (!flags.data || !flags.out) {
        command.error('error: --stage needs --data CROPS_DIR and --out DIR', { exitCode: 2 });
      }
      const done = await trainStage(
        config,
        {
          task: flags.stage,
          data: resolve(flags.data),
          out: resolve(flags.out),
          base: flags.base === undefined ? undefined : resolve(flags.base),
          epochs: flags.epochs,
          batch: flags.batch,
          seed: flags.seed,
          lr: flags.lr,
          threads: flags.threads,
          version: flags.modelVersion,
        },
        { onEvent: progress.onEvent, onLog: verboseLog, signal },
      );
      progress.done();
      process.stdout.write(
        `${flags.stage} model written to ${done.model}, trained in ${Math.round(done.elapsed_s)} s\n` +
          `${formatStageMetrics(flags.stage, done.metrics)}\n`,
      );
      return;
    }
    if (flags.recipe !== undefined) {
      if (flags.recipe !== 'seed')
        command.error(`error: unknown recipe '${flags.recipe}' (known: seed, classify, segment)`, {
          exitCode: 2,
        });
      const outDir = resolve(flags.out ?? SEED_MODEL_DIR);
      const workDir = resolve(flags.workDir ?? join(config.VISIONLOOP_DATA_DIR, 'recipes', 'seed'));
      const result = await runSeedRecipe(config, { outDir, workDir }, recipeCallbacks);
      progress.done();
      const rows = Object.entries(result.perPreset).map(([preset, r]) => [
        preset,
        r.images,
        r.map50.toFixed(3),
        r.map50_95.toFixed(3),
        r.precision.toFixed(3),
        r.recall.toFixed(3),
      ]);
      process.stdout.write(
        `seed model written to ${outDir} (trained in ${Math.round(result.trainingSeconds)} s)\n\n` +
          `${formatTable(['preset', 'images', 'mAP50', 'mAP50-95', 'P', 'R'], rows)}\n`,
      );
      return;
    }
    if (!flags.data || !flags.out) {
      command.error('error: give --data DIR and --out DIR, or --recipe seed', { exitCode: 2 });
    }
    const outcome = await trainAndEvaluate(
      config,
      {
        data: resolve(flags.data),
        out: resolve(flags.out),
        base: flags.base,
        epochs: flags.epochs,
        imgsz: flags.imgsz,
        batch: flags.batch,
        seed: flags.seed,
        lr: flags.lr,
        threads: flags.threads,
        extraArgs: [
          ...(flags.arch ? ['--model', flags.arch] : []),
          ...(flags.freezeBackbone ? ['--freeze-backbone'] : []),
        ],
      },
      {
        onEvent: progress.onEvent,
        onLog: verboseLog,
        onStage: (stage) => {
          progress.done();
          if (stage === 'evaluating') process.stderr.write('evaluating on the val split…\n');
        },
        signal,
      },
    );
    progress.done();
    process.stdout.write(
      `model written to ${outcome.modelPath} (weights ${outcome.weightsPath}), trained in ${Math.round(
        Number(outcome.done.elapsed_s),
      )} s\n\n${formatEvaluation(outcome.evaluation)}\n`,
    );
  } finally {
    progress.done();
    release();
  }
}

/** The held-out metrics of a stage training, one line each. */
export function formatStageMetrics(
  task: StageRecipeTask,
  metrics: Record<string, unknown>,
): string {
  const n = (key: string, digits: number) =>
    typeof metrics[key] === 'number' ? metrics[key].toFixed(digits) : 'n/a';
  if (task === 'classify') {
    const perClass = metrics.per_class as Record<string, number | null> | null | undefined;
    const classes = Object.entries(perClass ?? {})
      .map(([name, value]) => `${name} ${value === null ? 'n/a' : value.toFixed(3)}`)
      .join(', ');
    return `held-out accuracy ${n('accuracy', 3)} (per class: ${classes || 'n/a'})`;
  }
  return `held-out mask IoU ${n('mean_iou', 3)}, area error median ${n('area_error_pct_median', 1)} %, mean ${n('area_error_pct_mean', 1)} %`;
}

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description(
      'Train a detector with the built-in PyTorch trainer on a YOLO data set (or reproduce the seed model with --recipe seed), then evaluate it.',
    )
    .option('-d, --data <dir>', 'YOLO data set: a directory with data.yaml')
    .option(
      '-o, --out <dir>',
      `output directory for model.onnx, weights.pt, metrics.json (--recipe seed: default ${SEED_MODEL_DIR})`,
    )
    .option(
      '-b, --base <path>',
      'warm-start from weights.pt, or a model.onnx / directory with weights.pt beside it',
    )
    .option(
      '--recipe <name>',
      `a built-in recipe: seed (${SEED_RECIPE.trainFrames} nominal frames, ${SEED_RECIPE.trainer.epochs} epochs, from scratch), ` +
        `classify or segment (the chain's stage models on ${STAGE_RECIPES.classify.crops.count} synthetic crops; default --out models/seed-classify, models/seed-segment)`,
    )
    .addOption(
      new Option(
        '--stage <task>',
        'train a chain stage model on a crop data set (--data from `visionloop synth crops`)',
      ).choices(['classify', 'segment']),
    )
    .option('--model-version <name>', 'model version written into the ONNX metadata (--stage)')
    .option(
      '--work-dir <dir>',
      'where the recipe keeps its generated data sets (default: $VISIONLOOP_DATA_DIR/recipes/seed, or …/recipes/stages)',
    )
    .option('--epochs <n>', 'training epochs (trainer default 30)', parseIntegerInRange(1, 10_000))
    .option('--imgsz <n>', 'square network input size, a multiple of 32 (default 320)', parseImgsz)
    .option('--batch <n>', 'batch size (default 16)', parseIntegerInRange(1, 1024))
    .option(
      '--seed <n>',
      'random seed; same seed, same data → same weights (default 0)',
      parseIntegerInRange(0, 2 ** 31 - 1),
    )
    .option(
      '--lr <x>',
      'peak learning rate (default 2e-3 from scratch, 5e-4 with --base)',
      parseNumberInRange(1e-7, 1),
    )
    .option('--threads <n>', 'PyTorch threads (default 2)', parseIntegerInRange(1, 256))
    .addOption(
      new Option('--arch <size>', 'architecture when training from scratch').choices(['n', 's']),
    )
    .option('--freeze-backbone', 'train only the neck and heads (warm starts)')
    .option('-v, --verbose', "show the trainer's log lines")
    .action(async function (this: Command, flags: TrainFlags) {
      await runTrain(flags, this);
    });
}
