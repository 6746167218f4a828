/**
 * The retraining recipe search (issue 15, part B): which warm-start fine-tune brings the seed
 * back on `night` (mAP@0.5 ≥ 0.85, ≤ 0.03 lost on `nominal`) inside the demo's budget on a
 * 2-core machine, at the trainer's demo thread count. Each recipe trains on N `night` frames
 * plus N `nominal` replay frames (the drift experiment's data, docs/drift-experiment.md) and is
 * scored on the seed recipe's 300-frame `night` and `nominal` test sets. The baseline is the
 * seed model, measured in the same run.
 *
 *   npx tsx bench/retraining-recipe.bench.ts \
 *     --recipes "n=200,epochs=10,lr=1e-3;n=100,epochs=6,lr=2e-3,freeze=1" [--threads 1]
 *     [--data DIR]
 *
 * `--data DIR` trains every recipe on that YOLO data set instead (e.g. the training data a
 * `bench/loop.bench.ts --keep` run's retraining wrote), so the loop's data and the loop's
 * pipeline can be judged apart; n and seq are then ignored.
 *
 * Recipe keys: n (night frames = replay frames), epochs, lr, imgsz (320), freeze (0/1),
 * batch (16), t (trainer threads; default --threads), dark (the trainer's --low-light: the
 * probability of dimming a bright frame, 0), seq (0: the N night frames are independent
 * samples; s > 0: they are every s-th second of one conveyor camera on `night`, as the loop's
 * simulated reviewer labels them from the live line, where a part takes 10 s to cross the
 * view, so consecutive labels share most of their content), q (JPEG quality of those sequence
 * frames, 95; the agent uploads at 85), cam (that camera's seed, 1: which parts cross its view),
 * belt (its belt speed in px/s, 64: a part crosses the view in 10 s).
 * Prints one JSON object; progress on stderr.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRuntimeConfig } from '../src/config/runtime.config.js';
import {
  ensureSynthDataset,
  SEED_MODEL_DIR,
  seedTestMap50,
  type SeedTestPreset,
} from '../src/main/train.main.js';
import { findPython, runTrainer } from '../src/repositories/trainer-process.js';
import {
  DEFAULT_BELT_SPEED,
  SynthCamera,
  parseScenario,
  writeYoloSample,
} from '../src/synth/index.js';

const { values } = parseArgs({
  options: {
    'seed-model': { type: 'string', default: SEED_MODEL_DIR },
    work: { type: 'string', default: 'data/bench/drift' },
    recipes: { type: 'string', default: 'n=200,epochs=10,lr=1e-3' },
    threads: { type: 'string', default: '1' },
    data: { type: 'string' },
  },
});
const config = loadRuntimeConfig();
const python = findPython(config.VISIONLOOP_PYTHON);
const seedDir = resolve(values['seed-model']);
const work = resolve(values.work);
const threads = Number(values.threads);
const log = (message: string) => process.stderr.write(`[retraining-recipe] ${message}\n`);
const round = (value: number) => Math.round(value * 1000) / 1000;

interface Recipe {
  n: number;
  epochs: number;
  lr: number;
  imgsz: number;
  freeze: boolean;
  batch: number;
  threads: number;
  dark: number;
  seq: number;
  q: number;
  cam: number;
  belt: number;
}

function parseRecipe(text: string): Recipe {
  const fields = Object.fromEntries(
    text.split(',').map((pair) => pair.split('=').map((part) => part.trim()) as [string, string]),
  );
  return {
    n: Number(fields.n ?? 200),
    epochs: Number(fields.epochs ?? 10),
    lr: Number(fields.lr ?? 1e-3),
    imgsz: Number(fields.imgsz ?? 320),
    freeze: fields.freeze === '1',
    batch: Number(fields.batch ?? 16),
    threads: Number(fields.t ?? threads),
    dark: Number(fields.dark ?? 0),
    seq: Number(fields.seq ?? 0),
    q: Number(fields.q ?? 95),
    cam: Number(fields.cam ?? 1),
    belt: Number(fields.belt ?? DEFAULT_BELT_SPEED),
  };
}

async function map50(modelPath: string, preset: SeedTestPreset): Promise<number> {
  return seedTestMap50(config, modelPath, work, preset);
}

/**
 * `base`'s data set (N night + N nominal independent frames) with its N night training frames
 * replaced by N frames of one `night` conveyor camera, `everySeconds` apart (15 FPS):
 * what the loop's reviewer labels from the live line. Nominal frames and the val split stay.
 */
