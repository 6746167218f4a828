/**
 * Composition root of `visionloop up` (what `npm start` runs): the server and one demo agent
 * on the synthetic line, in one process, on the embedded defaults (SQLite and files under the
 * data directory), plus a job worker in the same process (drift checks…) sharing the server's
 * database and services. Later issues add the dashboard here.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveAgentConfig } from '../config/agent.config.js';
import { loadServerConfig, type ServerConfigOverrides } from '../config/server.config.js';
import { startAgent, type AgentRun, type AgentSummary } from './agent.main.js';
import { startServer, type RunningServer } from './server.main.js';
import { loadWorkerConfig } from '../config/worker.config.js';
import { startWorker, stderrJobLogger, type RunningWorker } from './worker.main.js';

/**
 * Drift settings `up` stores on a first start with the `drift-demo` scenario: a baseline of 20
 * frames 3 s apart (the first minute of nominal light), windows of the newest 20, a check every
 * 15 s — night shows as drift within about a minute of its onset.
 */
export const DRIFT_DEMO_SETTINGS = {
  baselineSamples: 20,
  windowSamples: 20,
  minSamples: 20,
  minSpacingSeconds: 3,
  checkEverySeconds: 15,
} as const;

export interface UpOptions {
  server: ServerConfigOverrides;
  scenario: string;
  fps: number;
  seed: number;
  model?: string;
  camera: string;
  env?: Record<string, string | undefined>;
}

export interface UpRun {
  server: RunningServer;
  agent: AgentRun;
  /** The in-process job worker (scheduled drift checks, on-demand jobs). */
  worker: RunningWorker;
  /** Where the admin token lives (printed once when it was created). */
  adminTokenFile: string;
  /** Stops the agent (draining its outbox), then the server. */
  stop(): Promise<AgentSummary>;
}

/**
 * The demo agent's token, kept beside the admin token (owner-only) so restarts reuse it
 * instead of minting a new token every time.
 */
async function demoAgentToken(server: RunningServer, file: string): Promise<string> {
  const saved = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (saved && (await server.services.auth.authenticate(saved))?.scope === 'agent') return saved;
  const created = await server.services.auth.createToken(
    { name: 'up: demo agent', scope: 'agent' },
    'up',
  );
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${created.token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return created.token;
}

export async function startUp(options: UpOptions): Promise<UpRun> {
  const env = options.env ?? process.env;
  const config = loadServerConfig(env, options.server);
  const server = await startServer(config, { logger: { level: 'warn' } });
  let worker: RunningWorker | undefined;
  try {
    // The demo closes the loop by itself: a candidate that passes the gate goes to production.
    // Only the first start stores this; an admin's later change is kept.
    await server.services.retraining.initSettings({ autoPromote: true }, 'up');
    // The drift demo turns to night after two minutes; with the production defaults (a
    // baseline of 200 frames 10 s apart) the baseline alone would take 33 minutes and end up
    // half night. The demo's settings fit its timeline. Only the first start stores them.
    if (options.scenario === 'drift-demo') {
      await server.services.drift.initSettings(DRIFT_DEMO_SETTINGS, 'up');
    }
    worker = await startWorker(loadWorkerConfig(env, options.server), {
      database: server.database,
      services: server.services,
      log: stderrJobLogger('warn'),
      unref: true,
    });
    const token = await demoAgentToken(server, join(config.dataDir, 'up-agent-token'));
    const agentConfig = resolveAgentConfig(
      {
        server: server.url,
        token,
        source: `synth:${options.scenario}`,
        camera: options.camera,
        model: options.model,
        fps: options.fps,
        seed: options.seed,
        outbox: join(config.dataDir, `agent-${options.camera}`, 'outbox.db'),
      },
      { ...env, VISIONLOOP_DATA_DIR: config.dataDir },
    );
    const agent = await startAgent({
      config: agentConfig,
      log: (level, message) => {
        // The live summary line already says what info messages would.
        if (level !== 'info') process.stderr.write(`agent ${level}: ${message}\n`);
      },
    });
    let stopping: Promise<AgentSummary> | undefined;
    const jobWorker = worker;
    return {
      server,
      agent,
      worker: jobWorker,
      adminTokenFile: config.adminTokenFile,
      stop() {
        stopping ??= (async () => {
          agent.stop();
          const { summary } = await agent.done;
          await jobWorker.stop({ graceMs: 10_000 });
          await server.close();
          return summary;
        })();
        return stopping;
      },
    };
  } catch (error) {
    await worker?.stop({ graceMs: 0 });
    await server.close();
    throw error;
  }
}
