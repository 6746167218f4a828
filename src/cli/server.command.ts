/**
 * `visionloop server [--host H] [--port P] [--database-url URL] [--data-dir DIR]`: the HTTP
 * API and ingest, until Ctrl-C / SIGTERM (then a graceful shutdown). Flags override the
 * environment (docs/configuration.md).
 */
import type { Command } from 'commander';
import { loadServerConfig } from '../config/server.config.js';
import type { ServerConfigOverrides } from '../config/server.config.js';
import { runServer } from '../main/server.main.js';
import { parseIntegerInRange } from './parse-options.js';

/** The flags every command that opens the server's database accepts. */
export interface DatabaseFlags {
  databaseUrl?: string;
  dataDir?: string;
}

export function addDatabaseOptions(command: Command): Command {
  return command
    .option(
      '--database-url <url>',
      'database: postgres://… or a SQLite path/URL (default: $DATABASE_URL, else <data-dir>/visionloop.db)',
    )
    .option(
      '--data-dir <dir>',
      'local state directory (default: $VISIONLOOP_DATA_DIR, else ./data)',
    );
}

export function overridesFrom(flags: DatabaseFlags & ServerConfigOverrides): ServerConfigOverrides {
  const overrides: ServerConfigOverrides = {};
  if (flags.host !== undefined) overrides.host = flags.host;
  if (flags.port !== undefined) overrides.port = flags.port;
  if (flags.databaseUrl !== undefined) overrides.databaseUrl = flags.databaseUrl;
  if (flags.dataDir !== undefined) overrides.dataDir = flags.dataDir;
  return overrides;
}

interface ServerFlags extends DatabaseFlags {
  host?: string;
  port?: number;
}

export function registerServerCommands(program: Command): void {
  const command = program
    .command('server')
    .description('Run the VisionLoop server: HTTP API, ingest, inspection logs, health, metrics.')
    .option('--host <host>', 'interface to listen on (default: $HOST, else 127.0.0.1)')
    .option(
      '--port <n>',
      'TCP port, 0 for any free one (default: $PORT, else 8080)',
      parseIntegerInRange(0, 65535),
    );
  addDatabaseOptions(command).action(async (flags: ServerFlags) => {
    const config = loadServerConfig(process.env, overridesFrom(flags));
    await runServer(config, {
      onListening(server) {
        process.stderr.write(
          `VisionLoop server listening on ${server.url} ` +
            `(API docs ${server.url}/docs; ${server.database.dialect} database ${server.database.location})\n`,
        );
      },
    });
  });
}
