/**
 * The one HTTP client core for everything that talks to a VisionLoop server: the agent's
 * uplink (src/agent/uplink/server-client.ts, model-client.ts) and the CLI's server commands
 * (src/cli/server-connection.ts). It owns what they share: the base URL (validated, its path
 * prefix kept; request paths never leave its host), the bearer token, a per-request timeout,
 * and turning a failed exchange into one typed HttpClientError with the server's
 * `{"error":{code,message}}` code and message, or NETWORK / TIMEOUT / HTTP_<status> /
 * BAD_RESPONSE when the server sent none. What a failure means (retry? tell a person?) is the
 * caller's business: the uplink maps it to UplinkError kinds, the CLI to VisionLoopErrors.
 *
 * Browser-safe (fetch, URL, AbortSignal; no Node imports), so the dashboard may use it too.
 * It never retries and holds no state beyond its configuration.
 */
import type { z } from 'zod';
import { errorBodySchema } from './api/common.js';
import { VisionLoopError } from './errors.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** A request body: a JSON value (serialized here), or raw bytes or text with their type. */
export type HttpBody = { json: unknown } | { data: string | Uint8Array<ArrayBuffer>; type: string };

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface HttpClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; null sends no credential. */
  token: string | null;
  /** Per-request timeout, ms; null for none. Default DEFAULT_REQUEST_TIMEOUT_MS. */
  timeoutMs?: number | null;
  /** Injected for tests; default the global fetch. */
  fetch?: FetchLike;
}

export interface HttpRequestOptions {
  body?: HttpBody;
  /** The `accept` header, when the caller wants one. */
  accept?: string;
  /** The caller's cancellation: when it fires, its own abort error is thrown as it is. */
  signal?: AbortSignal;
  /** This request's timeout instead of the client's (null: none). */
  timeoutMs?: number | null;
}

/**
 * One failed exchange. `status` is the HTTP status (0 when no answer came); `code` the
 * server's error code, else `NETWORK`, `TIMEOUT`, `HTTP_<status>` (an error answer without our
 * error body) or `BAD_RESPONSE` (a 2xx answer that does not match the contract); `detail` the
 * server's message (or what went wrong); `message` names the request as well.
 */
export class HttpClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    message: string,
    /** From a Retry-After header, ms. */
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpClientError';
  }
}

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

/** A Retry-After header (seconds or an HTTP date) in ms; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function describeNetworkError(error: unknown): { code: string; detail: string } {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return { code: 'TIMEOUT', detail: 'the server did not answer in time' };
  }
  // fetch's TypeError carries the system error (ECONNREFUSED…) as its cause.
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  const causeCode: unknown =
    typeof cause === 'object' && cause !== null ? Reflect.get(cause, 'code') : null;
  const detail =
    typeof causeCode === 'string'
      ? causeCode
      : cause instanceof Error
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
  return { code: 'NETWORK', detail: `cannot reach the server (${detail})` };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export class HttpClient {
  /** The validated base URL, with a trailing slash (never includes the token). */
  readonly baseUrl: string;
  private readonly token: string | null;
  private readonly timeoutMs: number | null;
  private readonly fetchImpl: FetchLike;

  constructor(options: HttpClientOptions) {
    this.baseUrl = normalizeServerUrl(options.baseUrl);
    this.token = options.token;
    this.timeoutMs =
      options.timeoutMs === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : options.timeoutMs;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The absolute URL of `path` (with or without a leading slash), under the base URL. */
  url(path: string): string {
    return `${this.baseUrl}${path.replace(/^\/+/, '')}`;
  }

  /**
   * Sends one request and returns the answer, its body unread, when it is a 2xx. Throws an
   * HttpClientError for no answer or an error answer (whose body it reads).
   */
  async request(
    method: HttpMethod,
    path: string,
    options: HttpRequestOptions = {},
  ): Promise<Response> {
    const what = `${method} /${path.replace(/^\/+/, '')}`;
    const headers: Record<string, string> = {};
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (options.body !== undefined) {
      const given = options.body;
      headers['content-type'] = 'json' in given ? 'application/json' : given.type;
      body = 'json' in given ? JSON.stringify(given.json) : given.data;
    }
    if (options.accept !== undefined) headers.accept = options.accept;
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : options.timeoutMs;
    const timeout = timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (signals.length > 0)
      init.signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), init);
    } catch (error) {
      throw this.networkFailure(what, error, options.signal);
    }
    if (!response.ok) throw await this.answerFailure(what, response, options.signal);
    return response;
  }

  /** `request`, then the JSON answer checked against `schema` (else BAD_RESPONSE). */
  async json<Schema extends z.ZodType>(
    method: HttpMethod,
    path: string,
    schema: Schema,
    options: HttpRequestOptions = {},
  ): Promise<z.output<Schema>> {
    const what = `${method} /${path.replace(/^\/+/, '')}`;
    const response = await this.request(method, path, options);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.networkFailure(what, error, options.signal);
    }
    const parsed = schema.safeParse(safeJson(text));
    if (!parsed.success) {
      const detail = `the server's answer does not match the contract: ${parsed.error.message.slice(0, 300)}`;
      throw new HttpClientError(response.status, 'BAD_RESPONSE', detail, `${what}: ${detail}`);
    }
    return parsed.data;
  }

  /** The caller's own abort as it is; anything else as a NETWORK or TIMEOUT HttpClientError. */
  private networkFailure(what: string, error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted === true) return error;
    const { code, detail } = describeNetworkError(error);
    return new HttpClientError(0, code, detail, `${what}: ${detail}`, null, { cause: error });
  }

  private async answerFailure(
    what: string,
    response: Response,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (signal?.aborted === true) return error;
      text = '';
    }
    const parsed = errorBodySchema.safeParse(safeJson(text));
    const code = parsed.success ? parsed.data.error.code : `HTTP_${response.status}`;
    const detail = parsed.success ? parsed.data.error.message : text.slice(0, 200);
    return new HttpClientError(
      response.status,
      code,
      detail,
      `${what}: ${response.status} ${code}: ${detail}`,
      parseRetryAfter(response.headers.get('retry-after')),
    );
  }
}
