/**
 * The caller's side of a worker thread that answers requests (inference.worker.ts for
 * OnnxDetector, stage.worker.ts for the stage models): starts the worker on first use, numbers
 * each request, keeps the pending ones, settles each from the worker's answer (a `failed`
 * answer becomes a VisionLoopError with the worker's code), fails them all when the worker
 * crashes or exits, and terminates it on dispose. The worker keeps the process alive only while
 * a request is in flight.
 */
import type { Worker } from 'node:worker_threads';
import { VisionLoopError, type ErrorCode } from '../shared/errors.js';
import { siblingModuleUrl, startModuleWorker } from './module-worker.js';

type FailedAnswer = { type: 'failed'; requestId: number; code: ErrorCode; message: string };

type Pending<Res> = { resolve: (response: Res) => void; reject: (error: Error) => void };

export class WorkerClient<
  Req extends { requestId: number },
  Res extends { type: string; requestId: number },
> {
  private worker: Worker | null = null;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending<Res>>();

  /**
   * @param stem the worker module's file name without extension (`inference.worker`), a sibling
   *   of this module.
   * @param name how errors name the worker (`inference worker`).
   * @param onLost called when the running worker crashes or exits with requests in flight.
   */
  constructor(
    private readonly stem: string,
    private readonly name: string,
    private readonly onLost: () => void,
  ) {}

  /** Whether a worker is running. */
  get running(): boolean {
    return this.worker !== null;
  }

  /** Sends one request (its `requestId` is set here) and resolves with the worker's answer. */
  request(message: Req, transfer: ArrayBuffer[] = []): Promise<Res> {
    const worker = this.ensureWorker();
    const requestId = this.nextRequestId++;
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      // Keep the process alive only while a request is in flight; an idle worker must not.
      worker.ref();
      worker.postMessage({ ...message, requestId }, transfer);
    });
  }

  /**
   * Sends the worker its last request, then — answered or not — calls `reset` and terminates
   * the worker. Nothing happens when no worker is running.
   */
  async dispose(message: Req, transfer: ArrayBuffer[], reset: () => void): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await this.request(message, transfer);
    } finally {
      this.worker = null;
      reset();
      await worker.terminate();
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startModuleWorker(siblingModuleUrl(import.meta.url, this.stem));
    worker.on('message', (response: Res | FailedAnswer) => {
      const pending = this.pending.get(response.requestId);
      if (!pending) return;
      this.pending.delete(response.requestId);
      if (this.pending.size === 0) worker.unref();
      if (response.type === 'failed') {
        const failed = response as FailedAnswer;
        pending.reject(new VisionLoopError(failed.code, failed.message));
      } else {
        pending.resolve(response as Res);
      }
    });
    const failAll = (error: Error) => {
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
      if (this.worker === worker) {
        this.worker = null;
        this.onLost();
      }
    };
    worker.on('error', (error) =>
      failAll(
        new VisionLoopError('INTERNAL', `${this.name} crashed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    worker.on('exit', (code) => {
      if (this.pending.size > 0) {
        failAll(new VisionLoopError('INTERNAL', `${this.name} exited with code ${code}`));
      }
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
