/**
 * `visionloop eval`: detection quality with COCO's rules.
 *   visionloop eval --model M --data DIR [--split val] [--threshold 0.5] [--json]
 *     runs model M over a YOLO dataset through the runtime that serves;
 *   visionloop eval --predictions P.json --data D [--threshold 0.5] [--json]
 *     scores detections made by any system (COCO results format) against a COCO annotations
 *     file or a YOLO dataset.
 * Prints a per-class table and a confusion summary, or the report as JSON on stdout; progress
 * and warnings go to stderr. The concrete detector comes from the composition root (deps), never
 * from src/agent directly.
 */
import { Option, type Command } from 'commander';
import {
  DATASET_SPLITS,
  DEFAULT_SERVING_THRESHOLD,
  type DatasetSplit,
  type Detector,
  type EvaluationReport,
  type EvaluationService,
  type ModelEvaluationReport,
  type PredictionsEvaluationReport,
} from '../main/evaluation.main.js';
import { formatTable, ProgressDisplay } from './output.js';
import { parseNumberInRange } from './parse-options.js';

export interface EvalCommandDeps {
  evaluation: EvaluationService;
  /** A new, unloaded detector (src/main passes the ONNX Runtime one). */
  createDetector: () => Detector;
  /** Output streams; the process's by default. */
  stdout?: { write(text: string): unknown };
  stderr?: NodeJS.WriteStream;
}

export interface EvalFlags {
  model?: string;
  predictions?: string;
  data: string;
  split: DatasetSplit;
  threshold: number;
  json?: boolean;
}

function fmt(value: number): string {
  return value < 0 || !Number.isFinite(value) ? '-' : value.toFixed(3);
}

/** The report as people read it: a per-class table, COCO's other APs, the confusion matrix. */
export function formatEvaluation(report: EvaluationReport): string {
  const rows: (string | number)[][] = [
    [
      'all',
      fmt(report.map50),
      fmt(report.map50_95),
      fmt(report.precision),
      fmt(report.recall),
      report.gtCount,
      report.predCount,
    ],
    ...report.perClass.map((c) => [
      c.className,
      fmt(c.ap50),
      fmt(c.ap50_95),
      fmt(c.precision),
      fmt(c.recall),
      c.gtCount,
      c.predCount,
    ]),
  ];
  const threshold = report.servingThreshold;
  const { labels, matrix } = report.confusion;
  const confusion = formatTable(
    ['actual \\ predicted', ...labels],
    matrix.map((row, i) => [labels[i] ?? '', ...row]),
  );
  return [
    formatTable(['class', 'AP50', 'AP50-95', 'P', 'R', 'GT', 'preds'], rows),
    '',
    `mAP@0.75 ${fmt(report.map75)}   small ${fmt(report.mapSmall)}   medium ${fmt(report.mapMedium)}   ` +
      `large ${fmt(report.mapLarge)}   (COCO rules; "-": no objects)`,
    `P and R at score ≥ ${threshold} and IoU 0.5; the "all" row pools every class.`,
    '',
    `Confusion at score ≥ ${threshold} and IoU 0.5 (rows: actual, columns: predicted):`,
    confusion,
  ].join('\n');
}

function headline(report: ModelEvaluationReport | PredictionsEvaluationReport): string {
  const counts = `${report.images} images, ${report.gtCount} objects, ${report.predCount} predictions`;
  if ('model' in report) {
    return (
      `model ${report.model.path} (version ${report.model.version}) on ` +
      `${report.dataset.root} [${report.dataset.split}]: ${counts}`
    );
  }
  const split = report.data.split ? ` [${report.data.split}]` : '';
  return `predictions ${report.predictions} against ${report.data.path}${split} (${report.data.format}): ${counts}`;
}

/**
 * Runs one evaluation and writes it. Exactly one of `model` and `predictions` must be set
 * (the command checks it before calling).
 */
export async function runEval(flags: EvalFlags, deps: EvalCommandDeps): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  let report: ModelEvaluationReport | PredictionsEvaluationReport;
  if (flags.predictions !== undefined) {
    report = await deps.evaluation.evaluatePredictions(flags.predictions, flags.data, {
      split: flags.split,
      servingThreshold: flags.threshold,
    });
  } else {
    const detector = deps.createDetector();
    const progress = new ProgressDisplay('evaluating', stderr);
    try {
      await detector.load(flags.model ?? '');
      report = await deps.evaluation.evaluateModel(detector, flags.data, {
        split: flags.split,
        servingThreshold: flags.threshold,
        onProgress: (state) => progress.update(state),
      });
    } finally {
      progress.done();
      await detector.dispose();
    }
  }
  for (const warning of report.warnings) stderr.write(`warning: ${warning}\n`);
  if (flags.json) {
    stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  stdout.write(`${headline(report)}\n\n${formatEvaluation(report)}\n`);
}

export function registerEvalCommands(program: Command, deps: EvalCommandDeps): void {
  program
    .command('eval')
    .description(
      'Measure detection quality with COCO rules: mAP@0.5, mAP@0.5:0.95, per-class AP, ' +
        'precision and recall at the serving threshold, and a confusion summary.',
    )
    .addOption(
      new Option('-m, --model <path>', 'ONNX model to run over a YOLO dataset').conflicts(
        'predictions',
      ),
    )
    .addOption(
      new Option(
        '-p, --predictions <file>',
        'COCO results JSON from any system: [{image_id, category_id, bbox: [x, y, w, h], score}]',
      ),
    )
    .requiredOption(
      '-d, --data <path>',
      'YOLO dataset (directory or data.yaml); with --predictions also a COCO annotations .json',
    )
    .addOption(
      new Option('--split <name>', 'split of a YOLO dataset')
        .choices(DATASET_SPLITS)
        .default('val'),
    )
    .option(
      '--threshold <x>',
      'serving threshold: the score at which a detection counts for P, R and the confusion matrix',
      parseNumberInRange(0, 1),
      DEFAULT_SERVING_THRESHOLD,
    )
    .option('--json', 'print the report as JSON on stdout')
    .action(async function (this: Command, flags: EvalFlags) {
      if (flags.model === undefined && flags.predictions === undefined) {
        this.error('error: give --model <path> or --predictions <file>', { exitCode: 2 });
      }
      if (flags.model !== undefined && flags.data.toLowerCase().endsWith('.json')) {
        this.error('error: with --model, --data must be a YOLO dataset (directory or data.yaml)', {
          exitCode: 2,
        });
      }
      await runEval(flags, deps);
    });
}
