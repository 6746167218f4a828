/**
 * Composition root for training from the command line: find the trainer's Python, run the
 * trainer process, then evaluate what it produced through the same ONNX runtime that serves.
 * Also the seed recipe: the synthetic `nominal` data set, the from-scratch training, and the
 * per-preset test sets and model card that ship under models/seed/; and the stage recipes
 * (docs/training-stages.md): crops of the synthetic line → the crop classifier and segmenter
 * that ship under models/seed-classify/ and models/seed-segment/.
 *
 * Over 500 lines on purpose: three recipes (the seed detector, the crop classifier, the crop
 * segmenter) that share one trainer plumbing; a fourth recipe would be the moment to split them.
 */
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuntimeConfig } from '../config/runtime.config.js';
import {
  findPython,
  runTrainer,
  type TrainerDoneEvent,
  type TrainerEvent,
  type TrainRequest,
} from '../repositories/trainer-process.js';
import type { ModelEvaluationReport } from '../services/evaluation.service.js';
import { VisionLoopError } from '../shared/errors.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import {
  datasetFeatures,
  TRAINING_FEATURES_FILE,
  writeTrainingFeatures,
} from '../services/training-reference.js';
import { presetConditions } from '../synth/conditions.js';
import { exportDataset, type ExportSummary } from '../synth/dataset-export.js';
import {
  CROP_CLASSES,
  CROP_PADDING,
  SEVERITY_AREA_PX,
  exportCrops,
  type CropExportSummary,
} from '../synth/crop-export.js';
import { calibrateModelFile, type ModelFileCalibration } from './calibrate.main.js';
import { createEvaluation } from './evaluation.main.js';

