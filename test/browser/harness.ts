/**
 * The browser tests' stack: a real server on 127.0.0.1 (port 0, a temp data directory with its
 * SQLite database, the shipped seed model as production), real agents streaming the synthetic
 * line to it, an optional job worker, and Debian's Chromium driven by playwright-core.
 *
 * The dashboard is built once per test run (vitest): the global setup
 * (dashboard-build.global-setup.ts) names a fresh directory, and the first stack of the run to
 * need it builds into it while the others wait (a lock directory), so a test always sees the
 * current web/ sources and never races another run rebuilding web/dist. Outside vitest (the
 * bench) each stack builds into its own directory. Screenshots go to `test-results/<name>.png`
 * (gitignored).
 *
 * Agents run in the test's process by default (their stats are at hand); with
 * `agentProcesses: true` each one is a real `visionloop agent` process (bin/visionloop.js, the
 * compiled CLI, built first when src/ is newer than dist/), as people run them.
 *
 * Usage (see web/README.md):
 *
 *     const stack = await startStack({ agents: 1, fps: 5 });
 *     const page = await stack.newPage({ scope: 'admin' });
 *     await stack.shot(page, 'overview');
 *     await stack.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { resolveAgentConfig } from '../../src/config/agent.config.js';
import { loadServerConfig } from '../../src/config/server.config.js';
import { loadWorkerConfig } from '../../src/config/worker.config.js';
import { startAgent } from '../../src/main/agent.main.js';
import type { AgentRun } from '../../src/main/agent.main.js';
import { startServer } from '../../src/main/server.main.js';
import type { RunningServer } from '../../src/main/server.main.js';
import { startWorker } from '../../src/main/worker.main.js';
import type { RunningWorker } from '../../src/main/worker.main.js';
import type { Scope } from '../../src/shared/api/common.js';
import { ensureBuilt } from '../helpers/processes.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SEED_MODEL = join(ROOT, 'models', 'seed', 'model.onnx');
export const RESULTS_DIR = join(ROOT, 'test-results');
export const CHROMIUM = process.env.VISIONLOOP_CHROMIUM ?? '/usr/bin/chromium';
/** Launch flags for Debian's Chromium in a container (no GPU, no sandbox, no updates). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];
/** The sign-in state the dashboard reads at start (web/src/app/auth.tsx). */
export const TOKEN_STORAGE_KEY = 'visionloop.token';

export interface StackOptions {
  /** Agents streaming synth:<scenario>, cameras cam-1…cam-N. Default 1; 0 for none. */
  agents?: number;
  /** Frames per second of each agent. Default 5. */
  fps?: number;
  /** The synthetic scenario. Default `nominal`. */
  scenario?: string;
  /** Register the shipped seed model as production. Default true. */
  seedModel?: boolean;
  /** Also run a job worker (drift checks, trainings). Default false. */
  worker?: boolean;
  /** Wait until every agent has produced a result before returning. Default true. */
  waitForFrames?: boolean;
  /**
   * Run each agent as its own `visionloop agent` process (stack.agentProcesses) instead of in
   * the test's process (stack.agents). Default false.
   */
  agentProcesses?: boolean;
  /** Serve this already built dashboard instead of building one (the bench's before/after). */
  dashboardDir?: string;
}

export interface NewPageOptions {
  /** Sign in with a fresh token of this scope (default admin, the stack's admin token). */
  scope?: Scope;
  /** Sign in with this token instead. */
  token?: string;
  /** Open the sign-in page, not signed in. */
  signedOut?: boolean;
  /** Path to open. Default `/`. */
  path?: string;
  width?: number;
  height?: number;
}

export interface StackResponse {
  status: number;
  body: unknown;
}

