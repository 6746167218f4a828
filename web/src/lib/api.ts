/**
 * The dashboard's one HTTP client. Every answer is parsed with the zod schema the server
 * itself uses (imported from src/shared/api), so a contract change breaks the build or shows
 * as a clear error, never as a wrong number. Errors are `ApiError` with the server's
 * `{"error":{"code","message"}}`. A 401 (revoked, expired or unknown token) signs the user
 * out: `onUnauthenticated` is called and the app returns to the sign-in page.
 *
 * Never call `fetch` for /api directly from a page: use `api` (or `useQuery`).
 */
import type { z } from 'zod';
import { errorBodySchema } from '../../../src/shared/api/common.js';

/** Query values; undefined and null are left out, arrays become repeated keys. */
export type QueryValue =
  string | number | boolean | null | undefined | readonly (string | number)[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  signal?: AbortSignal;
}

/** A refused or failed request: `code` is from src/shared/errors.ts (or NETWORK / BAD_RESPONSE). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `path` with `query` appended (`/api/x?a=1&b=2`). */
export function withQuery(path: string, query?: Query): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value as readonly (string | number)[]) params.append(key, String(item));
    } else {
      params.append(key, String(value));
    }
  }
  const text = params.toString();
  return text === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${text}`;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * How old a prefetched answer may be when a page asks for it (ms since it was sent): older
 * ones are asked again, so a slow start never shows numbers older than the pages' own polling.
 */
export const PREFETCH_MAX_AGE_MS = 10_000;

/**
 * How answers and live events are checked against their contracts: without zod's compiled
 * fast path (`jitless`). zod compiles a parser for each object schema on its first parse
 * (code generation and `new Function`); the dashboard parses each schema a few times a
 * second at most, so the compile is all cost, and at the first load it sat on the path to the
 * first numbers (docs/dashboard.md#speed).
 */
export const PARSE_OPTIONS = { jitless: true } as const;

export class ApiClient {
  private token: string | null = null;
  /** Called once per 401 answer (the token no longer works). */
  onUnauthenticated: ((error: ApiError) => void) | null = null;

  setToken(token: string | null): void {
    this.token = token;
  }

  getToken(): string | null {
    return this.token;
  }

  get<S extends z.ZodType>(
    path: string,
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    const early = this.takePrefetched(withQuery(path, options?.query));
    if (early !== undefined) return this.adopt(path, early, schema);
    return this.json('GET', path, undefined, schema, options);
  }

  /**
   * The answer index.html's script already requested for `url` (app/boot.ts), when it was sent
   * with this client's token less than PREFETCH_MAX_AGE_MS ago; each is taken once. Later
   * requests of the same URL go to the server as usual.
   */
  private takePrefetched(url: string): Promise<Response> | undefined {
    const early = globalThis.window?.__visionloopPrefetch;
    if (early === undefined || early.token !== this.token) return undefined;
    const response = early.responses[url];
    if (response === undefined) return undefined;
    delete early.responses[url];
    if (performance.now() - early.at > PREFETCH_MAX_AGE_MS) return undefined;
    return response;
  }

  post<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    return this.json('POST', path, body, schema, options);
  }

  put<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    return this.json('PUT', path, body, schema, options);
  }

  delete<S extends z.ZodType>(
    path: string,
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    return this.json('DELETE', path, undefined, schema, options);
  }

  /** A binary answer (frame JPEGs, exports), with the same auth and error handling. */
  async blob(path: string, options?: RequestOptions): Promise<Blob> {
    const response = await this.send('GET', path, undefined, options);
    return response.blob();
  }

  /**
   * A GET of `path` answered by `pending`, a fetch someone started earlier (index.html starts
   * the session check before the app's code loads), handled like `get`: errors, 401, schema.
   */
  async adopt<S extends z.ZodType>(
    path: string,
    pending: Promise<Response>,
    schema: S,
  ): Promise<z.output<S>> {
    let response: Response;
    try {
      response = await pending;
    } catch {
      throw new ApiError(0, 'NETWORK', `cannot reach the server (GET ${path})`);
    }
    return this.parse('GET', path, await this.check(response), schema);
  }

  private async json<S extends z.ZodType>(
    method: Method,
    path: string,
    body: unknown,
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    return this.parse(method, path, await this.send(method, path, body, options), schema);
  }

  private async parse<S extends z.ZodType>(
    method: Method,
    path: string,
    response: Response,
    schema: S,
  ): Promise<z.output<S>> {
    let payload: unknown;
    try {
      payload = await response.json();
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', `${method} ${path}: not JSON`);
    }
    const parsed = schema.safeParse(payload, PARSE_OPTIONS);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where =
        issue === undefined ? '' : ` at ${issue.path.join('.') || '(root)'}: ${issue.message}`;
      throw new ApiError(
        response.status,
        'BAD_RESPONSE',
        `${method} ${path}: the answer does not match the contract${where}`,
      );
    }
    return parsed.data;
  }

  private async send(
    method: Method,
    path: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(withQuery(path, options?.query), {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: options?.signal ?? null,
        cache: 'no-store',
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new ApiError(0, 'NETWORK', `cannot reach the server (${method} ${path})`);
    }
    return this.check(response);
  }

  /** `response` when it is a success; otherwise its ApiError (a 401 signs out). */
  private async check(response: Response): Promise<Response> {
    if (response.ok) return response;
    const failure = await readError(response);
    if (response.status === 401) this.onUnauthenticated?.(failure);
    throw failure;
  }
}

async function readError(response: Response): Promise<ApiError> {
  try {
    const parsed = errorBodySchema.safeParse(await response.json());
    if (parsed.success) {
      return new ApiError(response.status, parsed.data.error.code, parsed.data.error.message);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(
    response.status,
    `HTTP_${response.status}`,
    response.statusText || 'request failed',
  );
}

/** The dashboard's client; the auth state sets its token. */
export const api = new ApiClient();

/** A message for people from anything thrown by a request. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}
