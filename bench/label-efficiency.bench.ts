/**
 * Label efficiency of the labeling queue (issues 5 and 17): from the seed model, fine-tune on
 * the N frames the queue would hand reviewers first against N random frames (several seeds),
 * with the same training budget and the retraining job's nominal replay, and compare mAP@0.5
 * on the drift's fixed test set (the seed recipe's) and on nominal. Reported either way.
 *
 *   npx tsx bench/label-efficiency.bench.ts [--presets glare,night,nominal] [--sizes 50,100,200]
 *       [--pool 1500] [--epochs 12] [--random-seeds 7,8,9] [--arms queue] [--selection-seeds 0]
 *       [--whole-pool]
 *       [--out bench/results/label-efficiency.json] [--work data/bench/label-efficiency]
 *
 * Per drift preset (`glare`: partial, `night`: total, `nominal`: a new day of the same line):
 * 1. A pool of frames with exact ground truth (the synthetic line), distinct from the test set.
 * 2. The seed model runs over every pool frame through the real ONNX detector with class
 *    scores, keeping candidates down to `--candidate-threshold` (0.05; the product's cut is
 *    0.25): what the sampler sees below the threshold. Each frame gets its embedding
 *    (frame-embedding.ts: 16×12 thumbnail + light), as the agent computes it.
 * 3. Arms (src/agent/sampling/selection.ts):
 *    - `queue` — the shipped default: PPAL's two stages, the 3·N frames of highest candidate
 *      uncertainty (least confidence, noisy-or over candidates) then k-means++ over their
 *      embeddings (seeded);
 *    - `uncertainty` — the top N by candidate uncertainty alone;
 *    - `kcenter` — k-center greedy from the replayed nominal frames, by embedding;
 *    - `typical` — TypiClust: 2N k-medoids clusters of the embeddings, the most typical frame
 *      of each of the N largest (no model signal needed);
 *    - `tiers` — the previous queue order (reason tier + informativeness of detections ≥ 0.25);
 *    - `random` — seeded random N, one run per `--random-seeds` (may be empty).
 *    Seeded arms (`queue`, `typical`) run once per `--selection-seeds`, named `queue-q1` etc.
 *    when there are several.
 * 4. Each set, plus a seeded sample of as many nominal frames from the seed's training
 *    distribution (the retraining job's `replayRatio` 1), fine-tunes the seed weights with the
 *    same epochs, image size, batch, rate and trainer seed; mAP@0.5 on the drift's test set and
 *    on nominal through the product's evaluation.
 * 5. With `--whole-pool`, the whole pool (plus replay) gives the reference mAP, and each arm's
 *    "N at 95%" is the smallest N reaching 95% of it.
 * Results are written to `--out` after every run (so a cut-short run still reports), and one
 * JSON object is printed on stdout at the end. Progress on stderr. CPU-heavy: every run is a
 * fine-tune.
 */
