/**
 * This server's own inference (`POST /api/predict`) and its hot swap.
 *
 * A swap (a `production` move, `POST /api/reload`, or `reconcile` noticing that production
 * changed elsewhere) loads the new model in a NEW detector (the ONNX one owns a fresh worker
 * thread), checks its contract against the registry row (sha256, version, classes, layout),
 * warms it up through the whole detect path, and only then switches: one assignment, so each
 * request runs entirely on the old or entirely on the new session. Requests already running
 * on the old session finish there; the old detector is disposed (its worker terminated, which
 * returns the runtime's memory) when the last of them is done. A model that fails any step is
 * disposed and reported; the old one keeps serving. Swaps run one at a time, in order.
 *
 * The slot mechanics (serialized swaps, in-flight counting, dispose after the last request)
 * are HotSwapSlot's (src/inference/hot-swap-slot.ts), the same slot the agents swap with.
 *
 * It never moves aliases (the registry does) and never decides what should serve: production,
 * as the registry says, does.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeToRgb } from '../inference/decode-image.js';
import type { ModelRow } from '../db/schema.js';
import { HotSwapSlot } from '../inference/hot-swap-slot.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type { ModelRegistryRepository } from '../repositories/model-registry.repository.js';
import { MAX_FRAME_PIXELS } from '../shared/api/ingest.js';
import {
  PRODUCTION_ALIAS,
  type PredictQuery,
  type PredictResponse,
  type ServingOutcome,
  type ServingStatus,
} from '../shared/api/models.js';
import {
  ERROR_CATALOGUE,
  VisionLoopError,
  isVisionLoopError,
  messageOf,
} from '../shared/errors.js';
import type { ErrorCode } from '../shared/errors.js';
import type { Detector } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import type { EventBus } from './event-bus.js';
import type { ModelDeployer } from './registry/index.js';

/** What the serving slot knows about the model it runs. */
interface ServedModel {
  readonly version: string;
  readonly sha256: string;
  readonly loadedAt: number;
}

/** Thrown inside a swap that finished loading after close(): not a failure of the model. */
class ShuttingDown extends Error {}

interface SwapFailure {
  version: string;
  code: string;
  message: string;
  at: number;
}

export interface ModelServingOptions {
  now?: () => number;
  /** Where an artifact is written for the runtime to read (deleted once loaded). Default: the OS temp dir. */
  workDir?: string;
  /** `reconcile` retries a version that failed to load only after this long, ms. Default 60 000. */
  retryAfterMs?: number;
  /** Largest decoded image /api/predict accepts, pixels. Default MAX_FRAME_PIXELS. */
  maxPixels?: number;
  /** Where failures that have no caller to report to go (a dispose that failed). */
  onBackgroundError?: (error: unknown) => void;
}

export const DEFAULT_RETRY_AFTER_MS = 60_000;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function classNamesOf(row: ModelRow): string[] {
  try {
    const value: unknown = JSON.parse(row.class_names);
    return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

/** A mid-gray frame of the model's input size: the warm-up image. */
function warmUpImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(114) };
}

export class ModelServingService implements ModelDeployer {
  private readonly now: () => number;
  private readonly workDir: string;
  private readonly retryAfterMs: number;
  private readonly maxPixels: number;
  private readonly slot: HotSwapSlot<ServedModel>;
  private swaps = 0;
  private lastFailure: SwapFailure | null = null;

  constructor(
    private readonly models: ModelRegistryRepository,
    private readonly blobs: BlobStore,
    createDetector: () => Detector,
    private readonly events: EventBus,
    options: ModelServingOptions = {},
  ) {
    this.slot = new HotSwapSlot(createDetector, options.onBackgroundError ?? (() => undefined));
    this.now = options.now ?? Date.now;
    this.workDir = options.workDir ?? join(tmpdir(), 'visionloop-serving');
    this.retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.maxPixels = options.maxPixels ?? MAX_FRAME_PIXELS;
  }

  /** Puts `version` into service (no-op when it already serves). Never throws: reports. */
  deploy(version: string, reason: string): Promise<ServingOutcome> {
    return this.slot.serialize(() => this.swapTo(version, reason));
  }

