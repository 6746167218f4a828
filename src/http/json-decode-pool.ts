/**
 * JSON bodies parsed and validated in a worker thread (json-decode.worker.ts), for the routes
 * whose bodies are large and frequent — ingest batches. On one thread, decoding, parsing and
 * validating a 1000-result batch took about a third of the server's time per batch; in the
 * worker they overlap the database work of the batches before it (bench/ingest.bench.ts,
 * docs/architecture.md).
 *
 * One worker per spare core (at most 2), started on first use, unreferenced while idle so it
 * never keeps a process alive, and restarted if it dies. `close()` stops them.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { siblingModuleUrl, startModuleWorker } from '../inference/module-worker.js';
import { VisionLoopError } from '../shared/errors.js';
import { describeIssues } from './validation-message.js';
import type {
  DecodeRequest,
  DecodeResponse,
  DecodeSchemaName,
  DecodedBodies,
} from './json-decode.protocol.js';

type Pending = { resolve: (response: DecodeResponse) => void; reject: (error: Error) => void };

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class JsonDecodePool {
  private readonly workers: (PoolWorker | null)[];
  private nextRequestId = 1;
  private next = 0;
  private closed = false;

  constructor(size = Math.max(1, Math.min(2, availableParallelism() - 1))) {
    this.workers = Array.from({ length: size }, () => null);
  }

  /**
   * The body parsed and validated against `schema`. Rejects with VALIDATION_FAILED (400) when
   * the body is not JSON or does not match, naming the first problems.
   */
  async decode<S extends DecodeSchemaName>(schema: S, body: Buffer): Promise<DecodedBodies[S]> {
    const response = await this.request(schema, body);
    // The worker validated the value against SCHEMAS[schema] (json-decode.worker.ts).
    if (response.ok) return response.value as DecodedBodies[S];
    if (response.kind === 'json') {
      throw new VisionLoopError(
        'VALIDATION_FAILED',
        `the body is not valid JSON: ${response.message}`,
      );
    }
    throw new VisionLoopError(
      'VALIDATION_FAILED',
      describeIssues('body', response.issues, response.total),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const running = this.workers.filter((w): w is PoolWorker => w !== null);
    this.workers.fill(null);
    await Promise.all(running.map(({ worker }) => worker.terminate()));
  }

  private request(schema: DecodeSchemaName, body: Buffer): Promise<DecodeResponse> {
    if (this.closed) {
      return Promise.reject(new VisionLoopError('INTERNAL', 'the JSON decode pool is closed'));
    }
    const slot = this.next;
    this.next = (this.next + 1) % this.workers.length;
    const target = this.workers[slot] ?? this.start(slot);
    const requestId = this.nextRequestId++;
    // A body that owns its whole ArrayBuffer moves to the worker; a slice of a shared one
    // (Node pools small buffers) is copied, so the pool is never detached.
    const owns = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    const bytes = owns ? body : new Uint8Array(body);
    const message: DecodeRequest = { requestId, schema, body: bytes };
    return new Promise<DecodeResponse>((resolve, reject) => {
      target.pending.set(requestId, { resolve, reject });
      target.worker.ref();
      target.worker.postMessage(message, [bytes.buffer as ArrayBuffer]);
    });
  }

  private start(slot: number): PoolWorker {
    const worker = startModuleWorker(siblingModuleUrl(import.meta.url, 'json-decode.worker'));
    const entry: PoolWorker = { worker, pending: new Map() };
    worker.on('message', (response: DecodeResponse) => {
      const pending = entry.pending.get(response.requestId);
      if (!pending) return;
      entry.pending.delete(response.requestId);
      if (entry.pending.size === 0) worker.unref();
      pending.resolve(response);
    });
    const fail = (error: Error) => {
      for (const pending of entry.pending.values()) pending.reject(error);
      entry.pending.clear();
      if (this.workers[slot] === entry) this.workers[slot] = null;
    };
    worker.on('error', (error) =>
      fail(new VisionLoopError('INTERNAL', `JSON decode worker crashed: ${error.message}`)),
    );
    worker.on('exit', (code) =>
      fail(new VisionLoopError('INTERNAL', `JSON decode worker exited with code ${code}`)),
    );
    worker.unref();
    this.workers[slot] = entry;
    return entry;
  }
}
