/**
 * How CLI commands that talk to a running server find it and authenticate. `models` and
 * `retrain` (`connect`): `--server`, else $VISIONLOOP_SERVER_URL, else http://127.0.0.1:8080;
 * a token from `--token`, else `--token-file`, else $VISIONLOOP_TOKEN, else the admin-token
 * file of the data directory. `dataset`, `drift` and `token` with `--server` take only a token
 * given explicitly (`explicitToken`).
 */
import { readFileSync } from 'node:fs';
import { loadServerConfig } from '../config/server.config.js';
import { ERROR_CATALOGUE, VisionLoopError, type ErrorCode } from '../shared/errors.js';

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
  base: string;
  token: string;
  fetch: typeof fetch;
}

/** Whether a code from a server's error body is one of ours (else it is reported as-is). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
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