import { copyFile, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { OnnxDetector } from '../src/inference/onnx-detector.js';
import { embedFrame, novelty, type FrameEmbedding } from '../src/agent/sampling/frame-embedding.js';
import {
  frameInformativeness,
  inBand,
  samplingPriority,
} from '../src/agent/sampling/frame-sampler.js';
import {
  candidateUncertainty,
  kCenterGreedy,
  twoStageSelect,
  typicalSelect,
} from '../src/agent/sampling/selection.js';
import { loadRuntimeConfig } from '../src/config/runtime.config.js';
import {
  ensureSynthDataset,
  SEED_MODEL_DIR,
  SEED_RECIPE,
  seedTestMap50,
  type SeedTestPreset,
} from '../src/main/train.main.js';
import { findPython, runTrainer } from '../src/repositories/trainer-process.js';
import { YoloDatasetRepository } from '../src/repositories/yolo-dataset.repository.js';
import type { YoloImage } from '../src/repositories/yolo-dataset.repository.js';
import { DEFAULT_RETRAINING_SETTINGS } from '../src/shared/api/retraining.js';
import { DEFAULT_SAMPLING_SETTINGS } from '../src/shared/api/sampling.js';
import { SYNTH_CLASSES } from '../src/shared/domain.js';
import { Rng } from '../src/synth/rng.js';

const { values } = parseArgs({
  options: {
    'seed-model': { type: 'string', default: SEED_MODEL_DIR },
    work: { type: 'string', default: 'data/bench/label-efficiency' },
    out: { type: 'string', default: 'bench/results/label-efficiency.json' },
    presets: { type: 'string', default: 'glare,night,nominal' },
    pool: { type: 'string', default: '1500' },
    sizes: { type: 'string', default: '50,100,200' },
    epochs: { type: 'string', default: String(DEFAULT_RETRAINING_SETTINGS.epochs) },
    lr: { type: 'string', default: String(DEFAULT_RETRAINING_SETTINGS.lr) },
    arms: { type: 'string', default: 'queue' },
    'random-seeds': { type: 'string', default: '7,8,9' },
    'selection-seeds': { type: 'string', default: '0' },
    'candidate-threshold': { type: 'string', default: '0.05' },
    'pool-factor': { type: 'string', default: '3' },
    'whole-pool': { type: 'boolean', default: false },
    'skip-nominal-eval': { type: 'boolean', default: false },
    'substitute-frames': { type: 'string', default: '600' },
    'substitute-epochs': { type: 'string', default: '15' },
  },
});
const config = loadRuntimeConfig();
const python = findPython(config.VISIONLOOP_PYTHON);
const work = resolve(values.work);
const outFile = resolve(values.out);
const presets = values.presets.split(',') as SeedTestPreset[];
const poolSize = Number(values.pool);
/** A comma-separated list of numbers; empty means none. */
const numbers = (text: string) =>
  text
    .split(',')
    .filter((item) => item !== '')
    .map(Number);
const sizes = numbers(values.sizes);
const epochs = Number(values.epochs);
const lr = Number(values.lr);
const arms = values.arms.split(',').filter((a) => a !== 'random');
const randomSeeds = numbers(values['random-seeds']);
const candidateThreshold = Number(values['candidate-threshold']);
const poolFactor = Number(values['pool-factor']);
const IMGSZ = DEFAULT_RETRAINING_SETTINGS.imgsz;
const BATCH = DEFAULT_RETRAINING_SETTINGS.batch;
const TRAINER_SEED = 0;
const POOL_SEED = 300_000;
const REPLAY_SEED = 1;
const selectionSeeds = numbers(values['selection-seeds']);
/** An arm's name in the report: with several selection seeds, `queue-q1` etc. */
const armLabels = arms.flatMap((arm) =>
  selectionSeeds.map((s) => ({
    arm,
    seed: s,
    label: selectionSeeds.length > 1 ? `${arm}-q${s}` : arm,
  })),
);
const CONF_THRESHOLD = 0.25;
const replayRatio = DEFAULT_RETRAINING_SETTINGS.replayRatio;
const band = DEFAULT_SAMPLING_SETTINGS.strategies.uncertainty;
const log = (message: string) => process.stderr.write(`[label-efficiency] ${message}\n`);
const round = (value: number) => Math.round(value * 1000) / 1000;
const started = Date.now();

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null)) !== null;
}