export interface Stack {
  readonly server: RunningServer;
  /** In-process agents (empty with `agentProcesses`). */
  readonly agents: readonly AgentRun[];
  /** Agent processes (with `agentProcesses`), cameras cam-1…cam-N in order. */
  readonly agentProcesses: readonly ChildProcess[];
  readonly worker: RunningWorker | null;
  readonly browser: Browser;
  readonly adminToken: string;
  readonly dataDir: string;
  /** The built dashboard the server serves. */
  readonly dashboardDir: string;
  /** `http://127.0.0.1:port` + path. */
  url(path?: string): string;
  /** A new token of `scope` (created directly on the server's auth service). */
  token(scope: Scope, name?: string): Promise<string>;
  /** Revokes a token by its secret's id (the id is returned by tokenInfo). */
  revoke(token: string): Promise<void>;
  /**
   * Starts `count` more agents like the first ones (cameras numbered on: cam-N+1…) and waits
   * until each has delivered a frame (unless `waitForFrames` is false).
   */
  addAgents(count: number): Promise<void>;
  /** A page in a fresh browser context, signed in (or not), at `path` (default `/`). */
  newPage(options?: NewPageOptions): Promise<Page>;
  /** An API call with a token (default the admin's); the body parsed as JSON when it is. */
  request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options?: { token?: string | null; body?: unknown },
  ): Promise<StackResponse>;
  /** Saves a screenshot to test-results/<name>.png and returns the path. */
  shot(page: Page, name: string, options?: { fullPage?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

/** Runs vite to build the dashboard into `outDir`. */
export async function buildDashboard(outDir: string): Promise<void> {
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const args = [vite, 'build', '--config', join(ROOT, 'web', 'vite.config.ts')];
  // Each stack builds into its own directory, so vite's one-build-per-project lock does not apply.
  args.push('--outDir', outDir, '--emptyOutDir', '--logLevel', 'error', '--bypass-lock');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`vite build failed (${code}):\n${output}`)),
    );
  });
}

/** Set by dashboard-build.global-setup.ts: the directory this test run's dashboard goes to. */
export const DASHBOARD_DIR_ENV = 'VISIONLOOP_TEST_DASHBOARD_DIR';

/**
 * The built dashboard for a stack whose data directory is `dataDir`: under vitest the run's one
 * build (the first caller builds, holding a lock directory; the others wait for its `built`
 * marker), otherwise a build into `dataDir/web-dist`.
 */
export async function dashboardFor(dataDir: string): Promise<string> {
  const shared = process.env[DASHBOARD_DIR_ENV];
  if (shared === undefined || shared === '') {
    const own = join(dataDir, 'web-dist');
    await buildDashboard(own);
    return own;
  }
  const built = `${shared}.built`;
  const failed = `${shared}.failed`;
  let mine = false;
  try {
    mkdirSync(`${shared}.lock`);
    mine = true;
  } catch {
    // another test file of this run builds it
  }
  if (mine) {
    try {
      await buildDashboard(shared);
      writeFileSync(built, '');
    } catch (error) {
      writeFileSync(failed, error instanceof Error ? error.message : String(error));
      throw error;
    }
    return shared;
  }
  await until(
    'the test run’s dashboard build',
    () => existsSync(built) || existsSync(failed),
    180_000,
  );
  if (existsSync(failed)) {
    throw new Error(`the dashboard build failed: ${readFileSync(failed, 'utf8')}`);
  }
  return shared;
}

