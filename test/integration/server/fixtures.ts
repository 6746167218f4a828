/**
 * Test fixtures for the server suites: deterministic frame results, a JPEG, and an app on a
 * fresh database of either dialect with one token per scope. Test-only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/http/app.js';
import type { AppServices } from '../../../src/http/app.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import type { Scope } from '../../../src/shared/api/common.js';
import { SCOPES } from '../../../src/shared/api/common.js';
import type { FrameResult } from '../../../src/shared/domain.js';
import { SYNTH_CLASSES } from '../../../src/shared/domain.js';
import type { DatabaseTarget, TestDatabase } from '../../helpers/database.js';

/** 2026-01-01T00:00:00Z: a fixed clock for captured_at values. */
export const T0 = 1_767_225_600_000;

/** mulberry32: a small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ResultOptions {
  camera?: string;
  capturedAt?: number;
  modelVersion?: string;
  classes?: readonly string[];
  uncertain?: boolean;
}

/** A valid frame result; `index` makes its id and frame index. */
export function frameResult(index: number, options: ResultOptions = {}): FrameResult {
  const classes = options.classes ?? [SYNTH_CLASSES[index % SYNTH_CLASSES.length] ?? 'scratch'];
  const detections = classes.map((className, k) => ({
    classId: Math.max(0, SYNTH_CLASSES.indexOf(className as (typeof SYNTH_CLASSES)[number])),
    className,
    confidence: 0.5 + ((index + k) % 5) / 10,
    box: { x1: 10 + k, y1: 20, x2: 110 + k, y2: 90 },
  }));
  return {
    id: `res-${options.camera ?? 'cam-1'}-${String(index).padStart(7, '0')}`,
    camera: options.camera ?? 'cam-1',
    frameIndex: index,
    capturedAt: options.capturedAt ?? T0 + index * 40,
    width: 640,
    height: 480,
    detections,
    uncertain: options.uncertain ?? index % 3 === 0,
    decision: detections.some((d) => d.confidence >= 0.7) ? 'FAIL' : 'PASS',
    features: {
      brightness: 0.5,
      contrast: 0.2,
      sharpness: 120.5,
      saturation: 0.1,
      noise: 0.01,
      colorCast: 0.02,
      edgeDensity: 0.3,
    },
    latencies: { queueMs: 1, preprocessMs: 2, inferenceMs: 12.5, postprocessMs: 0.5, totalMs: 16 },
    modelVersion: options.modelVersion ?? 'seed-1',
    inferred: index % 7 !== 0,
  };
}

export function frameResults(
  start: number,
  count: number,
  options: ResultOptions = {},
): FrameResult[] {
  return Array.from({ length: count }, (_, i) => frameResult(start + i, options));
}

/** A real 64×48 JPEG. */
export function testJpeg(shade = 120): Promise<Buffer> {
  return sharp({
    create: { width: 64, height: 48, channels: 3, background: { r: shade, g: 100, b: 80 } },
  })
    .jpeg({ quality: 80 })
    .toBuffer();
}

export interface TestServer {
  app: FastifyInstance;
  services: AppServices;
  database: TestDatabase;
  blobDir: string;
  /** One fresh token per scope. */
  tokens: Record<Scope, string>;
  /** `Authorization` header for a scope. */
  auth(scope: Scope): { authorization: string };
  close(): Promise<void>;
}

export interface TestServerOptions {
  bodyLimitBytes?: number;
  frameLimitBytes?: number;
  now?: () => number;
  /** The dashboard build to serve (default: the package's web/dist, built or not). */
  dashboardDir?: string;
}

/** An app (not listening) on a fresh database of `target`'s dialect. */
export async function openTestServer(
  target: DatabaseTarget,
  options: TestServerOptions = {},
): Promise<TestServer> {
  const database = await target.open();
  const blobDir = mkdtempSync(join(tmpdir(), 'visionloop-blobs-'));
  const services = createServerServices(database, {
    blobStore: new LocalBlobStore(blobDir),
    heartbeatIntervalMs: 10_000,
    recentWindowMs: 10 * 60_000,
    serverVersion: 'test',
    processMetrics: false,
    now: options.now,
  });
  const app = await buildApp(services, {
    serverVersion: 'test',
    bodyLimitBytes: options.bodyLimitBytes ?? 16 * 1024 * 1024,
    frameLimitBytes: options.frameLimitBytes ?? 8 * 1024 * 1024,
    loopbackReads: true,
    dashboardDir: options.dashboardDir,
  });
  const tokens = {} as Record<Scope, string>;
  for (const scope of SCOPES) {
    tokens[scope] = (await services.auth.createToken({ name: `test ${scope}`, scope }, null)).token;
  }
  return {
    app,
    services,
    database,
    blobDir,
    tokens,
    auth: (scope) => ({ authorization: `Bearer ${tokens[scope]}` }),
    async close() {
      await app.close();
      await services.auth.flush();
      await database.cleanup();
      rmSync(blobDir, { recursive: true, force: true });
    },
  };
}
