#!/usr/bin/env node
// Fits the shipped seed's score calibration on its recipe's validation split and stamps it into
// models/seed/model.onnx's metadata (weights untouched); records the fit in metrics.json.
// Refitting gives the same values (the fit reads raw scores), so the file stays byte-identical.
//   node --import tsx scripts/calibrate-seed.mjs [--dry-run]
// See docs/calibration.md.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fitModelCalibration,
  stampModelMetadata,
  syntheticValidationFrames,
} from '../src/main/calibrate.main.ts';
import { SEED_MODEL_DIR, SEED_RECIPE } from '../src/main/train.main.ts';

const dryRun = process.argv.includes('--dry-run');
const modelPath = join(SEED_MODEL_DIR, 'model.onnx');
const split = {
  seed: SEED_RECIPE.dataSeed,
  count: SEED_RECIPE.trainFrames,
  valFraction: SEED_RECIPE.valFraction,
  presets: [SEED_RECIPE.preset],
};
const result = await fitModelCalibration(
  new Uint8Array(await readFile(modelPath)),
  syntheticValidationFrames(split),
  {
    onProgress: (done) => {
      if (done % 50 === 0) process.stderr.write(`[calibrate] ${done} frames\n`);
    },
  },
);
const calibration = {
  method: 'platt-logit',
  temperature: Number(result.metadata.visionloop_temperature),
  logitBias: Number(result.metadata.visionloop_logit_bias),
  fittedOn: { ...split, split: 'val', frames: result.frames, detections: result.samples },
  nll: { before: result.nllBefore, after: result.nllAfter },
  ece: { before: result.eceBefore, after: result.eceAfter },
};
console.log(JSON.stringify(calibration, null, 2));
if (!dryRun) {
  const { changed } = await stampModelMetadata(modelPath, result.metadata);
  const metricsPath = join(SEED_MODEL_DIR, 'metrics.json');
  const metrics = JSON.parse(await readFile(metricsPath, 'utf8'));
  metrics.calibration = calibration;
  await writeFile(metricsPath, `${JSON.stringify(metrics, null, 2)}\n`);
  process.stderr.write(`[calibrate] ${changed ? 'stamped' : 'already stamped'} ${modelPath}\n`);
}