async function sequenceDataset(
  base: string,
  n: number,
  everySeconds: number,
  quality: number,
  cameraSeed: number,
  beltSpeed: number,
): Promise<string> {
  const dir =
    `${base}-seq${everySeconds}${quality === 95 ? '' : `-q${quality}`}` +
    (cameraSeed === 1 ? '' : `-cam${cameraSeed}`) +
    (beltSpeed === DEFAULT_BELT_SPEED ? '' : `-belt${beltSpeed}`);
  if ((await readFile(join(dir, 'done'), 'utf8').catch(() => '')) === 'ok') return dir;
  await rm(dir, { recursive: true, force: true });
  for (const split of ['train', 'val']) {
    await mkdir(join(dir, 'images', split), { recursive: true });
    await mkdir(join(dir, 'labels', split), { recursive: true });
    for (const file of await readdir(join(base, 'images', split))) {
      if (split === 'train' && file.includes('-night.')) continue;
      const stem = file.replace(/\.[a-z]+$/, '');
      await copyFile(join(base, 'images', split, file), join(dir, 'images', split, file));
      await copyFile(
        join(base, 'labels', split, `${stem}.txt`),
        join(dir, 'labels', split, `${stem}.txt`),
      );
    }
  }
  const yaml = await readFile(join(base, 'data.yaml'), 'utf8');
  await writeFile(join(dir, 'data.yaml'), yaml.replace(/^path: .*$/m, `path: ${dir}`));
  const camera = new SynthCamera({
    scenario: parseScenario('night'),
    seed: cameraSeed,
    fps: 15,
    beltSpeed,
  });
  for (let k = 0; k < n; k += 1) {
    const stem = `seq-${String(k).padStart(4, '0')}-night`;
    await writeYoloSample(dir, 'train', stem, camera.frame(k * 15 * everySeconds), {
      format: 'jpg',
      quality,
    });
  }
  await writeFile(join(dir, 'done'), 'ok');
  log(`sequence data set: ${n} night frames ${everySeconds} s apart in ${dir}`);
  return dir;
}

/** The recipe's YOLO data set: `--data`, or the synthetic night + nominal set (sequenced). */
async function trainingData(recipe: Recipe): Promise<string> {
  if (values.data !== undefined) return resolve(values.data);
  const dataDir = join(work, `finetune-night-${recipe.n}`);
  await ensureSynthDataset(dataDir, {
    presets: 'night,nominal',
    count: recipe.n * 2,
    seed: 200_000 + recipe.n,
    valFraction: 0.1,
  });
  return recipe.seq > 0
    ? sequenceDataset(dataDir, recipe.n, recipe.seq, recipe.q, recipe.cam, recipe.belt)
    : dataDir;
}

const seedModel = join(seedDir, 'model.onnx');
const seed = {
  night: round(await map50(seedModel, 'night')),
  nominal: round(await map50(seedModel, 'nominal')),
};
log(`seed: night ${seed.night}, nominal ${seed.nominal}`);

const results = [];
for (const text of values.recipes.split(';').filter((part) => part.trim())) {
  const recipe = parseRecipe(text);
  const trainData = await trainingData(recipe);
  const name = text.replace(/[^A-Za-z0-9.=-]+/g, '_');
  const out = join(work, `recipe-${name}`);
  await rm(out, { recursive: true, force: true });
  log(`recipe ${text}`);
  const started = Date.now();
  const done = await runTrainer(
    python,
    {
      data: trainData,
      out,
      base: join(seedDir, 'weights.pt'),
      epochs: recipe.epochs,
      imgsz: recipe.imgsz,
      batch: recipe.batch,
      seed: 0,
      threads: recipe.threads,
      lr: recipe.lr,
      extraArgs: [
        '--val-interval',
        '0',
        ...(recipe.freeze ? ['--freeze-backbone'] : []),
        ...(recipe.dark > 0 ? ['--low-light', String(recipe.dark)] : []),
      ],
    },
    {
      onEvent: (event) => {
        if (event.event === 'epoch') {
          log(
            `  epoch ${String(event.epoch)}/${String(event.epochs)} loss ${Number(event.loss).toFixed(3)}`,
          );
        }
      },
    },
  );
  const trainSeconds = Math.round((Date.now() - started) / 1000);
  const night = round(await map50(done.model, 'night'));
  const nominal = round(await map50(done.model, 'nominal'));
  const result = {
    recipe,
    trainSeconds,
    load: os.loadavg().map(round),
    night,
    nominal,
    nightGain: round(night - seed.night),
    nominalLoss: round(seed.nominal - nominal),
    meets: night >= 0.85 && seed.nominal - nominal <= 0.03,
  };
  log(`  → ${JSON.stringify(result)}`);
  results.push(result);
}

console.log(JSON.stringify({ bench: 'retraining-recipe', seed, results }));