/** The seed model, or a substitute trained from scratch on a small nominal set. */
async function seedModel(): Promise<{ dir: string; substitute: boolean; note: string }> {
  const dir = resolve(values['seed-model']);
  if ((await exists(join(dir, 'model.onnx'))) && (await exists(join(dir, 'weights.pt')))) {
    return { dir, substitute: false, note: `the seed model at ${dir}` };
  }
  const frames = Number(values['substitute-frames']);
  const subEpochs = Number(values['substitute-epochs']);
  const subDir = join(work, `substitute-seed-${frames}x${subEpochs}`);
  const note =
    `no seed model at ${dir}: a substitute trained from scratch on ${frames} nominal frames, ` +
    `${subEpochs} epochs at ${IMGSZ} (visionloop's trainer, model n)`;
  if (!(await exists(join(subDir, 'model.onnx')))) {
    log(note);
    const data = join(work, `nominal-${frames}`);
    await ensureSynthDataset(data, {
      presets: 'nominal',
      count: frames,
      seed: 1,
      valFraction: 0.1,
    });
    await runTrainer(
      python,
      {
        data,
        out: subDir,
        epochs: subEpochs,
        imgsz: IMGSZ,
        batch: BATCH,
        seed: 0,
        version: 'substitute-seed',
        extraArgs: ['--model', 'n'],
      },
      {
        onEvent: (event) => {
          if (event.event === 'epoch') {
            log(
              `substitute: epoch ${String(event.epoch)}/${String(event.epochs)} loss ${Number(event.loss).toFixed(3)}`,
            );
          }
        },
      },
    );
  }
  return { dir: subDir, substitute: true, note };
}

interface ScoredFrame {
  index: number;
  image: YoloImage;
  /** The previous queue order's priority (tier + informativeness of detections ≥ 0.25). */
  tierPriority: number;
  /** Candidate uncertainty, least confidence (noisy-or over candidates ≥ the candidate cut). */
  uncertainty: number;
  embedding: FrameEmbedding;
  inBand: boolean;
  detections: number;
  candidates: number;
}

/** Runs the model over the pool: candidates below the cut, embeddings, the old priority. */
async function scorePool(modelPath: string, images: readonly YoloImage[]): Promise<ScoredFrame[]> {
  const reader = new YoloDatasetRepository();
  const detector = new OnnxDetector({ threads: 2 });
  await detector.load(modelPath);
  try {
    const scored: ScoredFrame[] = [];
    for (const [index, image] of images.entries()) {
      const pixels = await reader.loadImage(image.imagePath);
      const { detections: candidates } = await detector.detect(pixels, {
        confThreshold: candidateThreshold,
        classScores: true,
      });
      const detections = candidates.filter((d) => d.confidence >= CONF_THRESHOLD);
      const uncertain = detections.some((d) => inBand(d, band.low, band.high));
      const reasons = uncertain ? ['low_confidence'] : ['random'];
      scored.push({
        index,
        image,
        tierPriority: samplingPriority(reasons, frameInformativeness(detections).score),
        uncertainty: candidateUncertainty(candidates).leastConfidence,
        embedding: embedFrame(pixels),
        inBand: uncertain,
        detections: detections.length,
        candidates: candidates.length,
      });
      if ((index + 1) % 250 === 0) log(`scored ${index + 1}/${images.length} pool frames`);
    }
    return scored;
  } finally {
    await detector.dispose();
  }
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const order = [...items];
  const rng = new Rng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i] as T;
    order[i] = order[j] as T;
    order[j] = t;
  }
  return order;
}

/** The arm's N frames. */
function select(
  arm: string,
  frames: readonly ScoredFrame[],
  n: number,
  replayEmbeddings: readonly FrameEmbedding[],
  selectionSeed: number,
): ScoredFrame[] {
  switch (arm) {
    case 'queue': {
      const rng = new Rng(selectionSeed);
      return twoStageSelect(frames, n, novelty, () => rng.next(), poolFactor).map(
        (i) => frames[i] as ScoredFrame,
      );
    }
    case 'uncertainty':
      return [...frames]
        .sort((a, b) => b.uncertainty - a.uncertainty || a.index - b.index)
        .slice(0, n);
    case 'kcenter':
      return kCenterGreedy(
        frames.map((f) => f.embedding),
        n,
        novelty,
        { covered: replayEmbeddings },
      ).map((p) => frames[p.index] as ScoredFrame);
    case 'typical': {
      const rng = new Rng(selectionSeed);
      return typicalSelect(
        frames.map((f) => f.embedding),
        n,
        novelty,
        () => rng.next(),
      ).map((i) => frames[i] as ScoredFrame);
    }
    case 'tiers':
      return [...frames]
        .sort((a, b) => b.tierPriority - a.tierPriority || a.index - b.index)
        .slice(0, n);
    default:
      throw new Error(`unknown arm ${arm}`);
  }
}

