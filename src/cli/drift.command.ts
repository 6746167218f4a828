/**
 * `visionloop drift status [--camera C] [--json]`: the drift monitor's latest state per camera
 * (level, drift share, drifted features, samples, reason).
 *
 * With `--server URL` it asks the server's `GET /api/metrics/drift` (a token from `--token`,
 * `--token-file` or $VISIONLOOP_TOKEN; none is needed from the server's own machine); without,
 * it reads the configured database directly (`--database-url`, `--data-dir`).
 */
import type { Command } from 'commander';
import { loadServerConfig } from '../config/server.config.js';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { createJobServices } from '../main/job-services.js';
import { LocalBlobStore } from '../repositories/blob-store.js';
import { InProcessEventBus } from '../services/event-bus.js';
import { errorBodySchema } from '../shared/api/common.js';
import { driftStatusResponseSchema, type DriftStatusResponse } from '../shared/api/drift.js';
import { VisionLoopError } from '../shared/errors.js';
import { formatTable } from './output.js';
import { explicitToken, isErrorCode } from './server-connection.js';
import { addDatabaseOptions, overridesFrom, type DatabaseFlags } from './server.command.js';

interface StatusFlags extends DatabaseFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  camera?: string;
  json?: boolean;
}

export interface DriftCommandDeps {
  env?: Record<string, string | undefined>;
  stdout?: { write(text: string): unknown };
  fetch?: typeof fetch;
}

function tokenFrom(flags: StatusFlags, env: Record<string, string | undefined>): string | null {
  return explicitToken(flags, env);
}

async function remoteStatus(
  server: string,
  token: string | null,
  camera: string | undefined,
  fetchImpl: typeof fetch,
): Promise<DriftStatusResponse> {
  const url = new URL('/api/metrics/drift', server.replace(/\/+$/, '') + '/');
  if (camera !== undefined) url.searchParams.set('camera', camera);
  let response: Response;
  try {
    response = await fetchImpl(url, {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
  } catch (error) {
    throw new VisionLoopError('INVALID_ARGUMENT', `cannot reach the server at ${server}`, {
      cause: error,
    });
  }
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const failure = errorBodySchema.safeParse(payload);
    const code = failure.success ? failure.data.error.code : '';
    if (failure.success && isErrorCode(code)) {
      throw new VisionLoopError(code, failure.data.error.message);
    }
    throw new VisionLoopError('INTERNAL', `the server answered HTTP ${response.status}`);
  }
  const parsed = driftStatusResponseSchema.safeParse(payload);
  if (!parsed.success) throw new VisionLoopError('INTERNAL', `unexpected answer from ${url.href}`);
  return parsed.data;
}

async function localStatus(
  flags: StatusFlags,
  env: Record<string, string | undefined>,
): Promise<DriftStatusResponse> {
  const config = loadServerConfig(env, overridesFrom(flags));
  const database = await openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(database);
    const { drift } = createJobServices(database, {
      blobStore: new LocalBlobStore(config.blobDir),
      events: new InProcessEventBus(),
      prometheus: { setDrift: () => undefined },
    });
    return await drift.status(flags.camera === undefined ? {} : { camera: flags.camera });
  } finally {
    await database.close();
  }
}

function formatShare(share: number | null): string {
  return share === null ? '-' : share.toFixed(2);
}

/** The status as people read it: the overall line, a table per camera, and each reason. */
export function formatDriftStatus(status: DriftStatusResponse): string {
  const overall = status.overall;
  const lines = [
    `drift: ${overall.level} (highest share ${formatShare(overall.driftShare)}; ` +
      `${overall.drifting.length} of ${overall.cameras} cameras drifting; thresholds ` +
      `p < ${status.thresholds.alpha}, share > ${status.thresholds.driftShareThreshold} yellow, ` +
      `> ${status.thresholds.redShareThreshold} red)`,
  ];
  if (status.cameras.length === 0) {
    lines.push('no drift reports yet (a worker runs the checks: `visionloop worker`)');
    return lines.join('\n');
  }
  lines.push(
    '',
    formatTable(
      ['CAMERA', 'LEVEL', 'STATUS', 'SHARE', 'DRIFTED', 'WINDOW', 'REFERENCE', 'MODEL', 'CHECKED'],
      status.cameras.map((camera) => [
        camera.camera,
        camera.level,
        camera.status,
        formatShare(camera.driftShare),
        camera.driftedFeatures.join(',') || '-',
        camera.window.samples,
        camera.reference?.samples ??
          (camera.baseline ? `${camera.baseline.samples}/${camera.baseline.needed}` : '-'),
        camera.modelVersion ?? '-',
        new Date(camera.checkedAt).toISOString(),
      ]),
    ),
    '',
  );
  for (const camera of status.cameras) lines.push(`${camera.camera}: ${camera.reason}`);
  return lines.join('\n');
}

export function registerDriftCommands(program: Command, deps: DriftCommandDeps = {}): void {
  const drift = program.command('drift').description('Drift monitoring of the camera input.');
  const status = drift
    .command('status')
    .description('The latest drift check of each camera: level, share, drifted features, reason.')
    .option('--server <url>', 'ask this server instead of reading the database')
    .option('--token <token>', 'API token for --server (default: $VISIONLOOP_TOKEN)')
    .option('--token-file <file>', 'read the API token for --server from this file')
    .option('--camera <name>', 'only this camera')
    .option('--json', 'print the status as JSON');
  addDatabaseOptions(status).action(async (flags: StatusFlags) => {
    const env = deps.env ?? process.env;
    const stdout = deps.stdout ?? process.stdout;
    const result =
      flags.server === undefined
        ? await localStatus(flags, env)
        : await remoteStatus(
            flags.server,
            tokenFrom(flags, env),
            flags.camera,
            deps.fetch ?? fetch,
          );
    stdout.write(
      flags.json === true
        ? `${JSON.stringify(result, null, 2)}\n`
        : `${formatDriftStatus(result)}\n`,
    );
  });
}
