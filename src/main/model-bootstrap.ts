/**
 * Puts the model registry into service when a server starts:
 * - on an empty registry, registers the shipped seed model (models/seed/model.onnx, plus
 *   weights.pt beside it when present) under its metadata version and points `production` at
 *   it as actor `bootstrap`, and stores its training reference for drift from
 *   training-features.json beside it, and its evaluation (metrics.json beside it: mAP per test
 *   preset and per class) as the version's metrics; a missing seed file is skipped with a log
 *   line (a deployment may upload its own model instead);
 * - registers the shipped stage models of the inspection chain (models/seed-classify and
 *   models/seed-segment, beside the seed's directory) and points `classify-production` /
 *   `segment-production` at them, each only while its alias is unset, with the metrics.json
 *   beside it (`registerStageModels`); a missing file is skipped with a log line, a refused
 *   registration is logged and the server starts anyway;
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
import { DEFAULT_STAGE_ALIASES } from '../shared/api/inspection-chain.js';
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

/** A shipped stage model: its file and the alias it serves from. */
export interface StageModelFile {
  task: 'classify' | 'segment';
  /** model.onnx; metrics.json beside it becomes the version's metrics. */
  path: string;
  alias: string;
}

/**
 * The stage models shipped beside a seed model: `<seed dir>/../seed-classify/model.onnx` and
 * `…/seed-segment/model.onnx` (models/ in the repository).
 */
export function shippedStageModels(seedPath: string): StageModelFile[] {
  const root = dirname(dirname(seedPath));
  return (['classify', 'segment'] as const).map((task) => ({
    task,
    path: join(root, `seed-${task}`, 'model.onnx'),
    alias: DEFAULT_STAGE_ALIASES[task],
  }));
}

async function readMetrics(file: string): Promise<Record<string, unknown> | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/**
 * Registers each shipped stage model whose alias is not set yet and points the alias at it
 * (actor `bootstrap`). The registered task is whatever the registry's inspector reports; this
 * does not check it. Never throws: each failure is logged and the next file is tried. Returns
 * the versions it pointed an alias at.
 */
export async function registerStageModels(
  models: Pick<ModelRegistryService, 'resolveAlias' | 'register' | 'promote'>,
  files: readonly StageModelFile[],
  log: ModelBootstrapLog,
): Promise<string[]> {
  const registered: string[] = [];
  for (const file of files) {
    try {
      if ((await models.resolveAlias(file.alias)) !== null) continue;
      let artifact: Buffer;
      try {
        artifact = await readFile(file.path);
      } catch (error) {
        if (isNotFound(error)) {
          log.info(`no ${file.task} stage model at ${file.path}; ${file.alias} stays unset`);
          continue;
        }
        throw error;
      }
      const metrics = await readMetrics(join(dirname(file.path), SEED_METRICS_FILE));
      const { model } = await models.register({
        artifact,
        source: 'seed',
        metrics,
        notes: `the ${file.task} stage model shipped with VisionLoop (trained on crops of the synthetic line)`,
        actor: 'bootstrap',
      });
      await models.promote(model.version, file.alias, {
        actor: 'bootstrap',
        reason: `first start: the shipped ${file.task} stage model`,
      });
      log.info(`registered the ${file.task} stage model ${model.version} as ${file.alias}`);
      registered.push(model.version);
    } catch (error) {
      log.warn(`the ${file.task} stage model ${file.path} was not registered: ${messageOf(error)}`);
    }
  }
  return registered;
}

/**
 * The bootstrap of the module comment. `seedPath` null skips the seed (and, by default, the
 * stage models shipped beside it). Resolves once production is serving (or failed to load,
 * which is logged).
 */
export async function startModelRegistry(
  models: ModelRegistryService,
  seedPath: string | null,
  log: ModelBootstrapLog,
  drift?: Pick<DriftService, 'storeTrainingReference'>,
  stageModels: readonly StageModelFile[] = seedPath === null ? [] : shippedStageModels(seedPath),
): Promise<void> {
  if (seedPath !== null) {
    try {
      await registerSeedModel(models, seedPath, log, drift);
    } catch (error) {
      log.error(`the seed model ${seedPath} was not registered: ${messageOf(error)}`);
    }
  }
  await registerStageModels(models, stageModels, log);
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
