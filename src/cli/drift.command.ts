/**
 * `visionloop drift status [--camera C] [--json]`: the drift monitor's latest state per camera
 * (level, drift share, drifted features, samples, reason).
 *
 * With `--server URL` it asks the server's `GET /api/metrics/drift` (a token from `--token`,
 * `--token-file` or $VISIONLOOP_TOKEN; none is needed from the server's own machine); without,
 * it reads the configured database directly (`--database-url`, `--data-dir`; src/main/
 * local.main.ts), and never migrates it: a database behind the code is an error saying so.
 */
import type { Command } from 'commander';
import { loadServerConfig } from '../config/server.config.js';
import { createJobServices } from '../main/job-services.js';
import { openLocalState } from '../main/local.main.js';
import { driftStatusResponseSchema, type DriftStatusResponse } from '../shared/api/drift.js';
import { registerDriftCompareCommand } from './drift-compare.command.js';
import { formatTable } from './output.js';
import { callServer, explicitToken, type Connection } from './server-connection.js';
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

/** `GET /api/metrics/drift` of `server`, with a token only when one was given explicitly. */
function remoteStatus(
  server: string,
  flags: StatusFlags,
  deps: DriftCommandDeps,
  env: Record<string, string | undefined>,
): Promise<DriftStatusResponse> {
  const connection: Connection = {
    base: server.replace(/\/+$/, ''),
    token: explicitToken(flags, env),
    fetch: deps.fetch ?? fetch,
  };
  const query =
    flags.camera === undefined
      ? ''
      : `?${new URLSearchParams({ camera: flags.camera }).toString()}`;
  return callServer(connection, 'GET', `/api/metrics/drift${query}`, driftStatusResponseSchema);
}

async function localStatus(
  flags: StatusFlags,
  env: Record<string, string | undefined>,
): Promise<DriftStatusResponse> {
  const config = loadServerConfig(env, overridesFrom(flags));
  // Only reads: a database behind the code is an error that says to migrate, never migrated.
  const local = await openLocalState(config, 'read-only');
  try {
    const { drift } = createJobServices(local.database, {
      blobStore: local.blobStore,
      events: local.events,
      prometheus: { setDrift: () => undefined },
    });
    return await drift.status(flags.camera === undefined ? {} : { camera: flags.camera });
  } finally {
    await local.close();
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
  registerDriftCompareCommand(drift, deps);
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
        : await remoteStatus(flags.server, flags, deps, env);
    stdout.write(
      flags.json === true
        ? `${JSON.stringify(result, null, 2)}\n`
        : `${formatDriftStatus(result)}\n`,
    );
  });
}