function describeSelection(frames: readonly ScoredFrame[]) {
  const perClass = Object.fromEntries(SYNTH_CLASSES.map((name) => [name, 0]));
  let objects = 0;
  for (const frame of frames) {
    for (const object of frame.image.objects) {
      const name = SYNTH_CLASSES[object.classId] ?? String(object.classId);
      perClass[name] = (perClass[name] ?? 0) + 1;
      objects++;
    }
  }
  return {
    frames: frames.length,
    objects,
    framesWithoutDefects: frames.filter((f) => f.image.objects.length === 0).length,
    framesWithInBandDetection: frames.filter((f) => f.inBand).length,
    framesWithCandidates: frames.filter((f) => f.candidates > 0).length,
    meanUncertainty: round(
      frames.reduce((s, f) => s + f.uncertainty, 0) / Math.max(1, frames.length),
    ),
    objectsPerClass: perClass,
  };
}

/** A YOLO training set of the chosen frames plus the replayed ones, "labelled" with their ground truth. */
async function buildTrainingSet(
  name: string,
  frames: readonly ScoredFrame[],
  replay: readonly YoloImage[],
): Promise<string> {
  const dir = join(work, `set-${name}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'images', 'train'), { recursive: true });
  await mkdir(join(dir, 'labels', 'train'), { recursive: true });
  const images = [
    ...frames.map((f) => ({ image: f.image, prefix: 'new-' })),
    ...replay.map((image) => ({ image, prefix: 'replay-' })),
  ];
  for (const { image, prefix } of images) {
    const file = basename(image.imagePath);
    const stem = basename(file, extname(file));
    await symlink(image.imagePath, join(dir, 'images', 'train', `${prefix}${file}`));
    await copyFile(image.labelPath, join(dir, 'labels', 'train', `${prefix}${stem}.txt`));
  }
  await writeFile(
    join(dir, 'data.yaml'),
    YAML.stringify({
      path: dir,
      train: 'images/train',
      nc: SYNTH_CLASSES.length,
      names: new Map(SYNTH_CLASSES.map((n, i) => [i, n])),
    }),
  );
  return dir;
}

async function fineTune(name: string, data: string, seedDir: string, preset: SeedTestPreset) {
  const out = join(work, `run-${name}`);
  await rm(out, { recursive: true, force: true });
  const begun = Date.now();
  const done = await runTrainer(
    python,
    {
      data,
      out,
      base: join(seedDir, 'weights.pt'),
      epochs,
      imgsz: IMGSZ,
      batch: BATCH,
      seed: TRAINER_SEED,
      lr,
      extraArgs: ['--val-interval', '0'],
    },
    {
      onEvent: (event) => {
        if (event.event === 'epoch') {
          log(
            `${name}: epoch ${String(event.epoch)}/${String(event.epochs)} loss ${Number(event.loss).toFixed(3)}`,
          );
        }
      },
    },
  );
  const drift = await seedTestMap50(config, done.model, work, preset);
  const nominal =
    preset === 'nominal' || values['skip-nominal-eval']
      ? null
      : await seedTestMap50(config, done.model, work, 'nominal');
  log(`${name}: ${preset} mAP50 ${drift.toFixed(3)}, nominal ${nominal?.toFixed(3) ?? '-'}`);
  return {
    map50: round(drift),
    map50Nominal: nominal === null ? null : round(nominal),
    trainSeconds: Math.round((Date.now() - begun) / 1000),
  };
}

interface ArmRun {
  arm: string;
  seed?: number;
  selection: ReturnType<typeof describeSelection>;
  map50: number;
  map50Nominal: number | null;
  trainSeconds: number;
}

const seed = await seedModel();
const seedOnnx = join(seed.dir, 'model.onnx');

// The nominal replay source: frames of the seed's training distribution (the seed recipe's
// data seed), sampled per N with one seed, the same for every arm.
const replayDir = join(work, 'replay-nominal-400');
await ensureSynthDataset(replayDir, {
  presets: 'nominal',
  count: 400,
  seed: SEED_RECIPE.dataSeed,
  valFraction: 0,
});
const replayPool = (await new YoloDatasetRepository().loadSplit(replayDir, 'train')).images;
const replayReader = new YoloDatasetRepository();
const replayEmbeddings: FrameEmbedding[] = [];
for (const image of replayPool)
  replayEmbeddings.push(embedFrame(await replayReader.loadImage(image.imagePath)));

const report: Record<string, unknown> = {
  bench: 'label-efficiency',
  seedModel: { note: seed.note, substitute: seed.substitute },
  budget: {
    epochs,
    lr,
    imgsz: IMGSZ,
    batch: BATCH,
    trainerSeed: TRAINER_SEED,
    base: 'seed weights.pt',
    replayRatio,
  },
  selection: {
    candidateThreshold,
    confThreshold: CONF_THRESHOLD,
    poolFactor,
    selectionSeeds,
    queue:
      'two stages (src/agent/sampling/selection.ts twoStageSelect): top poolFactor·N by candidate uncertainty (least confidence), then k-means++ over frame embeddings',
  },
  testSets: { frames: SEED_RECIPE.testFrames, seeds: 'seed recipe test sets' },
  presets: {},
};
const presetReports = report.presets as Record<
  string,
  {
    seedMap50: number;
    seedMap50Nominal: number;
    pool: Record<string, unknown>;
    wholePool: { map50: number; map50Nominal: number | null } | null;
    results: {
      n: number;
      arms: ArmRun[];
      random: ArmRun[];
      randomMean: number;
      randomSpread: { min: number; max: number; std: number };
      deltas: Record<string, number>;
      beatsRandomBeyondSpread: Record<string, boolean>;
    }[];
  }
>;

async function save(): Promise<void> {
  await mkdir(dirname(outFile), { recursive: true });
  report.seconds = Math.round((Date.now() - started) / 1000);
  await writeFile(outFile, JSON.stringify(report, null, 2));
}

const seedNominal = round(await seedTestMap50(config, seedOnnx, work, 'nominal'));
const pools = new Map<SeedTestPreset, ScoredFrame[]>();
for (const [p, preset] of presets.entries()) {
  const poolDir = join(work, `pool-${preset}-${poolSize}`);
  log(`rendering ${poolSize} ${preset} frames`);
  await ensureSynthDataset(poolDir, {
    presets: preset,
    count: poolSize,
    seed: POOL_SEED + 10_000 * p,
    valFraction: 0,
  });
  const pool = (await new YoloDatasetRepository().loadSplit(poolDir, 'train')).images;
  const scored = await scorePool(seedOnnx, pool);
  pools.set(preset, scored);
  const seedMap = round(await seedTestMap50(config, seedOnnx, work, preset));
  log(`seed: ${preset} mAP50 ${seedMap}`);
  presetReports[preset] = {
    seedMap50: seedMap,
    seedMap50Nominal: seedNominal,
    pool: {
      frames: scored.length,
      seed: POOL_SEED + 10_000 * p,
      framesWithoutDefects: scored.filter((f) => f.image.objects.length === 0).length,
      framesWithDetections: scored.filter((f) => f.detections > 0).length,
      framesWithInBandDetection: scored.filter((f) => f.inBand).length,
      framesWithCandidates: scored.filter((f) => f.candidates > 0).length,
    },
    wholePool: null,
    results: [],
  };
}
await save();

function replayFor(n: number): YoloImage[] {
  return shuffled(replayPool, REPLAY_SEED).slice(0, Math.round(replayRatio * n));
}

for (const n of sizes) {
  for (const preset of presets) {
    const frames = pools.get(preset) as ScoredFrame[];
    const replay = replayFor(n);
    const runArm = async (arm: string, pick: ScoredFrame[], seedNo?: number): Promise<ArmRun> => {
      const name = `${preset}-${arm}-${n}${seedNo === undefined ? '' : `-s${seedNo}`}`;
      log(`${name}: fine-tune on ${pick.length} + ${replay.length} replayed`);
      const run = await fineTune(
        name,
        await buildTrainingSet(name, pick, replay),
        seed.dir,
        preset,
      );
      return {
        arm,
        ...(seedNo === undefined ? {} : { seed: seedNo }),
        selection: describeSelection(pick),
        ...run,
      };
    };
    const entry = {
      n,
      arms: [] as ArmRun[],
      random: [] as ArmRun[],
      randomMean: 0,
      randomSpread: { min: 0, max: 0, std: 0 },
      deltas: {} as Record<string, number>,
      beatsRandomBeyondSpread: {} as Record<string, boolean>,
    };
    presetReports[preset]!.results.push(entry);
    const update = () => {
      const maps = entry.random.map((r) => r.map50);
      if (maps.length === 0) return;
      const mean = maps.reduce((s, v) => s + v, 0) / maps.length;
      const std = Math.sqrt(maps.reduce((s, v) => s + (v - mean) ** 2, 0) / maps.length);
      const min = Math.min(...maps);
      const max = Math.max(...maps);
      entry.randomMean = round(mean);
      entry.randomSpread = { min, max, std: round(std) };
      for (const run of entry.arms) {
        entry.deltas[run.arm] = round(run.map50 - mean);
        // "Beats random by more than the random runs' spread": above the best random run.
        entry.beatsRandomBeyondSpread[run.arm] = run.map50 > max;
      }
    };
    for (const { arm, seed: selectionSeed, label } of armLabels) {
      entry.arms.push(await runArm(label, select(arm, frames, n, replayEmbeddings, selectionSeed)));
      update();
      await save();
    }
    for (const randomSeed of randomSeeds) {
      entry.random.push(
        await runArm('random', shuffled(frames, randomSeed).slice(0, n), randomSeed),
      );
      update();
      await save();
    }
  }
}

if (values['whole-pool']) {
  for (const preset of presets) {
    const frames = pools.get(preset) as ScoredFrame[];
    const replay = shuffled(replayPool, REPLAY_SEED).slice(
      0,
      Math.round(replayRatio * frames.length),
    );
    const name = `${preset}-whole-pool`;
    const run = await fineTune(
      name,
      await buildTrainingSet(name, frames, replay),
      seed.dir,
      preset,
    );
    const entry = presetReports[preset]!;
    entry.wholePool = { map50: run.map50, map50Nominal: run.map50Nominal };
    const target = 0.95 * run.map50;
    const firstN = (maps: { n: number; map50: number }[]) =>
      maps.find((m) => m.map50 >= target)?.n ?? null;
    (entry as Record<string, unknown>).nAt95 = {
      target: round(target),
      ...Object.fromEntries(
        armLabels.map(({ label: arm }) => [
          arm,
          firstN(
            entry.results.map((r) => ({
              n: r.n,
              map50: r.arms.find((a) => a.arm === arm)?.map50 ?? 0,
            })),
          ),
        ]),
      ),
      random: firstN(entry.results.map((r) => ({ n: r.n, map50: r.randomMean }))),
    };
    await save();
  }
}

await save();
console.log(JSON.stringify(report));