  /**
   * Serves production now: swaps to it when it is not what serves (moved by another process
   * and not synced yet, or a load that failed earlier and should be tried again at once). A
   * no-op (`swapped: false`) when production already serves: artifacts are immutable, so a
   * second session of the same sha256 would be the same model. Throws MODEL_NOT_FOUND when
   * nothing is in production, and the load's error (naming the version still serving) when
   * the model cannot be put into service.
   */
  async reload(actor: string | null): Promise<ServingOutcome> {
    const production = await this.models.findModelByAlias(PRODUCTION_ALIAS);
    if (production === undefined) {
      throw new VisionLoopError(
        'MODEL_NOT_FOUND',
        'nothing is in production: promote a version first',
      );
    }
    const outcome = await this.slot.serialize(() =>
      this.swapTo(production.version, `reload by ${actor ?? 'someone'}`),
    );
    if (outcome.error !== null) {
      const current = this.slot.model;
      const serving = current ? `still serving ${current.version}` : 'nothing serves';
      throw new VisionLoopError(
        codeOf(outcome.error.code),
        `${outcome.error.message} (${serving})`,
      );
    }
    return outcome;
  }

  /**
   * Brings the served model in line with production when another process moved it, or when
   * an earlier load failed and `retryAfterMs` passed. Null when nothing had to change.
   */
  async reconcile(): Promise<ServingOutcome | null> {
    if (this.slot.closed) return null;
    const production = await this.models.findModelByAlias(PRODUCTION_ALIAS);
    if (production === undefined || this.slot.model?.sha256 === production.artifact_sha256) {
      return null;
    }
    const failure = this.lastFailure;
    if (
      failure !== null &&
      failure.version === production.version &&
      this.now() - failure.at < this.retryAfterMs
    ) {
      return null;
    }
    return this.deploy(production.version, 'production changed');
  }

  /** Detections for one JPEG or PNG, from the session serving when the request started. */
  async predict(image: Uint8Array, query: PredictQuery = {}): Promise<PredictResponse> {
    // Decoded first: a bad image is the caller's problem (422) whether or not a model serves.
    const decodeStart = performance.now();
    const rgb = await this.decode(image);
    const decodeMs = performance.now() - decodeStart;
    // Taken after decoding, so a request holds the old session no longer than it must.
    return this.slot.use(async (detector, model) => {
      const output = await detector.detect(rgb, {
        ...(query.conf === undefined ? {} : { confThreshold: query.conf }),
        ...(query.iou === undefined ? {} : { iouThreshold: query.iou }),
        ...(query.maxDetections === undefined ? {} : { maxDetections: query.maxDetections }),
      });
      return {
        modelVersion: model.version,
        modelSha256: model.sha256,
        width: rgb.width,
        height: rgb.height,
        detections: output.detections,
        timings: { decodeMs, ...output.timings },
      };
    }, notServing);
  }

  status(): ServingStatus {
    const model = this.slot.model;
    return {
      version: model?.version ?? null,
      sha256: model?.sha256 ?? null,
      loadedAt: model?.loadedAt ?? null,
      swaps: this.swaps,
      inFlight: this.slot.inFlight,
      lastError: this.lastFailure,
    };
  }

  /** Resolves when every retired session has been released. */
  settled(): Promise<void> {
    return this.slot.settled();
  }

  /** Stops serving and releases every session (after in-flight requests). */
  close(): Promise<void> {
    return this.slot.close();
  }

