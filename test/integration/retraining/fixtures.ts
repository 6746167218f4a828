/**
 * Fixtures for the retraining suites: an app on a fresh database whose training runs use a
 * scratch directory of the test, an in-process job worker, tiny-training settings, synthetic
 * reviewed labels (an exported synthetic data set imported as reviewed labels), and the
 * trainer's Python (null when PyTorch is not installed). Test-only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/http/app.js';
import type { AppServices } from '../../../src/http/app.js';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { findPython } from '../../../src/repositories/trainer-process.js';
import type { UpdateRetrainingSettingsRequest } from '../../../src/shared/api/retraining.js';
import { exportDataset } from '../../../src/synth/dataset-export.js';
import type { DatabaseTarget, TestDatabase } from '../../helpers/database.js';

/** The trainer's interpreter, or null when none can import torch (the suites then skip). */
export function trainerPython(): string | null {
  try {
    return findPython(process.env.VISIONLOOP_PYTHON);
  } catch {
    return null;
  }
}

/**
 * Settings for a training of about twenty seconds on two cores (imgsz 128, 15 epochs, batch 8,
 * one thread), a six-image nominal holdout, no cooldown, threshold 8. Fewer epochs or a
 * smaller input leave a model from scratch at mAP 0 on a handful of held-out images.
 */
export const TINY_TRAINING: UpdateRetrainingSettingsRequest = {
  labelThreshold: 8,
  cooldownMinutes: 0,
  epochs: 15,
  imgsz: 128,
  batch: 8,
  threads: 1,
  // Normal priority: the suites share the machine with other suites (niced trainers starve).
  nice: 0,
  seed: 1,
  modelSize: 'n',
  nominalHoldoutImages: 6,
  autoPromote: true,
};

export interface RetrainingServer {
  app: FastifyInstance;
  services: AppServices;
  database: TestDatabase;
  workDir: string;
  admin: { authorization: string };
  viewer: { authorization: string };
  /** Starts an in-process worker running every job (idempotent). */
  startWorker(): JobWorker;
  close(): Promise<void>;
}

export async function openRetrainingServer(target: DatabaseTarget): Promise<RetrainingServer> {
  const database = await target.open();
  const workDir = mkdtempSync(join(tmpdir(), 'vl-retraining-'));
  const services = createServerServices(database, {
    blobStore: new LocalBlobStore(join(workDir, 'blobs')),
    heartbeatIntervalMs: 10_000,
    recentWindowMs: 10 * 60_000,
    serverVersion: 'test',
    processMetrics: false,
    retrainingWorkDir: join(workDir, 'retraining'),
  });
  const app = await buildApp(services, {
    serverVersion: 'test',
    bodyLimitBytes: 16 * 1024 * 1024,
    frameLimitBytes: 8 * 1024 * 1024,
    loopbackReads: true,
  });
  const admin = await services.auth.createToken({ name: 'test admin', scope: 'admin' }, null);
  const viewer = await services.auth.createToken({ name: 'test viewer', scope: 'viewer' }, null);
  let worker: JobWorker | null = null;
  return {
    app,
    services,
    database,
    workDir,
    admin: { authorization: `Bearer ${admin.token}` },
    viewer: { authorization: `Bearer ${viewer.token}` },
    startWorker() {
      worker ??= new JobWorker(services.jobs, {
        handlers: createJobHandlers(services),
        pollMinMs: 50,
        pollMaxMs: 200,
        progressEveryMs: 200,
        unref: true,
      });
      worker.start();
      return worker;
    },
    async close() {
      await worker?.stop({ graceMs: 0 });
      await app.close();
      await services.modelServing.close();
      await services.auth.flush();
      await database.cleanup();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/**
 * Adds `count` reviewed labels: synthetic 640×480 frames of `presets` (`seed`) with their exact
 * ground truth, exported as a YOLO data set and imported.
 */
export async function addSyntheticLabels(
  server: { services: Pick<AppServices, 'datasets'>; workDir: string },
  count: number,
  seed: number,
  presets = 'nominal',
): Promise<void> {
  const dir = join(server.workDir, `labels-${seed}`);
  await exportDataset({
    outDir: dir,
    presets,
    count,
    seed,
    // The import takes both splits; the snapshot re-splits by image hash.
    valFraction: 0.2,
  });
  await server.services.datasets.importYolo(dir, { name: `synthetic ${seed}` }, null);
}

/** Polls `probe` every 50 ms until it returns a value, or fails after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