/** Polls `check` every 100 ms until it is true; fails after `timeoutMs` naming `what`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vl-browser-'));
  const cleanups: (() => Promise<void> | void)[] = [
    () => rmSync(dataDir, { recursive: true, force: true }),
  ];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) {
      const started = Date.now();
      try {
        await step();
      } catch {
        // keep cleaning
      }
      if (process.env.VL_HARNESS_DEBUG)
        console.error('cleanup', step.toString().slice(0, 60), Date.now() - started);
    }
  };
  try {
    if (options.agentProcesses === true) ensureBuilt({ timeoutMs: 300_000 });
    const [browser, distDir] = await Promise.all([
      launchChromium(),
      options.dashboardDir ?? dashboardFor(dataDir),
    ]);

    const env = {
      VISIONLOOP_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      VISIONLOOP_LOG_LEVEL: 'silent',
      VISIONLOOP_HEARTBEAT_SECONDS: '2',
    };
    const server = await startServer(loadServerConfig(env), {
      logger: false,
      processMetrics: false,
      seedModel: options.seedModel === false ? null : SEED_MODEL,
      onAdminToken: () => undefined,
      dashboardDir: distDir,
    });
    cleanups.push(() => {
      // By now the browser and the agents are gone; a keep-alive socket they left would hold
      // close() until its timeout (72 s), so end every connection with it.
      const closing = server.close();
      server.app.server.closeAllConnections();
      return closing;
    });
    const adminToken = (
      await server.services.auth.createToken({ name: 'browser-test admin', scope: 'admin' }, null)
    ).token;

    let worker: RunningWorker | null = null;
    if (options.worker === true) {
      const running = await startWorker(
        loadWorkerConfig({ ...env, VISIONLOOP_WORKER_POLL_SECONDS: '0.5' }),
        { database: server.database, services: server.services, log: () => undefined, unref: true },
      );
      worker = running;
      cleanups.push(() => running.stop({ graceMs: 0 }));
    }

    const agents: AgentRun[] = [];
    const agentProcesses: ChildProcess[] = [];
    /** Starts `count` more agents (cameras numbered on from the last) and waits for their frames. */
    const addAgents = async (count: number) => {
      const first = agents.length + agentProcesses.length + 1;
      const cameras: string[] = [];
      const runs: AgentRun[] = [];
      for (let index = first; index < first + count; index += 1) {
        cameras.push(`cam-${index}`);
        const agentToken = await server.services.auth.createToken(
          { name: `cam-${index} agent`, scope: 'agent' },
          null,
        );
        if (options.agentProcesses === true) {
          const child = spawnAgentProcess({
            serverUrl: server.url,
            token: agentToken.token,
            source: `synth:${options.scenario ?? 'nominal'}`,
            camera: `cam-${index}`,
            fps: options.fps ?? 5,
            seed: index,
            dataDir,
          });
          agentProcesses.push(child);
          cleanups.push(() => stopProcess(child));
          continue;
        }
        const run = await startAgent({
          config: resolveAgentConfig(
            {
              server: server.url,
              token: agentToken.token,
              source: `synth:${options.scenario ?? 'nominal'}`,
              camera: `cam-${index}`,
              model: SEED_MODEL,
              fps: options.fps ?? 5,
              seed: index,
              outbox: join(dataDir, `agent-${index}`, 'outbox.db'),
              drainTimeout: 1,
            },
            { VISIONLOOP_THREADS: '1', VISIONLOOP_DATA_DIR: dataDir },
          ),
          sender: { batchDelayMs: 100, heartbeatIntervalMs: 1000 },
          log: () => undefined,
        });
        agents.push(run);
        runs.push(run);
        cleanups.push(async () => {
          run.stop(true);
          await run.done;
        });
      }
      if (options.waitForFrames === false || count === 0) return;
      if (options.agentProcesses !== true) {
        await until(
          'every agent to produce a frame',
          () => runs.every((run) => run.stats().producedResults > 0),
          60_000,
        );
        return;
      }
      // A process's results are seen once the server stored them.
      const stored = async (camera: string): Promise<boolean> => {
        const query = `/api/inspection-logs?camera=${camera}&limit=1`;
        const answer = await fetch(`${server.url}${query}`, {
          headers: { authorization: `Bearer ${adminToken}` },
        });
        const body = (await answer.json()) as { items?: unknown[] };
        return (body.items?.length ?? 0) > 0;
      };
      // Many agent processes starting at once on a busy machine can take minutes.
      await until(
        'every agent process to deliver a result',
        async () => (await Promise.all(cameras.map(stored))).every(Boolean),
        300_000,
      );
    };
    await addAgents(options.agents ?? 1);

    // Cleanups run last-in first-out: the browser (and its live streams) goes first.
    cleanups.push(() => browser.close());
    const contexts: BrowserContext[] = [];
    const url = (path = '/') => `${server.url}${path}`;
    const token = async (scope: Scope, name = `browser-test ${scope}`) =>
      (await server.services.auth.createToken({ name, scope }, null)).token;

    const stack: Stack = {
      server,
      agents,
      agentProcesses,
      worker,
      browser,
      addAgents,
      adminToken,
      dataDir,
      dashboardDir: distDir,
      url,
      token,
      async revoke(secret) {
        const list = await server.services.auth.listTokens();
        const session = await stack.request('GET', '/api/session', { token: secret });
        const tokenId = (session.body as { tokenId?: string }).tokenId;
        const found = list.find((info) => info.id === tokenId);
        if (found === undefined) throw new Error('revoke: token not found');
        await server.services.auth.revokeToken(found.id);
      },
      async newPage(pageOptions = {}) {
        const context = await browser.newContext({
          viewport: { width: pageOptions.width ?? 1366, height: pageOptions.height ?? 768 },
        });
        contexts.push(context);
        if (pageOptions.signedOut !== true) {
          const secret =
            pageOptions.token ??
            (pageOptions.scope === undefined || pageOptions.scope === 'admin'
              ? adminToken
              : await token(pageOptions.scope));
          // Only on the context's first document: a later sign-out must stay signed out.
          await context.addInitScript(
            ([key, value]) => {
              if (sessionStorage.getItem('vl-harness-signed-in') === null) {
                localStorage.setItem(key, value);
                sessionStorage.setItem('vl-harness-signed-in', '1');
              }
            },
            [TOKEN_STORAGE_KEY, secret] as const,
          );
        }
        // A loaded machine (2 cores, tests in parallel) may take a while for the first load.
        context.setDefaultTimeout(30_000);
        context.setDefaultNavigationTimeout(60_000);
        const page = await context.newPage();
        await page.goto(url(pageOptions.path ?? '/'), { waitUntil: 'domcontentloaded' });
        return page;
      },
      async request(method, path, requestOptions = {}) {
        const secret = requestOptions.token === undefined ? adminToken : requestOptions.token;
        const headers: Record<string, string> = {};
        if (secret !== null) headers.authorization = `Bearer ${secret}`;
        if (requestOptions.body !== undefined) headers['content-type'] = 'application/json';
        const response = await fetch(url(path), {
          method,
          headers,
          body: requestOptions.body === undefined ? undefined : JSON.stringify(requestOptions.body),
        });
        const text = await response.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        return { status: response.status, body };
      },
      async shot(page, name, shotOptions = {}) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        const path = join(RESULTS_DIR, `${name}.png`);
        await page.screenshot({ path, fullPage: shotOptions.fullPage ?? false });
        return path;
      },
      async stop() {
        // Closing the browser closes its contexts (and their live streams) at once.
        contexts.length = 0;
        await cleanup();
      },
    };
    return stack;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

