/**
 * `visionloop worker [--database-url URL] [--data-dir DIR] [--concurrency N]
 * [--lease-seconds S] [--jobs a.b,c.d] [--no-schedules]`: runs background jobs (drift checks,
 * and later dataset snapshots, training, evaluation) against the server's database until
 * Ctrl-C / SIGTERM, then stops gracefully. Any number of workers may run (docs/jobs.md).
 */
import type { Command } from 'commander';
import { loadWorkerConfig, type WorkerConfigOverrides } from '../config/worker.config.js';
import { describeJobs, runWorker } from '../main/worker.main.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';
import { addDatabaseOptions, overridesFrom, type DatabaseFlags } from './server.command.js';

interface WorkerFlags extends DatabaseFlags {
  concurrency?: number;
  leaseSeconds?: number;
  jobs?: string;
  schedules?: boolean;
}

function jobList(): string {
  return describeJobs()
    .map(({ name, description }) => `  ${name.padEnd(16)} ${description}`)
    .join('\n');
}

export function registerWorkerCommands(program: Command): void {
  const command = program
    .command('worker')
    .description('Run background jobs (drift checks, …) from the server database until Ctrl-C.')
    .option(
      '--concurrency <n>',
      'jobs run at once (default: $VISIONLOOP_WORKER_CONCURRENCY, else 1)',
      parseIntegerInRange(1, 64),
    )
    .option(
      '--lease-seconds <s>',
      'job lease; a worker that stops renewing loses its job after this long (default 30)',
      parseNumberInRange(1, 3600),
    )
    .option('--jobs <names>', 'comma-separated job names to run (default: all)')
    .option('--no-schedules', 'do not enqueue the periodic jobs (scheduled drift checks)')
    .addHelpText('after', `\nJobs:\n${jobList()}\n`);
  addDatabaseOptions(command).action(async (flags: WorkerFlags) => {
    const overrides: WorkerConfigOverrides = { ...overridesFrom(flags) };
    if (flags.concurrency !== undefined) overrides.concurrency = flags.concurrency;
    if (flags.leaseSeconds !== undefined) overrides.leaseSeconds = flags.leaseSeconds;
    if (flags.jobs !== undefined) overrides.jobs = flags.jobs;
    // Commander sets `schedules: true` unless --no-schedules is given.
    if (flags.schedules === false) overrides.schedules = false;
    const config = loadWorkerConfig(process.env, overrides);
    await runWorker(config, {
      onStarted(worker) {
        process.stderr.write(
          `VisionLoop worker ${worker.id} running ${worker.worker.jobNames.join(', ')} ` +
            `(${worker.database.dialect} database ${worker.database.location})\n`,
        );
      },
    });
  });
}
