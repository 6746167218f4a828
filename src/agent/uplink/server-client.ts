/**
 * The agent's typed HTTP client for the server routes it speaks: register, heartbeat, ingest
 * and frame upload. Every answer is parsed with the shared zod schemas; every failure becomes
 * an UplinkError that says whether trying again can help:
 *
 * - `transient`: network errors, timeouts, 5xx, 408, 429, and 2xx answers it cannot parse
 *   (the request may or may not have been applied; ingest is idempotent, so sending again is
 *   safe) — retry with backoff;
 * - `auth`: 401/403 — the token is bad or revoked; stop sending and tell a person;
 * - `permanent`: any other 4xx — this item will never be accepted as it is.
 *
 * It never retries by itself and never holds state beyond its configuration: the sender
 * decides what to do with each outcome.
 */
import type { z } from 'zod';
import {
  heartbeatResponseSchema,
  registerAgentResponseSchema,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
} from '../../shared/api/agents.js';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  frameUploadResponseSchema,
  ingestBatchResponseSchema,
  type FrameUploadResponse,
  type IngestBatchResponse,
} from '../../shared/api/ingest.js';
import { VisionLoopError } from '../../shared/errors.js';

export type UplinkFailureKind = 'transient' | 'permanent' | 'auth';

/**
 * One failed exchange with the server. `status` is the HTTP status (0 when no answer came);
 * `code` is the server's error code (`NETWORK`, `TIMEOUT` or `BAD_RESPONSE` when it sent none).
 */
export class UplinkError extends Error {
  constructor(
    readonly kind: UplinkFailureKind,
    readonly status: number,
    readonly code: string,
    message: string,
    /** From a Retry-After header, ms. */
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UplinkError';
  }
}

export function isUplinkError(value: unknown): value is UplinkError {
  return value instanceof UplinkError;
}

/** How an HTTP status is handled (see the module comment). */
export function classifyStatus(status: number): UplinkFailureKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ServerClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  token: string;
  /** Per-request timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  fetch?: FetchLike;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Validates a server URL; the path prefix is kept and a trailing slash added. */
export function normalizeServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new VisionLoopError('INVALID_ARGUMENT', `invalid server URL '${value}'`, {
      cause: error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `the server URL must be http:// or https://, got '${value}'`,
    );
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function describeNetworkError(error: unknown): { code: string; message: string } {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return { code: 'TIMEOUT', message: 'the server did not answer in time' };
  }
  const cause = error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : null;
  const detail = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : '');
  return { code: 'NETWORK', message: `cannot reach the server (${String(detail)})` };
}

export class ServerClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: FetchLike;

  constructor(options: ServerClientOptions) {
    this.baseUrl = normalizeServerUrl(options.baseUrl);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Where requests go, for logs (never includes the token). */
  get serverUrl(): string {
    return this.baseUrl;
  }

  register(request: RegisterAgentRequest, signal?: AbortSignal): Promise<RegisterAgentResponse> {
    return this.call(
      'POST',
      'api/agents/register',
      jsonBody(request),
      registerAgentResponseSchema,
      signal,
    );
  }

  heartbeat(
    agentId: string,
    request: HeartbeatRequest,
    signal?: AbortSignal,
  ): Promise<HeartbeatResponse> {
    return this.call(
      'POST',
      `api/agents/${encodeURIComponent(agentId)}/heartbeat`,
      jsonBody(request),
      heartbeatResponseSchema,
      signal,
    );
  }

  /**
   * Sends one ingest batch. `body` is the JSON text of an IngestBatchRequest: the outbox keeps
   * results as JSON, so the sender joins them without parsing them again.
   */
  ingestRaw(body: string, signal?: AbortSignal): Promise<IngestBatchResponse> {
    return this.call(
      'POST',
      'api/ingest',
      { body, contentType: 'application/json' },
      ingestBatchResponseSchema,
      signal,
    );
  }

  /** Uploads the JPEG of a frame whose result the server has acknowledged. */
  uploadFrame(
    resultId: string,
    jpeg: Uint8Array,
    signal?: AbortSignal,
  ): Promise<FrameUploadResponse> {
    return this.call(
      'PUT',
      `api/frames/${encodeURIComponent(resultId)}`,
      // fetch takes only ArrayBuffer-backed views; a frame is tens of kB, so the copy is cheap.
      { body: new Uint8Array(jpeg), contentType: 'image/jpeg' },
      frameUploadResponseSchema,
      signal,
    );
  }

  private async call<Schema extends z.ZodType>(
    method: 'POST' | 'PUT',
    path: string,
    payload: { body: string | Uint8Array<ArrayBuffer>; contentType: string },
    schema: Schema,
    signal?: AbortSignal,
  ): Promise<z.output<Schema>> {
    const url = new URL(path, this.baseUrl).href;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          'content-type': payload.contentType,
          accept: 'application/json',
        },
        body: payload.body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      const { code, message } = describeNetworkError(error);
      throw new UplinkError('transient', 0, code, `${method} /${path}: ${message}`, null, {
        cause: error,
      });
    }
    if (!response.ok) {
      const kind = classifyStatus(response.status);
      const body = safeJson(text);
      const parsed = errorBodySchema.safeParse(body);
      const code = parsed.success ? parsed.data.error.code : `HTTP_${response.status}`;
      const detail = parsed.success ? parsed.data.error.message : text.slice(0, 200);
      throw new UplinkError(
        kind,
        response.status,
        code,
        `${method} /${path}: ${response.status} ${code}: ${detail}`,
        parseRetryAfter(response.headers.get('retry-after')),
      );
    }
    const parsed = schema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new UplinkError(
        'transient',
        response.status,
        'BAD_RESPONSE',
        `${method} /${path}: the server's answer does not match the contract: ${parsed.error.message.slice(0, 300)}`,
      );
    }
    return parsed.data;
  }
}

function jsonBody(value: unknown): { body: string; contentType: string } {
  return { body: JSON.stringify(value), contentType: 'application/json' };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
