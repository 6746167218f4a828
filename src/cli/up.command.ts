/**
 * `visionloop up` — what `npm start` runs: the server and a demo agent on the synthetic line,
 * in one process, on the embedded defaults (SQLite and files under ./data), with a live
 * summary. Ctrl-C stops the agent (draining its outbox) and then the server.
 */
import type { Command } from 'commander';
import { startUp } from '../main/up.main.js';
import { formatAgentLine } from './agent.command.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

interface UpFlags {
  scenario: string;
  model?: string;
  fps: number;
  seed: number;
  duration?: number;
  host?: string;
  port?: number;
  dataDir?: string;
  databaseUrl?: string;
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description(
      'Run VisionLoop on this machine: the server plus a demo camera agent on the synthetic line, with live numbers.',
    )
    .option(
      '--scenario <spec>',
      'synthetic-line scenario (a preset, a named scenario, or a timeline like nominal:120,night)',
      'drift-demo',
    )
    .option(
      '-m, --model <path>',
      'ONNX model (default: $VISIONLOOP_MODEL, else the shipped seed model)',
    )
    .option('--fps <n>', 'camera frame rate', parseNumberInRange(0.1, 120), 15)
    .option('--seed <n>', 'seed of the synthetic line', parseIntegerInRange(0, 2 ** 31 - 1), 1)
    .option(
      '--duration <seconds>',
      'stop after this many seconds (default: until Ctrl-C)',
      parseNumberInRange(0.1, 1e9),
    )
    .option('--host <host>', 'address to listen on (default: $HOST, else 127.0.0.1)')
    .option(
      '--port <n>',
      'port to listen on (default: $PORT, else 8080)',
      parseIntegerInRange(0, 65535),
    )
    .option(
      '--data-dir <dir>',
      'local state directory (default: $VISIONLOOP_DATA_DIR, else ./data)',
    )
    .option(
      '--database-url <url>',
      'database (default: $DATABASE_URL, else SQLite in the data directory)',
    )
    .action(async (flags: UpFlags) => {
      const run = await startUp({
        server: {
          host: flags.host,
          port: flags.port,
          dataDir: flags.dataDir,
          databaseUrl: flags.databaseUrl,
        },
        scenario: flags.scenario,
        fps: flags.fps,
        seed: flags.seed,
        model: flags.model,
        camera: 'synth-line-1',
      });
      const url = run.server.url;
      process.stderr.write(
        [
          '',
          `VisionLoop is running at ${url}`,
          `  API docs      ${url}/docs`,
          `  health        ${url}/api/health`,
          `  metrics       ${url}/api/metrics   (Prometheus: ${url}/metrics)`,
          `  admin token   ${run.adminTokenFile}`,
          `  camera        synth-line-1: synth:${flags.scenario} at ${flags.fps} fps, model ${run.agent.model.version}`,
          '',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      const interactive = process.stderr.isTTY === true;
      const ticker = setInterval(
        () => {
          const line = formatAgentLine(run.agent.stats());
          process.stderr.write(interactive ? `\r\x1b[2K${line}` : `${line}\n`);
        },
        interactive ? 1_000 : 10_000,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (flags.duration) setTimeout(stop, flags.duration * 1000).unref();
        void run.agent.done.then(stop);
      });
      clearInterval(ticker);
      if (interactive) process.stderr.write('\r\x1b[2K');
      process.stderr.write('stopping: draining the agent outbox, then the server…\n');
      const summary = await run.stop();
      process.stderr.write(
        `stopped: ${summary.framesProduced} frames, ${summary.resultsAcknowledged} results stored, ` +
          `${summary.stillInOutbox} left in the outbox\n`,
      );
    });
}
