/**
 * What the two worker threads that own ONNX Runtime sessions (inference.worker.ts for detectors,
 * stage.worker.ts for classify/segment stage models) do the same way: read a model file, open a
 * CPU session with the caller's SessionSettings, warm it up, name the model, serialize runs on one
 * session and release it once idle, and turn any failure into the `failed` answer of their
 * protocols. Only ever imported from inside a worker thread.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isVisionLoopError, VisionLoopError, type ErrorCode } from '../shared/errors.js';
import { parseModelMetadata, type ModelMetadata } from '../vision/metadata.js';
import { readOnnxModelHeader, type OnnxModelHeader } from '../vision/onnx-model-file.js';
import type { SessionSettings } from './inference.protocol.js';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reads a model file; a missing or unreadable file is MODEL_NOT_FOUND. */
async function readModelBytes(modelPath: string): Promise<{ path: string; bytes: Uint8Array }> {
  const path = resolve(modelPath);
  try {
    return { path, bytes: await readFile(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new VisionLoopError(
      'MODEL_NOT_FOUND',
      code === 'ENOENT' ? `no model file at ${path}` : `cannot read the model at ${path} (${code})`,
      { cause: error },
    );
  }
}

/** Opens a CPU session on the model bytes; ONNX Runtime refusing them is MODEL_LOAD_FAILED. */
async function createCpuSession(
  bytes: Uint8Array,
  path: string,
  settings: SessionSettings,
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
    });
  } catch (error) {
    throw new VisionLoopError(
      'MODEL_LOAD_FAILED',
      `ONNX Runtime could not load ${path}: ${errorText(error)}`,
      { cause: error },
    );
  }
}

/**
 * Runs `check` on a freshly created session; when it throws, the session is released before the
 * error goes on, so a model that fails its checks never leaks native memory.
 */
async function releaseOnFailure<T>(
  session: ort.InferenceSession,
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** The shape of the session's first input, when ONNX Runtime knows it. */
function firstInputDims(session: ort.InferenceSession): readonly (number | string)[] | undefined {
  const inputMeta = session.inputMetadata[0];
  return inputMeta && 'shape' in inputMeta ? inputMeta.shape : undefined;
}

/** A model file read, its metadata parsed, and a CPU session open on it. */
export interface OpenedModel {
  /** The model file's absolute path. */
  path: string;
  bytes: Uint8Array;
  header: OnnxModelHeader;
  metadata: ModelMetadata;
  session: ort.InferenceSession;
  /** The shape of the session's first input, when ONNX Runtime knows it. */
  inputDims: readonly (number | string)[] | undefined;
}

/**
 * Reads the model file and its metadata, lets `checkMetadata` refuse the model before ONNX
 * Runtime sees it, opens a CPU session with `settings`, and runs `build` on all of it. When any
 * check in `build` throws, the session is released before the error goes on, so a model that
 * fails its checks never leaks native memory.
 */
export async function openModel<T>(
  modelPath: string,
  settings: SessionSettings,
  checkMetadata: ((metadata: ModelMetadata, path: string) => void) | null,
  build: (model: OpenedModel) => Promise<T>,
): Promise<T> {
  const { path, bytes } = await readModelBytes(modelPath);
  const header = readOnnxModelHeader(bytes, path);
  const metadata = parseModelMetadata(header.metadata);
  checkMetadata?.(metadata, path);
  const session = await createCpuSession(bytes, path, settings);
  return releaseOnFailure(session, () =>
    build({ path, bytes, header, metadata, session, inputDims: firstInputDims(session) }),
  );
}

/** `[H, W]` of an NCHW input shape whose H and W are fixed numbers, else null. */
export function staticInputSize(
  dims: readonly (number | string)[] | undefined,
): [number, number] | null {
  if (!dims || dims.length !== 4) return null;
  const h = dims[2];
  const w = dims[3];
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? [h, w] : null;
}

/**
 * One warm-up run on a single gray (114/255) image of the input size; returns the outputs for the
 * caller to read and dispose. Any failure is MODEL_LOAD_FAILED naming the size.
 */
export async function warmUp<T>(
  session: ort.InferenceSession,
  path: string,
  inputName: string,
  inputHeight: number,
  inputWidth: number,
  read: (outputs: ort.InferenceSession.OnnxValueMapType) => T,
): Promise<T> {
  try {
    const outputs = await session.run({
      [inputName]: new ort.Tensor(
        'float32',
        new Float32Array(3 * inputWidth * inputHeight).fill(114 / 255),
        [1, 3, inputHeight, inputWidth],
      ),
    });
    return read(outputs);
  } catch (error) {
    throw new VisionLoopError(
      'MODEL_LOAD_FAILED',
      `${path}: warm-up inference at ${inputWidth}×${inputHeight} failed: ${errorText(error)}`,
      { cause: error },
    );
  }
}

/** The model's SHA-256, and its version: the metadata's, else `<file stem>-<sha256 prefix>`. */
export function modelIdentity(
  path: string,
  bytes: Uint8Array,
  metadataVersion: string | null | undefined,
): { sha256: string; version: string } {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    sha256,
    version: metadataVersion ?? `${basename(path, extname(path))}-${sha256.slice(0, 8)}`,
  };
}

/** A loaded session whose runs are serialized through `runChain`. */
export interface SerialSession {
  session: ort.InferenceSession;
  runChain: Promise<unknown>;
}

/**
 * Queues one run on the model. The run is chained synchronously, so a model replaced later is
 * released (releaseWhenIdle) only after every run queued on it has finished.
 */
export function enqueueRun<T>(model: SerialSession, run: () => Promise<T>): Promise<T> {
  const result = model.runChain.then(run);
  model.runChain = result.catch(() => undefined);
  return result;
}

/** Releases the model's session once the runs queued on it have finished. */
export async function releaseWhenIdle(model: SerialSession): Promise<void> {
  await model.runChain.catch(() => undefined);
  await model.session.release();
}

/** The code and message of a `failed` answer: a VisionLoopError's own, anything else INTERNAL. */
function failure(error: unknown): { code: ErrorCode; message: string } {
  if (isVisionLoopError(error)) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: errorText(error) };
}

/**
 * Answers the parent thread's requests with `handle`, which posts its own answers; a request
 * that throws is answered `failed` with the error's code (INTERNAL for anything but a
 * VisionLoopError).
 */
export function serveRequests<Req extends { requestId: number }>(
  handle: (request: Req) => Promise<void>,
): void {
  parentPort?.on('message', (request: Req) => {
    handle(request).catch((error: unknown) =>
      parentPort?.postMessage({ type: 'failed', requestId: request.requestId, ...failure(error) }),
    );
  });
}
