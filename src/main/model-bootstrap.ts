/**
 * Puts the model registry into service when a server starts:
 * - on an empty registry, registers the shipped seed model (models/seed/model.onnx, plus
 *   weights.pt beside it when present) under its metadata version and points `production` at
 *   it as actor `bootstrap`, and stores its training reference for drift from
 *   training-features.json beside it, and its evaluation (metrics.json beside it: mAP per test
 *   preset and per class) as the version's metrics; a missing seed file is skipped with a log
 *   line (a deployment may upload its own model instead);
 * - loads where the aliases point, sets their gauges and loads production into the server's
 *   inference (a failure is logged; the server still starts);
 * - `startModelSync` then follows alias moves made by other processes (a job worker promoting
 *   a candidate) and retries a production model that failed to load.
 *
 * Never fails the server start: every problem here is logged and left for an admin.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DriftService } from '../services/drift/index.js';
import type { ModelRegistryService } from '../services/registry/index.js';
import { readTrainingFeatures, TRAINING_FEATURES_FILE } from '../services/training-reference.js';
import type { ModelServingService } from '../services/model-serving.service.js';
import { SEED_RECIPE } from './train.main.js';
import { messageOf } from '../shared/errors.js';

export interface ModelBootstrapLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** How often a server looks for alias moves made elsewhere, ms. */
export const DEFAULT_MODEL_SYNC_MS = 2000;

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

/** The seed recipe's evaluation, beside model.onnx (`visionloop train --recipe seed`). */
export const SEED_METRICS_FILE = 'metrics.json';

/** Stores the seed's metrics.json as its registry metrics; a missing or bad file is logged. */
async function recordSeedMetrics(
  models: Pick<ModelRegistryService, 'recordMetrics'>,
  version: string,
  file: string,
  log: ModelBootstrapLog,
): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) log.info(`no ${file}: the seed's registry entry has no metrics`);
    else log.warn(`the seed's metrics were not read: ${messageOf(error)}`);
    return;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      log.warn(`${file} is not a JSON object: the seed's metrics were not stored`);
      return;
    }
    await models.recordMetrics(version, parsed as Record<string, unknown>);
  } catch (error) {
    log.warn(`the seed's metrics were not stored: ${messageOf(error)}`);
  }
}

/** Registers the seed on an empty registry; returns its version, or null when nothing was done. */
export async function registerSeedModel(
  models: ModelRegistryService,
  seedPath: string,
  log: ModelBootstrapLog,
  drift?: Pick<DriftService, 'storeTrainingReference'>,
): Promise<string | null> {
  let artifact: Buffer;
  try {
    artifact = await readFile(seedPath);
  } catch (error) {
    if (isNotFound(error)) {
      log.info(
        `no seed model at ${seedPath}; the registry starts empty (upload one with \`visionloop models upload\`)`,
      );
      return null;
    }
    throw error;
  }
  const weights = await readFile(join(dirname(seedPath), 'weights.pt')).catch((error: unknown) => {
    if (isNotFound(error)) return null;
    throw error;
  });
  const version = await models.bootstrapSeed(artifact, weights);
  if (version === null) {
    // A data dir from a build that did not store the seed's metrics: fill them in once.
    const seed = await models.get(SEED_RECIPE.version).catch(() => null);
    if (seed?.source === 'seed' && seed.metrics === null) {
      await recordSeedMetrics(
        models,
        seed.version,
        join(dirname(seedPath), SEED_METRICS_FILE),
        log,
      );
    }
    return null;
  }
  log.info(`registered the seed model ${version} and set production to it`);
  await recordSeedMetrics(models, version, join(dirname(seedPath), SEED_METRICS_FILE), log);
  if (drift !== undefined) {
    // The recipe ships its training images' features beside the model (training-reference.ts).
    const file = join(dirname(seedPath), TRAINING_FEATURES_FILE);
    try {
      const stored = await readTrainingFeatures(file);
      if (stored === null) log.info(`no ${file}: the seed has no training reference for drift`);
      else {
        await drift.storeTrainingReference(version, stored.features, {
          description: `${stored.features.length} training images of ${version} (${TRAINING_FEATURES_FILE})`,
        });
      }
    } catch (error) {
      log.warn(`the seed's training reference was not stored: ${messageOf(error)}`);
    }
  }
  return version;
}

/**
 * The bootstrap of the module comment. `seedPath` null skips the seed. Resolves once
 * production is serving (or failed to load, which is logged).
 */
export async function startModelRegistry(
  models: ModelRegistryService,
  seedPath: string | null,
  log: ModelBootstrapLog,
  drift?: Pick<DriftService, 'storeTrainingReference'>,
): Promise<void> {
  if (seedPath !== null) {
    try {
      await registerSeedModel(models, seedPath, log, drift);
    } catch (error) {
      log.error(`the seed model ${seedPath} was not registered: ${messageOf(error)}`);
    }
  }
  try {
    const outcome = await models.start();
    if (outcome?.error) log.error(`production is not serving: ${outcome.error.message}`);
    else if (outcome?.version) log.info(`serving ${outcome.version} on /api/predict`);
  } catch (error) {
    log.error(`the model registry did not start: ${messageOf(error)}`);
  }
}

/** Runs `syncAliases` + `reconcile` every `intervalMs`; returns the stop function. */
export function startModelSync(
  models: ModelRegistryService,
  serving: ModelServingService,
  intervalMs: number,
  log: ModelBootstrapLog,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    // A slow database must not pile up overlapping syncs.
    if (running) return;
    running = true;
    models
      .syncAliases()
      .then(() => serving.reconcile())
      .then((outcome) => {
        if (outcome?.error) log.warn(`production is not serving: ${outcome.error.message}`);
      })
      .catch((error: unknown) => log.warn(`model alias sync failed: ${messageOf(error)}`))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
