/**
 * `visionloop agent`: one camera streaming to a server through the durable outbox. Logs go to
 * stderr; on exit one JSON summary line goes to stdout (frames produced, results acknowledged,
 * duplicates, shed, still in the outbox) for scripts and tests.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveAgentConfig, type AgentFlags } from '../config/agent.config.js';
import { startAgent, type AgentStats } from '../main/agent.main.js';
import { VisionLoopError } from '../shared/errors.js';
import { formatSummary } from './detect.command.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

interface AgentCommandFlags extends AgentFlags {
  show?: boolean;
  jsonStats?: string;
}

const MIB = 1024 * 1024;

/** One line of live numbers: the pipeline's, then the uplink's. */
export function formatAgentLine(stats: AgentStats): string {
  const { outbox, sender } = stats;
  return (
    `${formatSummary(stats.pipeline)} | outbox ${outbox.pendingResults} results, ` +
    `${outbox.pendingFrames} frames, ${(outbox.bytes / MIB).toFixed(1)} MiB | ` +
    `sent ${sender.resultsAcknowledged} | shed ${outbox.shedResults + outbox.shedFrames} | ${sender.state}`
  );
}

function writeJsonAtomically(path: string, value: unknown): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, path);
}

export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description(
      'Run one camera: detect on every frame and ship the results to a server through a durable ' +
        'local outbox (nothing is lost while the server is down; nothing is stored twice).',
    )
    .option(
      '--server <url>',
      'server base URL, e.g. http://127.0.0.1:8080 (default: $VISIONLOOP_SERVER_URL)',
    )
    .option(
      '--token <token>',
      'API token with the agent scope (default: $VISIONLOOP_AGENT_TOKEN; prefer the variable: flags show in the process list)',
    )
    .option(
      '-s, --source <spec>',
      'synth:<scenario>, an image folder, a video file, rtsp://… or /dev/videoN (default: $VISIONLOOP_AGENT_SOURCE)',
    )
    .option(
      '--camera <name>',
      'camera name carried by every result (default: $VISIONLOOP_CAMERA, else camera-1)',
    )
    .option(
      '-m, --model <path>',
      'ONNX model (default: $VISIONLOOP_MODEL, else the shipped seed model)',
    )
    .option(
      '--fps <n>',
      'pace file and synthetic sources at this rate, dropping frames when detection falls behind (default: read as fast as frames are processed; cameras run at their own rate)',
      parseNumberInRange(0.1, 1000),
    )
    .option(
      '--seed <n>',
      'seed of the synthetic line (default 1)',
      parseIntegerInRange(0, 2 ** 31 - 1),
    )
    .option(
      '--outbox <path>',
      'outbox file (default: $VISIONLOOP_OUTBOX, else <data dir>/agent-<camera>/outbox.db); one agent per file',
    )
    .option(
      '--outbox-max-mb <n>',
      'disk budget of the outbox in MiB; beyond it frames are shed first, then the oldest results (default: $VISIONLOOP_OUTBOX_MAX_MB, else 256)',
      parseNumberInRange(1, 1_048_576),
    )
    .option(
      '--batch <n>',
      'most results per request; a partial batch goes after 1 s (default: $VISIONLOOP_AGENT_BATCH, else 200)',
      parseIntegerInRange(1, 1000),
    )
    .option(
      '--max-frames <n>',
      'stop after this many frames',
      parseIntegerInRange(1, Number.MAX_SAFE_INTEGER),
    )
    .option('--duration <seconds>', 'stop after this many seconds', parseNumberInRange(0.1, 1e9))
    .option(
      '--drain-timeout <seconds>',
      'on stop, keep sending what is in the outbox for up to this long; the rest stays for the next start (default: $VISIONLOOP_AGENT_DRAIN_TIMEOUT, else 10)',
      parseNumberInRange(0, 3600),
    )
    .option('--show', 'show a live summary on stderr')
    .option(
      '--json-stats <file>',
      'write the agent stats as JSON to this file every 5 s and at exit',
    )
    .action(runAgentCommand);
}

/**
 * Runs the agent until the source ends, --max-frames or --duration is reached, or SIGINT/SIGTERM
 * (a second signal skips the drain). Prints the summary line, then fails when the pipeline
 * failed or the server refused the token.
 */
export async function runAgentCommand(flags: AgentCommandFlags): Promise<void> {
  const config = resolveAgentConfig(flags);
  const run = await startAgent({ config });
  process.stderr.write(
    `agent ${config.camera}: model ${run.model.version} (${run.model.layout}) on ${run.sourceDescription}, ` +
      `server ${config.serverUrl}, outbox ${run.outboxPath}\n`,
  );
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1)
      process.stderr.write('agent: stopping now; unsent results stay in the outbox\n');
    run.stop(signals > 1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const interactive = process.stderr.isTTY === true;
  const ticker = flags.show
    ? setInterval(
        () => {
          const line = formatAgentLine(run.stats());
          process.stderr.write(interactive ? `\r\x1b[2K${line}` : `${line}\n`);
        },
        interactive ? 500 : 5_000,
      )
    : null;
  const statsWriter = flags.jsonStats
    ? setInterval(() => writeStats(flags.jsonStats, run.stats()), 5_000)
    : null;
  try {
    const { summary, failure } = await run.done;
    if (flags.show && interactive) process.stderr.write('\r\x1b[2K');
    writeStats(flags.jsonStats, run.stats());
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (failure instanceof Error) throw failure;
    if (failure !== null)
      throw new VisionLoopError('INTERNAL', summary.error ?? 'the agent failed');
    if (summary.authFailed) {
      throw new VisionLoopError(
        'UNAUTHENTICATED',
        `the server refused the agent token; ${summary.stillInOutbox} results are kept in ${summary.outbox} for the next start with a valid token`,
      );
    }
  } finally {
    if (ticker) clearInterval(ticker);
    if (statsWriter) clearInterval(statsWriter);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function writeStats(path: string | undefined, stats: AgentStats): void {
  if (!path) return;
  try {
    writeJsonAtomically(path, stats);
  } catch (error) {
    process.stderr.write(`agent: cannot write ${path}: ${String(error)}\n`);
  }
}