  private async swapTo(version: string, reason: string): Promise<ServingOutcome> {
    const previous = this.slot.model;
    const unchanged = (error: ServingOutcome['error']): ServingOutcome => ({
      swapped: false,
      version: this.slot.model?.version ?? null,
      previousVersion: previous?.version ?? null,
      loadMs: null,
      error,
    });
    if (this.slot.closed) {
      return unchanged({ code: 'MODEL_NOT_SERVING', message: 'the server is shutting down' });
    }
    const row = await this.models.findByVersion(version);
    if (row === undefined) {
      return unchanged({ code: 'MODEL_NOT_FOUND', message: `no model version '${version}'` });
    }
    if (previous?.sha256 === row.artifact_sha256) return unchanged(null);

    const started = performance.now();
    let loadMs = 0;
    try {
      await this.slot.swapIn(async (detector) => {
        await this.loadAndCheck(detector, row);
        loadMs = performance.now() - started;
        if (this.slot.closed) throw new ShuttingDown();
        return { version: row.version, sha256: row.artifact_sha256, loadedAt: this.now() };
      });
    } catch (error) {
      if (error instanceof ShuttingDown) {
        return unchanged({ code: 'MODEL_NOT_SERVING', message: 'the server is shutting down' });
      }
      const code = isVisionLoopError(error) ? error.code : 'INTERNAL';
      const message = `version ${version} could not be put into service: ${messageOf(error)}`;
      this.lastFailure = { version, code, message, at: this.now() };
      this.events.publish({
        type: 'system',
        at: this.now(),
        level: 'error',
        message: `${message}; ${previous ? `${previous.version} keeps serving` : 'nothing serves'}`,
      });
      return unchanged({ code, message });
    }
    this.swaps++;
    if (this.lastFailure?.version === version) this.lastFailure = null;
    this.events.publish({
      type: 'system',
      at: this.now(),
      level: 'info',
      message:
        `the server now serves ${row.version}` +
        `${previous ? ` (was ${previous.version})` : ''} after ${Math.round(loadMs)} ms (${reason})`,
    });
    return {
      swapped: true,
      version: row.version,
      previousVersion: previous?.version ?? null,
      loadMs,
      error: null,
    };
  }

  /** Load, contract check, warm-up. Throws what failed. */
  private async loadAndCheck(detector: Detector, row: ModelRow): Promise<void> {
    const bytes = await this.blobs.get(row.artifact_blob);
    if (bytes === null) {
      throw new VisionLoopError(
        'MODEL_LOAD_FAILED',
        'its model.onnx is missing from the blob store',
      );
    }
    await mkdir(this.workDir, { recursive: true });
    const file = join(
      this.workDir,
      `${row.artifact_sha256}-${randomBytes(4).toString('hex')}.onnx`,
    );
    await writeFile(file, bytes, { mode: 0o600 });
    let info;
    try {
      info = await detector.load(file);
    } finally {
      // The runtime holds the bytes once loaded; the file is only its way in.
      await rm(file, { force: true });
    }
    const expectedClasses = classNamesOf(row);
    const problems: string[] = [];
    if (info.sha256 !== row.artifact_sha256) {
      problems.push(
        `sha256 ${info.sha256.slice(0, 12)}… instead of ${row.artifact_sha256.slice(0, 12)}…`,
      );
    }
    if (info.version !== row.version) problems.push(`it reports version ${info.version}`);
    if (info.layout !== row.layout) problems.push(`layout ${info.layout} instead of ${row.layout}`);
    if (!sameList(info.classNames, expectedClasses)) {
      problems.push(
        `classes [${info.classNames.join(', ')}] instead of [${expectedClasses.join(', ')}]`,
      );
    }
    if (problems.length > 0) {
      throw new VisionLoopError(
        'MODEL_LOAD_FAILED',
        `the loaded model does not match its registry entry: ${problems.join('; ')}`,
      );
    }
    // Through the whole path (letterbox, run, decode, NMS), so the first request pays nothing.
    await detector.detect(warmUpImage(info.inputWidth, info.inputHeight));
  }

  private async decode(image: Uint8Array): Promise<RgbImage> {
    try {
      return await decodeToRgb(image, { maxPixels: this.maxPixels });
    } catch (error) {
      throw new VisionLoopError('IMAGE_INVALID', `cannot decode the image: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

function notServing(): VisionLoopError {
  return new VisionLoopError(
    'MODEL_NOT_SERVING',
    'no model is being served yet: promote a version to production (or wait for it to load)',
  );
}

/** A catalogue code from a reported code string (INTERNAL when it is not one). */
function codeOf(code: string): ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code) ? (code as ErrorCode) : 'INTERNAL';
}