interface AgentProcessOptions {
  serverUrl: string;
  token: string;
  source: string;
  camera: string;
  fps: number;
  seed: number;
  dataDir: string;
}

/**
 * Starts `visionloop agent` (bin/visionloop.js) as its own process, one inference thread, its
 * outbox under `dataDir`; the token goes in the environment, as the CLI's help advises. Its
 * output is kept and printed if it exits on its own.
 */
function spawnAgentProcess(options: AgentProcessOptions): ChildProcess {
  const args = [
    join(ROOT, 'bin', 'visionloop.js'),
    'agent',
    '--server',
    options.serverUrl,
    '--source',
    options.source,
    '--camera',
    options.camera,
    '--model',
    SEED_MODEL,
    '--fps',
    String(options.fps),
    '--seed',
    String(options.seed),
    '--outbox',
    join(options.dataDir, `agent-${options.camera}`, 'outbox.db'),
    '--drain-timeout',
    '1',
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      VISIONLOOP_AGENT_TOKEN: options.token,
      VISIONLOOP_THREADS: '1',
      VISIONLOOP_DATA_DIR: options.dataDir,
      VISIONLOOP_AGENT_BATCH_DELAY_MS: '100',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  child.once('exit', (code, signal) => {
    if (signal === null && code !== 0) {
      console.error(`agent ${options.camera} exited with ${code}:\n${output}`);
    }
  });
  return child;
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}
