/**
 * The agent's typed HTTP client for the server routes it speaks: register, heartbeat, ingest
 * and frame upload, over the shared HTTP client core (src/shared/http-client.ts: base URL,
 * token, timeout, error bodies). Every answer is parsed with the shared zod schemas; every
 * failure becomes an UplinkError that says whether trying again can help:
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
import {
  frameUploadResponseSchema,
  ingestBatchResponseSchema,
  type FrameUploadResponse,
  type IngestBatchResponse,
} from '../../shared/api/ingest.js';
import {
  HttpClient,
  HttpClientError,
  type FetchLike,
  type HttpBody,
  type HttpMethod,
} from '../../shared/http-client.js';

export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  normalizeServerUrl,
  type FetchLike,
} from '../../shared/http-client.js';

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

/** The UplinkError a failure of the HTTP client core stands for; anything else as it is. */
export function uplinkErrorOf(error: unknown): unknown {
  if (!(error instanceof HttpClientError)) return error;
  // No answer, or a 2xx that cannot be read: the request may have been applied or not.
  const kind =
    error.status === 0 || error.code === 'BAD_RESPONSE'
      ? 'transient'
      : classifyStatus(error.status);
  return new UplinkError(kind, error.status, error.code, error.message, error.retryAfterMs, {
    cause: error,
  });
}

export interface ServerClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  token: string;
  /** Per-request timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  fetch?: FetchLike;
}

export class ServerClient {
  private readonly http: HttpClient;

  constructor(options: ServerClientOptions) {
    this.http = new HttpClient({
      baseUrl: options.baseUrl,
      token: options.token,
      timeoutMs: options.timeoutMs,
      fetch: options.fetch,
    });
  }

  /** Where requests go, for logs (never includes the token). */
  get serverUrl(): string {
    return this.http.baseUrl;
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
      { data: body, type: 'application/json' },
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
      { data: new Uint8Array(jpeg), type: 'image/jpeg' },
      frameUploadResponseSchema,
      signal,
    );
  }

  private async call<Schema extends z.ZodType>(
    method: HttpMethod,
    path: string,
    body: HttpBody,
    schema: Schema,
    signal?: AbortSignal,
  ): Promise<z.output<Schema>> {
    try {
      return await this.http.json(method, path, schema, {
        body,
        accept: 'application/json',
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw uplinkErrorOf(error);
    }
  }
}

function jsonBody(value: unknown): HttpBody {
  return { json: value };
}
