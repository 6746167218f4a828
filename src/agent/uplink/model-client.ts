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
import { agentModelPlanSchema, type AgentModelPlan } from '../../shared/api/inspection-chain.js';
import { HttpClient, type FetchLike } from '../../shared/http-client.js';
import { UplinkError, uplinkErrorOf } from './server-client.js';

/** The agent's model plan (`event: plan`, data: AgentModelPlan JSON), as the stream yields it. */
export interface PlanStreamEvent {
  type: 'plan';
  plan: AgentModelPlan;
}

/** What the agent's event stream carries: model alias moves and model plans. */
export type AgentStreamEvent = ModelEvent | PlanStreamEvent;

/** What the model updater and the plan follower need from the server. */
export interface ModelSource {
  /**
   * The agent's events: `model` events (starting with `current`) and, from a server with
   * rollouts, `plan` events (on connect and on every change); ends when the server closes the
   * stream. Events that do not parse are skipped.
   */
  modelEvents(agentId: string, signal: AbortSignal): AsyncIterable<AgentStreamEvent>;
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

/** One stream event: a `model` or `plan` event that parses; null for anything else. */
export function parseStreamEvent(event: string | undefined, data: string): AgentStreamEvent | null {
  if (data === '' || (event !== 'model' && event !== 'plan')) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  if (event === 'model') {
    const parsed = modelEventSchema.safeParse(json);
    return parsed.success ? parsed.data : null;
  }
  const parsed = agentModelPlanSchema.safeParse(json);
  return parsed.success ? { type: 'plan', plan: parsed.data } : null;
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

  async *modelEvents(agentId: string, signal: AbortSignal): AsyncIterable<AgentStreamEvent> {
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
          const parsed = parseStreamEvent(event, data);
          if (parsed !== null) yield parsed;
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
