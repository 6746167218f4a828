/**
 * How CLI commands that talk to a running server find it and authenticate. `models`,
 * `retrain` and `label` (`connect`): `--server`, else $VISIONLOOP_SERVER_URL, else http://127.0.0.1:8080;
 * a token from `--token`, else `--token-file`, else $VISIONLOOP_TOKEN, else the admin-token
 * file of the data directory. `dataset`, `drift` and `token` with `--server` take only a token
 * given explicitly (`explicitToken`).
 *
 * `requestServer`, `callServer` and `fetchServerBytes` are how `models`, `retrain`, `label` and
 * `drift --server` talk to the server, over the shared HTTP client core
 * (src/shared/http-client.ts): they turn an unreachable server and `{"error":{code,message}}`
 * answers into VisionLoopErrors, so a command never prints a stack trace or a raw HTTP body.
 * They never follow a URL to another host: every path is resolved against the connection's
 * base.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { z } from 'zod';
import { loadServerConfig } from '../config/server.config.js';
import { VisionLoopError, isErrorCode } from '../shared/errors.js';
import {
  HttpClient,
  HttpClientError,
  type HttpBody,
  type HttpMethod,
} from '../shared/http-client.js';

export { isErrorCode };

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

export interface ConnectionFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/** What a server-talking command may be given instead of the process's own (tests). */
export interface ServerCommandDeps {
  env?: Record<string, string | undefined>;
  stdout?: { write(text: string): unknown };
  fetch?: typeof fetch;
}

export interface Connection {
  /** The server's URL without a trailing slash; request paths are appended to it. */
  base: string;
  /** Sent as `Authorization: Bearer …`; null sends no credential (loopback reads). */
  token: string | null;
  fetch: typeof fetch;
}

/**
 * The token given explicitly: `--token`, else the contents of `--token-file`, else
 * $VISIONLOOP_TOKEN (empty counts as unset); null when none is. An unreadable --token-file is
 * an INVALID_ARGUMENT naming the file.
 */
export function explicitToken(
  flags: Pick<ConnectionFlags, 'token' | 'tokenFile'>,
  env: Record<string, string | undefined>,
): string | null {
  if (flags.token !== undefined) return flags.token;
  if (flags.tokenFile !== undefined) {
    try {
      return readFileSync(flags.tokenFile, 'utf8').trim();
    } catch (error) {
      throw new VisionLoopError('INVALID_ARGUMENT', `cannot read --token-file ${flags.tokenFile}`, {
        cause: error,
      });
    }
  }
  const fromEnv = env.VISIONLOOP_TOKEN;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : null;
}

function tokenFrom(flags: ConnectionFlags, env: Record<string, string | undefined>): string {
  if (flags.token !== undefined) return flags.token;
  const file =
    flags.tokenFile ?? (env.VISIONLOOP_TOKEN ? undefined : loadServerConfig(env).adminTokenFile);
  if (file === undefined) return env.VISIONLOOP_TOKEN ?? '';
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `no token: give --token, --token-file or $VISIONLOOP_TOKEN (cannot read ${file})`,
      { cause: error },
    );
  }
}

export function connect(flags: ConnectionFlags, deps: ServerCommandDeps): Connection {
  const env = deps.env ?? process.env;
  const server = flags.server ?? env.VISIONLOOP_SERVER_URL ?? DEFAULT_SERVER_URL;
  return {
    base: server.replace(/\/+$/, ''),
    token: tokenFrom(flags, env),
    fetch: deps.fetch ?? fetch,
  };
}

/** `--server`, `--token`, `--token-file` and `--json`, as every `connect` command takes them. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option(
      '--server <url>',
      `the server (default $VISIONLOOP_SERVER_URL or ${DEFAULT_SERVER_URL})`,
    )
    .option('--token <token>', 'API token (prefer --token-file or $VISIONLOOP_TOKEN)')
    .option('--token-file <path>', 'file holding the API token (default: the admin-token file)')
    .option('--json', 'print the JSON answer');
}

export type ServerMethod = Exclude<HttpMethod, 'PATCH'>;

/** A request body: a JSON value (serialized here), or raw bytes with their content type. */
export type ServerRequestBody = HttpBody;

/** The core client for a connection: no timeout (an upload or a training may take long). */
function clientOf(connection: Connection): HttpClient {
  return new HttpClient({
    baseUrl: connection.base,
    token: connection.token,
    timeoutMs: null,
    fetch: (input, init) => connection.fetch(input, init),
  });
}

/** The VisionLoopError a failure of the HTTP client core stands for; anything else as it is. */
function commandErrorOf(connection: Connection, path: string, error: unknown): unknown {
  if (!(error instanceof HttpClientError)) return error;
  if (error.status === 0) {
    return new VisionLoopError(
      'INVALID_ARGUMENT',
      `cannot reach the server at ${connection.base}`,
      {
        cause: error,
      },
    );
  }
  if (error.code === 'BAD_RESPONSE') {
    return new VisionLoopError('INTERNAL', `unexpected answer from ${connection.base}${path}`);
  }
  if (isErrorCode(error.code)) return new VisionLoopError(error.code, error.detail);
  return new VisionLoopError('INTERNAL', `the server answered HTTP ${error.status}`);
}

/**
 * Sends one request to `connection.base + path` with the connection's token and returns the
 * answer, its body unread, when it is a 2xx. An unreachable server is an INVALID_ARGUMENT
 * naming it; an error answer is thrown as the VisionLoopError of its
 * `{"error":{code,message}}` body (INTERNAL naming the HTTP status when the body is not one).
 */
export async function requestServer(
  connection: Connection,
  method: ServerMethod,
  path: string,
  body?: ServerRequestBody,
): Promise<Response> {
  try {
    return await clientOf(connection).request(method, path, body === undefined ? {} : { body });
  } catch (error) {
    throw commandErrorOf(connection, path, error);
  }
}

/**
 * `requestServer`, then the JSON answer checked against `schema` (an answer that does not
 * match is an INTERNAL naming the URL: a server of another version, or not VisionLoop).
 */
export async function callServer<T>(
  connection: Connection,
  method: ServerMethod,
  path: string,
  schema: z.ZodType<T>,
  body?: ServerRequestBody,
): Promise<T> {
  try {
    return await clientOf(connection).json(
      method,
      path,
      schema,
      body === undefined ? {} : { body },
    );
  } catch (error) {
    throw commandErrorOf(connection, path, error);
  }
}

/** A binary `GET` (a frame's JPEG): the answer's bytes, with the errors of `requestServer`. */
export async function fetchServerBytes(connection: Connection, path: string): Promise<Buffer> {
  const response = await requestServer(connection, 'GET', path);
  try {
    return Buffer.from(await response.arrayBuffer());
  } catch (error) {
    throw new VisionLoopError(
      'INTERNAL',
      `the answer from ${connection.base}${path} broke off before its end`,
      { cause: error },
    );
  }
}
