/**
 * The agent's HTTP client for following `production`: the model event stream
 * (`GET /api/agents/{id}/events`, server-sent events) and artifact downloads
 * (`GET /api/models/{version}/artifact`), written to disk while hashed and accepted only when
 * the sha256 is the one announced. Requests go through the shared HTTP client core
 * (src/shared/http-client.ts); failures are UplinkErrors (server-client.ts), so callers know
 * whether trying again helps.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { modelEventSchema, type ModelEvent } from '../../shared/api/events.js';
import { HttpClient, type FetchLike } from '../../shared/http-client.js';
import { UplinkError, uplinkErrorOf } from './server-client.js';

/** What the model updater needs from the server. */
export interface ModelSource {
  /** Model events, starting with `current`; ends when the server closes the stream. */
  modelEvents(agentId: string, signal: AbortSignal): AsyncIterable<ModelEvent>;
  /**
   * Downloads a version's model.onnx to `destination` (atomically: a temp file renamed into
   * place) and checks its sha256. Throws when it differs.
   */
  downloadArtifact(
    version: string,
    expectedSha256: string,
    destination: string,
    signal: AbortSignal,
  ): Promise<void>;
}

export interface ModelClientOptions {
  baseUrl: string;
  token: string;
  /** A download may take this long, ms. Default 10 minutes. */
  downloadTimeoutMs?: number;
  fetch?: FetchLike;
}

function networkError(what: string, error: unknown): UplinkError {
  const message = error instanceof Error ? error.message : String(error);
  return new UplinkError('transient', 0, 'NETWORK', `${what}: ${message}`, null, { cause: error });
}

/** Parses one server-sent-event block into its event name and data. */
function parseBlock(block: string): { event: string | undefined; data: string } {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n') };
}

export class ModelClient implements ModelSource {
  private readonly http: HttpClient;
  private readonly downloadTimeoutMs: number;

  constructor(options: ModelClientOptions) {
    // The event stream is open for as long as the agent runs: no per-request timeout.
    this.http = new HttpClient({
      baseUrl: options.baseUrl,
      token: options.token,
      timeoutMs: null,
      fetch: options.fetch,
    });
    this.downloadTimeoutMs = options.downloadTimeoutMs ?? 10 * 60_000;
  }

  async *modelEvents(agentId: string, signal: AbortSignal): AsyncIterable<ModelEvent> {
    const path = `api/agents/${encodeURIComponent(agentId)}/events`;
    const what = `GET /${path}`;
    let response: Response;
    try {
      response = await this.http.request('GET', path, { accept: 'text/event-stream', signal });
    } catch (error) {
      if (signal.aborted) return;
      throw uplinkErrorOf(error);
    }
    if (response.body === null) throw networkError(what, new Error('the answer has no body'));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const { event, data } = parseBlock(buffer.slice(0, end).replace(/\r/g, ''));
          buffer = buffer.slice(end + 2);
          if (event === 'model' && data !== '') {
            const parsed = modelEventSchema.safeParse(JSON.parse(data));
            if (parsed.success) yield parsed.data;
          }
          end = buffer.indexOf('\n\n');
        }
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (signal.aborted) return;
          throw networkError(what, error);
        }
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  async downloadArtifact(
    version: string,
    expectedSha256: string,
    destination: string,
    signal: AbortSignal,
  ): Promise<void> {
    const path = `api/models/${encodeURIComponent(version)}/artifact`;
    const what = `GET /${path}`;
    let response: Response;
    try {
      response = await this.http.request('GET', path, {
        signal,
        timeoutMs: this.downloadTimeoutMs,
      });
    } catch (error) {
      if (signal.aborted) throw networkError(what, error);
      throw uplinkErrorOf(error);
    }
    if (response.body === null) throw networkError(what, new Error('the answer has no body'));
    await mkdir(dirname(destination), { recursive: true });
    const tmp = join(dirname(destination), `.download-${randomBytes(6).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        hasher,
        createWriteStream(tmp, { mode: 0o600 }),
      );
      const actual = hash.digest('hex');
      if (actual !== expectedSha256) {
        throw new UplinkError(
          'transient',
          response.status,
          'SHA256_MISMATCH',
          `${what}: the download's sha256 is ${actual.slice(0, 12)}…, not the announced ${expectedSha256.slice(0, 12)}…`,
        );
      }
      await rename(tmp, destination);
    } catch (error) {
      await rm(tmp, { force: true });
      if (error instanceof UplinkError) throw error;
      throw networkError(what, error);
    }
  }
}
