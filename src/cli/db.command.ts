/**
 * `visionloop db migrate [--status | --down N] [--database-url URL] [--data-dir DIR]`: applies
 * pending schema migrations (the server also does on start), undoes the last N, or lists them.
 */
import { Option, type Command } from 'commander';
import { loadServerConfig } from '../config/server.config.js';
import type { MigrationCommandResult } from '../main/local.main.js';
import { runLocalMigrations } from '../main/local.main.js';
import { formatTable } from './output.js';
import { parseIntegerInRange } from './parse-options.js';
import { addDatabaseOptions, overridesFrom } from './server.command.js';
import type { DatabaseFlags } from './server.command.js';

interface MigrateFlags extends DatabaseFlags {
  down?: number;
  status?: boolean;
  json?: boolean;
}

export interface DbCommandDeps {
  env?: Record<string, string | undefined>;
  stdout?: { write(text: string): unknown };
}

function formatStatus(result: MigrationCommandResult): string {
  const rows = result.status.map((m) => [
    m.name,
    m.appliedAt === null ? 'pending' : new Date(m.appliedAt).toISOString(),
  ]);
  return formatTable(['migration', 'applied'], rows);
}

export function registerDbCommands(program: Command, deps: DbCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const db = program.command('db').description("Manage the server's database.");
  const migrate = db
    .command('migrate')
    .description(
      'Apply pending migrations (default), undo the last N (--down N), or list them (--status).',
    )
    .option('--down <n>', 'undo the last N applied migrations', parseIntegerInRange(1, 1000))
    .addOption(
      new Option('--status', 'only list migrations and when they were applied').conflicts('down'),
    )
    .option('--json', 'print the result as JSON');
  addDatabaseOptions(migrate).action(async (flags: MigrateFlags) => {
    const config = loadServerConfig(deps.env ?? process.env, overridesFrom(flags));
    const action = flags.status === true ? 'status' : flags.down !== undefined ? 'down' : 'latest';
    const result = await runLocalMigrations(config, action, flags.down);
    if (flags.json === true) {
      out.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const verb = action === 'down' ? 'undid' : 'applied';
    const changed =
      action === 'status'
        ? ''
        : result.changed.length === 0
          ? `nothing to do (${result.dialect} ${result.location})\n`
          : `${verb} ${result.changed.join(', ')} (${result.dialect} ${result.location})\n`;
    out.write(`${changed}${formatStatus(result)}\n`);
  });
}
