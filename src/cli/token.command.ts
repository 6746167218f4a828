/**
 * `visionloop token create|list|revoke`: API tokens.
 *
 * Without `--server`, works directly on the configured database (bootstrap: no server needs to
 * run, and nobody needs a token to make the first one — having the database is the
 * credential). With `--server URL` and an admin token (`--token`, `--token-file`, or
 * $VISIONLOOP_TOKEN), goes through the HTTP API instead.
 *
 * `create` prints only the secret on stdout (so `TOKEN=$(visionloop token create …)` works)
 * and the details on stderr; `--json` prints everything as JSON on stdout.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { loadServerConfig } from '../config/server.config.js';
import { openLocalTokenAdmin } from '../main/server.main.js';
import { SCOPES } from '../shared/api/common.js';
import type { Scope } from '../shared/api/common.js';
import { errorBodySchema } from '../shared/api/common.js';
import {
  createdTokenSchema,
  tokenInfoSchema,
  tokenListResponseSchema,
} from '../shared/api/tokens.js';
import type { CreateTokenRequest, CreatedToken, TokenInfo } from '../shared/api/tokens.js';
import { VisionLoopError } from '../shared/errors.js';
import type { z } from 'zod';
import { formatTable } from './output.js';
import { explicitToken, isErrorCode } from './server-connection.js';
import { parseNumberInRange } from './parse-options.js';
import { addDatabaseOptions, overridesFrom } from './server.command.js';
import type { DatabaseFlags } from './server.command.js';

interface RemoteFlags extends DatabaseFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

interface CreateFlags extends RemoteFlags {
  scope: Scope;
  name?: string;
  expiresInDays?: number;
}

export interface TokenCommandDeps {
  env?: Record<string, string | undefined>;
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  fetch?: typeof fetch;
  now?: () => number;
}

/** What the token commands do, locally or over HTTP. */
interface TokenAdmin {
  create(request: CreateTokenRequest): Promise<CreatedToken>;
  list(): Promise<TokenInfo[]>;
  revoke(id: string): Promise<TokenInfo>;
  close(): Promise<void>;
}

function adminTokenFrom(flags: RemoteFlags, env: Record<string, string | undefined>): string {
  const token = explicitToken(flags, env);
  if (token !== null) return token;
  throw new VisionLoopError(
    'INVALID_ARGUMENT',
    '--server needs an admin token: --token, --token-file or $VISIONLOOP_TOKEN',
  );
}

function remoteAdmin(server: string, token: string, fetchImpl: typeof fetch): TokenAdmin {
  const base = server.replace(/\/+$/, '');
  async function call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    body?: unknown,
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new VisionLoopError('INVALID_ARGUMENT', `cannot reach the server at ${base}`, {
        cause: error,
      });
    }
    const payload: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const failure = errorBodySchema.safeParse(payload);
      if (failure.success && isErrorCode(failure.data.error.code)) {
        throw new VisionLoopError(failure.data.error.code, failure.data.error.message);
      }
      throw new VisionLoopError('INTERNAL', `the server answered HTTP ${response.status}`);
    }
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      throw new VisionLoopError('INTERNAL', `unexpected answer from ${base}${path}`);
    }
    return parsed.data;
  }
  return {
    create: (request) => call('POST', '/api/tokens', createdTokenSchema, request),
    list: async () => (await call('GET', '/api/tokens', tokenListResponseSchema)).tokens,
    revoke: (id) => call('DELETE', `/api/tokens/${encodeURIComponent(id)}`, tokenInfoSchema),
    close: () => Promise.resolve(),
  };
}

async function openAdmin(flags: RemoteFlags, deps: TokenCommandDeps): Promise<TokenAdmin> {
  const env = deps.env ?? process.env;
  if (flags.server !== undefined) {
    return remoteAdmin(flags.server, adminTokenFrom(flags, env), deps.fetch ?? fetch);
  }
  const local = await openLocalTokenAdmin(loadServerConfig(env, overridesFrom(flags)));
  return {
    create: (request) => local.auth.createToken(request, 'cli'),
    list: () => local.auth.listTokens(),
    revoke: (id) => local.auth.revokeToken(id),
    close: () => local.close(),
  };
}

async function withAdmin<T>(
  flags: RemoteFlags,
  deps: TokenCommandDeps,
  run: (admin: TokenAdmin) => Promise<T>,
): Promise<T> {
  const admin = await openAdmin(flags, deps);
  try {
    return await run(admin);
  } finally {
    await admin.close();
  }
}

function date(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function addRemoteOptions(command: Command): Command {
  return addDatabaseOptions(
    command
      .option('--server <url>', 'manage tokens through this server instead of the local database')
      .option(
        '--token <token>',
        'admin token for --server (prefer --token-file or $VISIONLOOP_TOKEN)',
      )
      .option('--token-file <path>', 'file holding the admin token for --server')
      .option('--json', 'print JSON'),
  );
}

export function registerTokenCommands(program: Command, deps: TokenCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const now = deps.now ?? Date.now;
  const token = program.command('token').description('Create, list and revoke API tokens.');

  addRemoteOptions(
    token
      .command('create')
      .description('Create a token and print its secret (shown once).')
      .addOption(
        new Option('--scope <scope>', 'what it may do').choices(SCOPES).makeOptionMandatory(),
      )
      .option('--name <name>', 'who or what holds it (default: the scope and the date)')
      .option(
        '--expires-in-days <days>',
        'stop working after this many days (default: never)',
        parseNumberInRange(0.001, 36_500),
      ),
  ).action(async (flags: CreateFlags) => {
    const at = now();
    const request: CreateTokenRequest = {
      name: flags.name ?? `${flags.scope} ${date(at).slice(0, 10)}`,
      scope: flags.scope,
      ...(flags.expiresInDays === undefined
        ? {}
        : { expiresAt: Math.round(at + flags.expiresInDays * 86_400_000) }),
    };
    const created = await withAdmin(flags, deps, (admin) => admin.create(request));
    if (flags.json === true) {
      out.write(`${JSON.stringify(created, null, 2)}\n`);
      return;
    }
    out.write(`${created.token}\n`);
    err.write(
      `created ${created.scope} token ${created.id} "${created.name}"` +
        `${created.expiresAt === null ? '' : `, expires ${date(created.expiresAt)}`}. ` +
        'The secret above is shown only now.\n',
    );
  });

  addRemoteOptions(token.command('list').description('List tokens (never their secrets).')).action(
    async (flags: RemoteFlags) => {
      const tokens = await withAdmin(flags, deps, (admin) => admin.list());
      if (flags.json === true) {
        out.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      const rows = tokens.map((t) => [
        t.id,
        t.scope,
        t.name,
        date(t.createdAt),
        date(t.lastUsedAt),
        t.revokedAt !== null
          ? `revoked ${date(t.revokedAt)}`
          : t.expiresAt !== null && t.expiresAt <= now()
            ? 'expired'
            : 'active',
      ]);
      out.write(`${formatTable(['id', 'scope', 'name', 'created', 'last used', 'state'], rows)}\n`);
    },
  );

  addRemoteOptions(
    token
      .command('revoke')
      .description('Revoke a token: it stops working at once.')
      .argument('<id>', 'the token id (tok_…)'),
  ).action(async (id: string, flags: RemoteFlags) => {
    const revoked = await withAdmin(flags, deps, (admin) => admin.revoke(id));
    if (flags.json === true) {
      out.write(`${JSON.stringify(revoked, null, 2)}\n`);
      return;
    }
    out.write(`revoked ${revoked.id} (${revoked.scope}, "${revoked.name}")\n`);
  });
}
