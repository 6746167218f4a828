/**
 * `visionloop up` — what `npm start` runs: the server, a job worker, one agent per camera on
 * the synthetic line and the simulated reviewer, in one process, on the embedded defaults
 * (SQLite and files under ./data). It prints where to look once, then one line per loop step
 * (night fell, drift red, queue filling, labels, training, gate, promotion, hot swap, recovery)
 * and a live summary per camera. Ctrl-C stops the reviewer and the agents (draining their
 * outboxes), the worker (a running training resumes on the next start) and then the server.
 */
import type { Command } from 'commander';
import type { AgentStats } from '../main/agent.main.js';
import { startUp, type UpRun } from '../main/up.main.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

interface UpFlags {
  scenario: string;
  model?: string;
  fps: number;
  seed: number;
  cameras: number;
  fast?: boolean;
  simulatedReviewer: boolean;
  duration?: number;
  host?: string;
  port?: number;
  dataDir?: string;
  databaseUrl?: string;
}

function fps(value: number): string {
  return Number.isFinite(value) && value > 0 ? value.toFixed(1) : '0.0';
}

function pct(share: number): string {
  return `${(100 * share).toFixed(0)}%`;
}

/**
 * One camera's live line. The camera's frames split into those the detector ran on and those
 * the motion gate found unchanged (their detections carried over) — the two add up to the
 * camera rate, less what was dropped while inference fell behind. Rates are over the last 5 s;
 * defect and uncertain shares over the frames of the last 60 s.
 */
export function formatUpLine(camera: string, stats: AgentStats): string {
  const p = stats.pipeline;
  const r = stats.recent;
  const dropped = p.droppedFrames > 0 ? ` | dropped ${p.droppedFrames} since start` : '';
  const window = `last ${Math.round(r.coveredS)} s`;
  return (
    `${camera} ${p.modelVersion} | camera ${fps(p.cameraFps)} fps: detected ${fps(p.processFps)} + ` +
    `unchanged ${fps(p.skippedFps)} (motion gate) | ${window}: defects ${pct(r.defectRate)}, ` +
    `uncertain ${pct(r.uncertainRate)} of ${r.frames} frames | sampled ${stats.sampling.sampled} | ` +
    `outbox ${stats.outbox.pendingResults} | sent ${stats.sender.resultsAcknowledged}${dropped}`
  );
}

/** Whether the server answers `/` with a page (the dashboard's build is there). */
async function servesDashboard(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.ok && (response.headers.get('content-type') ?? '').includes('text/html');
  } catch {
    return false;
  }
}

async function banner(run: UpRun, flags: UpFlags): Promise<string> {
  const url = run.server.url;
  const dashboard = await servesDashboard(url);
  const lines = ['', `VisionLoop is running at ${url}`];
  if (dashboard && run.adminToken !== null) {
    lines.push(
      `  dashboard     ${url}/#token=${run.adminToken.token}`,
      `                (sign-in link with the admin token, shown this once; the token is saved in ${run.adminTokenFile})`,
    );
  } else if (dashboard) {
    lines.push(
      `  dashboard     ${url}/`,
      `                (sign in with the admin token saved in ${run.adminTokenFile})`,
    );
  } else {
    lines.push(
      run.adminToken !== null
        ? `  admin token   ${run.adminToken.token}   (shown this once; saved in ${run.adminTokenFile})`
        : `  admin token   in ${run.adminTokenFile}`,
    );
  }
  lines.push(
    `  API docs      ${url}/docs`,
    `  metrics       ${url}/api/metrics?window=60   (Prometheus: ${url}/metrics)`,
  );
  for (const c of run.cameras) {
    lines.push(
      `  camera        ${c.camera}: synth:${c.scenario} (seed ${c.seed}) at ${flags.fps} fps, model ${c.agent.model.version}`,
    );
  }
  lines.push(
    run.reviewer
      ? '  reviewer      simulated (labels queued frames from the line’s ground truth; --no-simulated-reviewer turns it off)'
      : '  reviewer      you: label the queue in the dashboard or with `visionloop label next`',
    '',
    'What happens: the drift monitor learns the line’s normal look, then each step of the loop',
    'prints one line below — conditions change, drift turns red, the queue fills, labels arrive,',
    'a retraining runs, the gate decides, production moves and the agents hot-swap.',
    'Press Ctrl-C to stop (a second start resumes with the data kept).',
    '',
  );
  return lines.join('\n');
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description(
      'Run VisionLoop on this machine: server, worker, camera agents on the synthetic line and a simulated reviewer; the loop closes by itself.',
    )
    .option(
      '--scenario <spec>',
      'synthetic-line scenario: drift-demo (nominal 2 min, then night), a preset (nominal, night, glare, blur, new-material) or a timeline like nominal:120,glare; add ?belt=<px/s> for the conveyor speed (64: a part every 10 s)',
      'drift-demo',
    )
    .option('--cameras <n>', 'cameras, one agent each', parseIntegerInRange(1, 16), 1)
    .option(
      '--fast',
      `short windows, a small training budget and a quick reviewer (tests; drift-demo becomes nominal:60,night)`,
    )
    .option('--no-simulated-reviewer', 'leave the labeling queue to people')
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
      const interactive = process.stderr.isTTY === true;
      let statusShown = false;
      const say = (line: string) => {
        // A step line replaces the live line on a terminal; the next tick redraws it.
        process.stderr.write(`${interactive && statusShown ? '\r\x1b[2K' : ''}${line}\n`);
        statusShown = false;
      };
      process.stderr.write(
        'starting VisionLoop… (a first start also renders the seed’s training set for the first retraining’s replay and the gate’s nominal holdout: about a minute)\n',
      );
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
        cameras: flags.cameras,
        fast: flags.fast ?? false,
        simulatedReviewer: flags.simulatedReviewer,
        narrate: say,
      });
      process.stderr.write(`${await banner(run, flags)}\n`);
      const ticker = setInterval(
        () => {
          if (interactive) {
            // One line on a terminal: the cameras side by side would not fit, so they rotate.
            const c = run.cameras[Math.floor(Date.now() / 3_000) % run.cameras.length]!;
            process.stderr.write(`\r\x1b[2K${formatUpLine(c.camera, c.agent.stats())}`);
            statusShown = true;
          } else {
            for (const c of run.cameras) {
              process.stderr.write(`${formatUpLine(c.camera, c.agent.stats())}\n`);
            }
          }
        },
        interactive ? 1_000 : 10_000,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (flags.duration) setTimeout(stop, flags.duration * 1000).unref();
        for (const c of run.cameras) void c.agent.done.then(stop);
      });
      clearInterval(ticker);
      if (interactive && statusShown) process.stderr.write('\r\x1b[2K');
      process.stderr.write(
        'stopping: the reviewer, then the agents (draining their outboxes), the worker and the server…\n',
      );
      const summaries = await run.stop();
      for (const summary of summaries) {
        process.stderr.write(
          `stopped ${summary.camera}: ${summary.framesProduced} frames, ${summary.resultsAcknowledged} results stored, ` +
            `${summary.stillInOutbox} left in the outbox\n`,
        );
      }
    });
}