export interface TrainingCallbacks {
  onEvent?: (event: TrainerEvent) => void;
  onLog?: (line: string) => void;
  onStage?: (stage: string) => void;
  onEvalProgress?: (state: { current: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface TrainingOutcome {
  done: TrainerDoneEvent;
  modelPath: string;
  weightsPath: string;
  evaluation: ModelEvaluationReport;
  /** The score calibration fitted on the data set's val split and stamped into the model. */
  calibration: ModelFileCalibration;
}

/**
 * `--base` may name weights.pt, a model.onnx with weights.pt beside it, or a directory holding
 * weights.pt (the trainer warm-starts from PyTorch weights, not from ONNX).
 */
export async function resolveBaseWeights(base: string): Promise<string> {
  const path = resolve(base);
  const info = await stat(path).catch(() => null);
  if (!info) throw new VisionLoopError('NOT_FOUND', `--base ${base}: no such file or directory`);
  const candidate = info.isDirectory()
    ? join(path, 'weights.pt')
    : path.endsWith('.onnx')
      ? join(dirname(path), 'weights.pt')
      : path;
  if (!(await stat(candidate).catch(() => null))) {
    throw new VisionLoopError(
      'NOT_FOUND',
      `--base ${base}: no weights.pt at ${candidate} (warm starts need the PyTorch weights the trainer wrote beside model.onnx)`,
    );
  }
  return candidate;
}

/** Trains, then evaluates the new model on the data set's val split. */
export async function trainAndEvaluate(
  config: RuntimeConfig,
  request: TrainRequest,
  callbacks: TrainingCallbacks = {},
): Promise<TrainingOutcome> {
  const python = findPython(config.VISIONLOOP_PYTHON);
  const base = request.base ? await resolveBaseWeights(request.base) : undefined;
  await mkdir(request.out, { recursive: true });
  callbacks.onStage?.('training');
  const done = await runTrainer(
    python,
    { ...request, base },
    { onEvent: callbacks.onEvent, onLog: callbacks.onLog, signal: callbacks.signal },
  );
  // Confidence calibration on the val split, written into model.onnx (docs/calibration.md).
  callbacks.onStage?.('calibrating');
  const calibration = await calibrateModelFile(done.model, request.data, {
    signal: callbacks.signal,
  });
  callbacks.onStage?.('evaluating');
  const evaluation = await evaluateModelFile(config, done.model, request.data, 'val', callbacks);
  return { done, modelPath: done.model, weightsPath: done.weights, evaluation, calibration };
}

export async function evaluateModelFile(
  config: RuntimeConfig,
  modelPath: string,
  data: string,
  split: 'train' | 'val' | 'test',
  callbacks: Pick<TrainingCallbacks, 'onEvalProgress' | 'signal'> = {},
): Promise<ModelEvaluationReport> {
  const { evaluation, createDetector } = createEvaluation(config);
  const detector = createDetector();
  try {
    await detector.load(modelPath);
    return await evaluation.evaluateModel(detector, data, {
      split,
      onProgress: callbacks.onEvalProgress,
      signal: callbacks.signal,
    });
  } finally {
    await detector.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The seed recipe

export const SEED_MODEL_DIR = fileURLToPath(new URL('../../models/seed', import.meta.url));

/** Everything that determines the seed model; changing any value changes the model. */
export const SEED_RECIPE = {
  name: 'seed',
  preset: 'nominal',
  trainFrames: 2000,
  valFraction: 0.1,
  dataSeed: 1,
  trainer: { epochs: 28, imgsz: 320, batch: 16, seed: 0, model: 'n' },
  testFrames: 300,
  testPresets: ['nominal', 'night', 'blur', 'glare', 'new-material'],
  /** Test-set seeds are far from the training seed so no frame repeats. */
  testSeedBase: 100_000,
  version: 'seed-v1',
} as const;

export type SeedRecipe = typeof SEED_RECIPE;

/** A preset of the seed recipe's test sets. */
export type SeedTestPreset = SeedRecipe['testPresets'][number];

/**
 * The seed recipe's test set of `preset` (the model card's seeds), exported once under
 * `workDir` and reused; returns its directory (all frames in the `train` split).
 */
export async function seedRecipeTestSet(
  workDir: string,
  preset: SeedTestPreset,
  recipe: SeedRecipe = SEED_RECIPE,
): Promise<string> {
  const dir = join(workDir, `test-${preset}-${recipe.testFrames}`);
  await ensureSynthDataset(dir, {
    presets: preset,
    count: recipe.testFrames,
    seed: recipe.testSeedBase + recipe.testPresets.indexOf(preset),
    valFraction: 0,
  });
  return dir;
}

/** mAP@0.5 of a model file on the seed recipe's test set of `preset`. */
export async function seedTestMap50(
  config: RuntimeConfig,
  modelPath: string,
  workDir: string,
  preset: SeedTestPreset,
): Promise<number> {
  const testDir = await seedRecipeTestSet(workDir, preset);
  return (await evaluateModelFile(config, modelPath, testDir, 'train')).map50;
}

export interface RecipeResult {
  outDir: string;
  trainingSeconds: number;
  data: ExportSummary;
  perPreset: Record<string, ModelEvaluationReport>;
  done: TrainerDoneEvent;
  /** The score calibration fitted on the recipe's val split (stamped into model.onnx). */
  calibration: ModelFileCalibration;
}

/** Exports a synthetic data set once; reuses it when the same export already exists. */
export async function ensureSynthDataset(
  dir: string,
  options: { presets: string; count: number; seed: number; valFraction: number },
): Promise<ExportSummary> {
  const stampPath = join(dir, 'export.json');
  // The presets' knobs are part of the stamp: a changed preset regenerates its data.
  const wanted = JSON.stringify({
    ...options,
    conditions: options.presets.split(',').map((name) => presetConditions(name.trim())),
  });
  const stamp = await readFile(stampPath, 'utf8').catch(() => null);
  if (stamp !== null) {
    const parsed = JSON.parse(stamp) as { options: string; summary: ExportSummary };
    if (parsed.options === wanted) return parsed.summary;
  }
  const summary = await exportDataset({
    outDir: dir,
    presets: options.presets,
    count: options.count,
    seed: options.seed,
    valFraction: options.valFraction,
    overwrite: true,
  });
  await writeFile(stampPath, JSON.stringify({ options: wanted, summary }, null, 2));
  return summary;
}

/**
 * Reproduces the seed model: nominal data → training from scratch → evaluation on a test set
 * of every preset → model.onnx, weights.pt, metrics.json and MODEL_CARD.md in `outDir`.
 */
export async function runSeedRecipe(
  config: RuntimeConfig,
  options: { outDir: string; workDir: string; recipe?: SeedRecipe },
  callbacks: TrainingCallbacks = {},
): Promise<RecipeResult> {
  const recipe = options.recipe ?? SEED_RECIPE;
  const python = findPython(config.VISIONLOOP_PYTHON);
  const dataDir = join(
    options.workDir,
    `${recipe.preset}-${recipe.trainFrames}-s${recipe.dataSeed}`,
  );
  callbacks.onStage?.(`exporting ${recipe.trainFrames} ${recipe.preset} frames to ${dataDir}`);
  const data = await ensureSynthDataset(dataDir, {
    presets: recipe.preset,
    count: recipe.trainFrames,
    seed: recipe.dataSeed,
    valFraction: recipe.valFraction,
  });
  const runDir = join(options.workDir, 'run');
  const { done, trainingSeconds } = await trainOrReuse(
    python,
    recipe,
    dataDir,
    data,
    runDir,
    callbacks,
  );
  // The seed's confidence calibration on its validation split (docs/calibration.md); a refit of
  // a reused run starts again from the raw scores, so it is the same every time.
  callbacks.onStage?.(`calibrating on the ${data.val} validation frames`);
  const calibration = await calibrateModelFile(done.model, dataDir, { signal: callbacks.signal });
  const perPreset: Record<string, ModelEvaluationReport> = {};
  for (const preset of recipe.testPresets) {
    callbacks.onStage?.(`evaluating on ${preset}`);
    const testDir = await seedRecipeTestSet(options.workDir, preset, recipe);
    perPreset[preset] = await evaluateModelFile(config, done.model, testDir, 'train', callbacks);
  }
  await mkdir(options.outDir, { recursive: true });
  for (const name of ['model.onnx', 'weights.pt']) {
    const target = join(options.outDir, name);
    await copyFile(join(runDir, name), `${target}.tmp`);
    await rename(`${target}.tmp`, target);
  }
  callbacks.onStage?.('computing the training reference for drift');
  const features = await datasetFeatures(new YoloDatasetRepository(), dataDir);
  await writeTrainingFeatures(
    join(options.outDir, TRAINING_FEATURES_FILE),
    recipe.version,
    features,
  );
  const result: RecipeResult = {
    outDir: options.outDir,
    trainingSeconds,
    data,
    perPreset,
    done,
    calibration,
  };
  await writeFile(
    join(options.outDir, 'metrics.json'),
    `${JSON.stringify(recipeMetrics(recipe, result), null, 2)}\n`,
  );
  await writeFile(join(options.outDir, 'MODEL_CARD.md'), modelCard(recipe, result));
  return result;
}

interface FinishedRun {
  /** What the run was trained from: the recipe and the data set's export summary. */
  key: string;
  trainingSeconds: number;
  done: TrainerDoneEvent;
}

/**
 * Trains the recipe's model into `runDir`, or reuses the run already there when it finished
 * with the same recipe on the same data (its `finished.json` says so), so evaluating again
 * (new test sets, a changed preset) does not cost another training. Delete the run directory
 * to force a new training.
 */
async function trainOrReuse(
  python: string,
  recipe: SeedRecipe,
  dataDir: string,
  data: ExportSummary,
  runDir: string,
  callbacks: TrainingCallbacks,
): Promise<{ done: TrainerDoneEvent; trainingSeconds: number }> {
  const key = JSON.stringify({ trainer: recipe.trainer, version: recipe.version, data });
  const finishedPath = join(runDir, 'finished.json');
  const finished = await readFile(finishedPath, 'utf8')
    .then((text) => JSON.parse(text) as FinishedRun)
    .catch(() => null);
  const modelThere = await stat(join(runDir, 'model.onnx')).then(
    () => true,
    () => false,
  );
  if (finished?.key === key && modelThere) {
    callbacks.onStage?.(`reusing the finished training in ${runDir}`);
    return { done: finished.done, trainingSeconds: finished.trainingSeconds };
  }
  await rm(runDir, { recursive: true, force: true });
  callbacks.onStage?.('training from scratch');
  const started = Date.now();
  const done = await runTrainer(
    python,
    {
      data: dataDir,
      out: runDir,
      epochs: recipe.trainer.epochs,
      imgsz: recipe.trainer.imgsz,
      batch: recipe.trainer.batch,
      seed: recipe.trainer.seed,
      version: recipe.version,
      extraArgs: ['--model', recipe.trainer.model],
    },
    { onEvent: callbacks.onEvent, onLog: callbacks.onLog, signal: callbacks.signal },
  );
  const trainingSeconds = (Date.now() - started) / 1000;
  const record: FinishedRun = { key, trainingSeconds, done };
  await writeFile(finishedPath, `${JSON.stringify(record, null, 2)}\n`);
  return { done, trainingSeconds };
}

function recipeMetrics(recipe: SeedRecipe, result: RecipeResult): Record<string, unknown> {
  return {
    version: recipe.version,
    recipe,
    trainingSeconds: Math.round(result.trainingSeconds),
    data: {
      train: result.data.train,
      val: result.data.val,
      objects: result.data.objects,
      perClass: result.data.perClass,
    },
    trainer: result.done.metrics,
    calibration: result.calibration,
    testSets: Object.fromEntries(
      Object.entries(result.perPreset).map(([preset, report]) => [
        preset,
        {
          images: report.images,
          objects: report.gtCount,
          map50: round(report.map50),
          map50_95: round(report.map50_95),
          precision: round(report.precision),
          recall: round(report.recall),
          perClass: Object.fromEntries(report.perClass.map((c) => [c.className, round(c.ap50)])),
        },
      ]),
    ),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function modelCard(recipe: SeedRecipe, result: RecipeResult): string {
  const rows = Object.entries(result.perPreset)
    .map(
      ([preset, r]) =>
        `| ${preset} | ${r.images} | ${r.gtCount} | ${r.map50.toFixed(3)} | ${r.map50_95.toFixed(3)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} |`,
    )
    .join('\n');
  const classes = Object.entries(result.data.perClass)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
  return `# Model card: ${recipe.version}

The detector VisionLoop ships with. Trained by VisionLoop's own trainer (\`trainer/\`), from
scratch, on synthetic \`${recipe.preset}\` frames only — no weights or data from anywhere else.
Reproduce it with:

    npx visionloop train --recipe seed

## Recipe

- Data: ${recipe.trainFrames} frames of the synthetic line at preset \`${recipe.preset}\`, data seed ${recipe.dataSeed},
  ${Math.round(recipe.valFraction * 100)}% held out for validation (${result.data.train} train / ${result.data.val} val images,
  ${result.data.objects} objects: ${classes}).
- Trainer: \`--epochs ${recipe.trainer.epochs} --imgsz ${recipe.trainer.imgsz} --batch ${recipe.trainer.batch} --seed ${recipe.trainer.seed} --model ${recipe.trainer.model}\`
  (AdamW, warm-up + cosine schedule, EMA; see trainer/README.md).
- Output: \`model.onnx\` (YOLOv8 layout, input 1×3×${recipe.trainer.imgsz}×${recipe.trainer.imgsz}, Ultralytics metadata) and
  \`weights.pt\` (for warm starts).
- Training time on the machine that produced this card (2 CPU cores, no GPU): ${formatMinutes(result.trainingSeconds)}.

## Metrics on held-out test sets

${recipe.testFrames} frames per preset, seeds ${recipe.testSeedBase}+i, evaluated by \`visionloop eval\`
(COCO rules, through ONNX Runtime). P and R at confidence ≥ 0.5, IoU 0.5.

| preset | images | objects | mAP@0.5 | mAP@0.5:0.95 | P | R |
|---|---|---|---|---|---|---|
${rows}

The model never saw anything but \`nominal\`: the other rows show what drift costs, which is
what VisionLoop's loop exists to recover (see bench/drift-recovery.bench.ts).
`;
}

function formatMinutes(seconds: number): string {
  return `${Math.round(seconds / 60)} min (${Math.round(seconds)} s)`;
}

// ---------------------------------------------------------------------------------------------
// The stage recipes: the crop classifier and the crop segmenter

export type StageRecipeTask = 'classify' | 'segment';

export const STAGE_MODEL_DIRS: Record<StageRecipeTask, string> = {
  classify: fileURLToPath(new URL('../../models/seed-classify', import.meta.url)),
  segment: fileURLToPath(new URL('../../models/seed-segment', import.meta.url)),
};

/** The crop data both stage recipes train on (`visionloop synth crops` with these flags). */
export const STAGE_CROPS = {
  count: 6000,
  seed: 1,
  presets: 'nominal,night,blur,glare',
  valFraction: 0.2,
  size: 64,
} as const;

/** Everything that determines a shipped stage model; changing any value changes the model. */
export const STAGE_RECIPES = {
  classify: {
    task: 'classify',
    crops: STAGE_CROPS,
    trainer: { epochs: 8, batch: 64, seed: 0, lr: 3e-3 },
    version: 'classify-seed-v1',
  },
  segment: {
    task: 'segment',
    crops: STAGE_CROPS,
    trainer: { epochs: 6, batch: 64, seed: 0, lr: 3e-3 },
    version: 'segment-seed-v1',
  },
} as const;

export type StageRecipe = (typeof STAGE_RECIPES)[StageRecipeTask];

export interface CropDatasetOptions {
  count: number;
  seed: number;
  presets: string;
  valFraction: number;
  size: number;
}

/**
 * What a crop export depends on: its options, the presets' knobs, the severity thresholds, the
 * classes and the padding; a change in any of them regenerates the crops.
 */
export function cropDatasetStamp(options: CropDatasetOptions): string {
  return JSON.stringify({
    ...options,
    conditions: options.presets.split(',').map((name) => presetConditions(name.trim())),
    severity: SEVERITY_AREA_PX,
    classes: CROP_CLASSES,
    padding: CROP_PADDING,
  });
}

/** Exports a crop data set once; reuses it when the same export already exists in `dir`. */
export async function ensureCropDataset(
  dir: string,
  options: CropDatasetOptions,
  onProgress?: (state: { current: number; total: number }) => void,
): Promise<CropExportSummary> {
  const stampPath = join(dir, 'export.json');
  const wanted = cropDatasetStamp(options);
  const stamp = await readFile(stampPath, 'utf8').catch(() => null);
  if (stamp !== null) {
    const parsed = JSON.parse(stamp) as { options: string; summary: CropExportSummary };
    if (parsed.options === wanted) return parsed.summary;
  }
  const summary = await exportCrops({ outDir: dir, ...options, overwrite: true }, (p) =>
    onProgress?.({ current: p.done, total: p.total }),
  );
  await writeFile(stampPath, JSON.stringify({ options: wanted, summary }, null, 2));
  return summary;
}

export interface StageTrainRequest {
  task: StageRecipeTask;
  /** A crop data set (`visionloop synth crops`). */
  data: string;
  out: string;
  base?: string;
  epochs?: number;
  batch?: number;
  seed?: number;
  lr?: number;
  threads?: number;
  version?: string;
}

/** Runs `train-classify` / `train-segment`; resolves with the trainer's `done` event. */
export async function trainStage(
  config: RuntimeConfig,
  request: StageTrainRequest,
  callbacks: TrainingCallbacks = {},
): Promise<TrainerDoneEvent> {
  const python = findPython(config.VISIONLOOP_PYTHON);
  const crops = await stat(join(request.data, 'crops.json')).catch(() => null);
  if (!crops) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `${request.data} holds no crops.json: give a crop data set (write one with \`visionloop synth crops\`)`,
    );
  }
  await mkdir(request.out, { recursive: true });
  callbacks.onStage?.(`training the ${request.task} stage`);
  return runTrainer(
    python,
    {
      subcommand: request.task === 'classify' ? 'train-classify' : 'train-segment',
      data: request.data,
      out: request.out,
      base: request.base,
      epochs: request.epochs,
      batch: request.batch,
      seed: request.seed,
      lr: request.lr,
      threads: request.threads,
      version: request.version,
    },
    { onEvent: callbacks.onEvent, onLog: callbacks.onLog, signal: callbacks.signal },
  );
}

export interface StageRecipeResult {
  outDir: string;
  crops: CropExportSummary;
  done: TrainerDoneEvent;
  /** The trainer's metrics.json (held-out split), as shipped. */
  metrics: Record<string, unknown>;
  trainingSeconds: number;
}

/**
 * Reproduces a shipped stage model: crops of the synthetic line (reused from `workDir` when
 * already exported) → `train-classify` / `train-segment` → model.onnx, metrics.json and
 * README.md in `outDir`.
 */
export async function runStageRecipe(
  config: RuntimeConfig,
  task: StageRecipeTask,
  options: { outDir: string; workDir: string },
  callbacks: TrainingCallbacks = {},
): Promise<StageRecipeResult> {
  const recipe = STAGE_RECIPES[task];
  const c = recipe.crops;
  const cropDir = join(options.workDir, `crops-${c.count}-s${c.seed}-${c.size}`);
  callbacks.onStage?.(`exporting ${c.count} crops to ${cropDir}`);
  const crops = await ensureCropDataset(cropDir, { ...c }, callbacks.onEvalProgress);
  const runDir = join(options.workDir, `run-${task}`);
  await rm(runDir, { recursive: true, force: true });
  const started = Date.now();
  const done = await trainStage(
    config,
    {
      task,
      data: cropDir,
      out: runDir,
      epochs: recipe.trainer.epochs,
      batch: recipe.trainer.batch,
      seed: recipe.trainer.seed,
      lr: recipe.trainer.lr,
      threads: 2,
      version: recipe.version,
    },
    callbacks,
  );
  const trainingSeconds = (Date.now() - started) / 1000;
  const metrics = JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const shipped = {
    version: recipe.version,
    task,
    recipe,
    command: `visionloop train --recipe ${task}`,
    trainingSeconds: Math.round(trainingSeconds),
    ...metrics,
  };
  await mkdir(options.outDir, { recursive: true });
  const target = join(options.outDir, 'model.onnx');
  await copyFile(join(runDir, 'model.onnx'), `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  await writeFile(join(options.outDir, 'metrics.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  await writeFile(join(options.outDir, 'README.md'), stageModelReadme(recipe, crops, shipped));
  return { outDir: options.outDir, crops, done, metrics, trainingSeconds };
}

function pct(value: unknown): string {
  return typeof value === 'number' ? `${(value * 100).toFixed(1)} %` : 'n/a';
}

function num(value: unknown, digits = 2): string {
  return typeof value === 'number' ? value.toFixed(digits) : 'n/a';
}

function stageModelReadme(
  recipe: StageRecipe,
  crops: CropExportSummary,
  metrics: Record<string, unknown>,
): string {
  const c = recipe.crops;
  const val = (metrics.val ?? {}) as Record<string, unknown>;
  const model = (metrics.model ?? {}) as Record<string, unknown>;
  const perClass = (split: CropExportSummary['train']) =>
    Object.entries(split.perClass)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
  let results: string;
  if (recipe.task === 'classify') {
    const classes = (val.per_class ?? {}) as Record<
      string,
      { accuracy?: number; support?: number }
    >;
    const rows = Object.entries(classes)
      .map(([name, r]) => `| ${name} | ${r.support ?? 'n/a'} | ${pct(r.accuracy)} |`)
      .join('\n');
    results = `Accuracy ${pct(val.accuracy)} on ${String(val.crops)} held-out crops; "defect or not" (the veto) right
on ${pct(val.veto_accuracy)}; severity off by at most one class on ${pct(val.within_one_class)}.

| class | crops | accuracy (recall) |
|---|---|---|
${rows}

Confusion matrix (rows truth, columns prediction, order ${CROP_CLASSES.join(', ')}):
\`${JSON.stringify(val.confusion)}\`.`;
  } else {
    const kinds = (val.per_kind ?? {}) as Record<
      string,
      { defect_crops?: number; mean_iou?: number; area_error_pct_median?: number }
    >;
    const rows = Object.entries(kinds)
      .map(
        ([kind, r]) =>
          `| ${kind} | ${r.defect_crops ?? 'n/a'} | ${num(r.mean_iou, 3)} | ${num(r.area_error_pct_median, 1)} % |`,
      )
      .join('\n');
    results = `On ${String(val.defect_crops)} held-out defect crops: mean mask IoU ${num(val.mean_iou, 3)} (median
${num(val.median_iou, 3)}), area error |pred − true| / true median ${num(val.area_error_pct_median, 1)} %, mean
${num(val.area_error_pct_mean, 1)} %, 90th percentile ${num(val.area_error_pct_p90, 1)} %. On ${String(val.empty_crops)} "not a defect"
crops, ${pct(val.empty_false_px_share)} of the pixels are wrongly called defect.

| defect kind | crops | mean IoU | median area error |
|---|---|---|---|
${rows}`;
  }
  const layout =
    recipe.task === 'classify'
      ? `Ultralytics \`-cls\` layout: input \`images\` [N, 3, ${c.size}, ${c.size}] RGB 0..1, output \`output0\` [N, 4]
softmax probabilities over \`${CROP_CLASSES.join(', ')}\` (class id = severity)`
      : `plain per-crop mask: input \`images\` [N, 3, ${c.size}, ${c.size}] RGB 0..1, output \`output0\` [N, 1, ${c.size}, ${c.size}]
sigmoid probabilities (defect at ≥ 0.5)`;
  return `# Stage model: ${recipe.version}

The crop ${recipe.task === 'classify' ? 'classifier' : 'segmenter'} VisionLoop's demo chain runs after the detector
(alias \`${recipe.task}-production\`, registered at startup; docs/training-stages.md). Trained by
VisionLoop's own trainer on crops of the synthetic line only. Reproduce it with:

    npx visionloop train --recipe ${recipe.task}

which runs \`visionloop synth crops --count ${c.count} --seed ${c.seed} --preset ${c.presets} --val-fraction ${c.valFraction} --size ${c.size}\`
and then \`python3 -m visionloop_trainer train-${recipe.task} --epochs ${recipe.trainer.epochs} --batch ${recipe.trainer.batch} --seed ${recipe.trainer.seed} --lr ${recipe.trainer.lr}\`.

- Data: ${crops.train.count} train crops (${perClass(crops.train)}) and ${crops.val.count} held-out crops
  (${perClass(crops.val)}) from ${crops.frames} frames; the split is by frame. Defect crops are the
  ground-truth box jittered ± 8 % per side, padded ${CROP_PADDING * 100} %; severity by the defect's area in frame
  pixels: minor < ${SEVERITY_AREA_PX.major}, major < ${SEVERITY_AREA_PX.critical}, critical ≥ ${SEVERITY_AREA_PX.critical}.
- Model: ${String(model.arch)}, ${String(model.params)} parameters, ${String(model.onnx_bytes)} bytes of ONNX; ${layout}; dynamic
  batch (all crops of a frame in one run). Metadata \`task\`, \`names\`, \`imgsz\`, \`visionloop_version\`.
- Training time on the machine that produced it (2 CPU cores shared with other work): ${String(metrics.trainingSeconds)} s.

## Metrics on the held-out crops

${results}
`;
}

// The trainer's progress events, for `visionloop train` (src/cli imports only main/).
export type { TrainerEvent } from '../repositories/trainer-process.js';
