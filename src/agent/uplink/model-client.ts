/**
 * The agent's HTTP client for following `production`: the model event stream
 * (`GET /api/agents/{id}/events`, server-sent events) and artifact downloads
 * (`GET /api/models/{version}/artifact`), written to disk while hashed and accepted only when
 * the sha256 is the one announced. Failures are UplinkErrors (server-client.ts), so callers
 * know whether trying again helps.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { errorBodySchema } from '../../shared/api/common.js';
import { modelEventSchema, type ModelEvent } from '../../shared/api/events.js';
import { UplinkError, classifyStatus, normalizeServerUrl } from './server-client.js';

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
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

async function failureOf(response: Response, what: string): Promise<UplinkError> {
  const text = await response.text().catch(() => '');
  let code = `HTTP_${response.status}`;
  let detail = text.slice(0, 200);
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      code = parsed.data.error.code;
      detail = parsed.data.error.message;
    }
  } catch {
    // Not JSON: keep the text.
  }
  return new UplinkError(
    classifyStatus(response.status),
    response.status,
    code,
    `${what}: ${response.status} ${code}: ${detail}`,
  );
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
  private readonly baseUrl: string;
  private readonly fetchImpl: (input: string, init: RequestInit) => Promise<Response>;
  private readonly downloadTimeoutMs: number;

  constructor(private readonly options: ModelClientOptions) {
    this.baseUrl = normalizeServerUrl(options.baseUrl);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.downloadTimeoutMs = options.downloadTimeoutMs ?? 10 * 60_000;
  }

  async *modelEvents(agentId: string, signal: AbortSignal): AsyncIterable<ModelEvent> {
    const what = 'GET /api/agents/{id}/events';
    const url = new URL(`api/agents/${encodeURIComponent(agentId)}/events`, this.baseUrl).href;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        headers: { authorization: `Bearer ${this.options.token}`, accept: 'text/event-stream' },
        signal,
      });
    } catch (error) {
      if (signal.aborted) return;
      throw networkError(what, error);
    }
    if (!response.ok || response.body === null) throw await failureOf(response, what);
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
    const what = `GET /api/models/${version}/artifact`;
    const url = new URL(`api/models/${encodeURIComponent(version)}/artifact`, this.baseUrl).href;
    const timeout = AbortSignal.timeout(this.downloadTimeoutMs);
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        headers: { authorization: `Bearer ${this.options.token}` },
        signal: AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      throw networkError(what, error);
    }
    if (!response.ok || response.body === null) throw await failureOf(response, what);
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
