/**
 * Real processes on 127.0.0.1 for end-to-end tests: the compiled CLI (bin/visionloop, which
 * execs node on bin/visionloop.js over dist/), free ports, waiting for a condition, a server, tokens, agents and their summaries.
 * One copy for every e2e file (test/e2e/), so a fix to how a process is started or waited for
 * lands everywhere.
 *
 * The CLI runs from dist/: `npm test` builds it in its pretest step; when dist/ is older than
 * src/ (running one file alone), `ensureBuilt()` rebuilds it with `tsc -p tsconfig.build.json`.
 *
 * Test-only: never imported by src/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `visionloop` command users run: bin/visionloop (sh: malloc settings, then exec node). */
export const BIN = join(ROOT, 'bin', 'visionloop');
const TOKEN = /vl_[A-Za-z0-9_-]{43}/;

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value (returned), or throws after
 * `timeoutMs` naming `what` and adding `context()` (a process's stderr, say).
 */
export async function until<T>(
  what: string,
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs: number,
  context: () => string = () => '',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await sleep(intervalMs);
  }
}

/** Newest modification time of the files under `dir` ending in `suffix`, ms. */
function newestMtime(dir: string, suffix: string, skip?: RegExp): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path, suffix, skip));
    else if (entry.name.endsWith(suffix) && !skip?.test(entry.name)) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/ (tsc given `timeoutMs`, 170 s unless set). */
export function ensureBuilt(options: { timeoutMs?: number } = {}): void {
  const distMain = join(ROOT, 'dist', 'cli', 'main.js');
  const distNewest = existsSync(join(ROOT, 'dist')) ? newestMtime(join(ROOT, 'dist'), '.js') : 0;
  const srcNewest = newestMtime(join(ROOT, 'src'), '.ts', /\.test\.ts$/);
  if (existsSync(distMain) && distNewest >= srcNewest) return;
  // Type errors elsewhere do not stop tsc from emitting; missing output is what fails.
  spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, stdio: 'ignore', timeout: options.timeoutMs ?? 170_000 },
  );
  if (!existsSync(distMain)) throw new Error('the build did not produce dist/cli/main.js');
}

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The processes started here that have not exited yet. */
export const runningProcs = new Set<Proc>();

/** SIGKILLs every process still running and waits for them (an `afterEach`). */
export async function killAll(): Promise<void> {
  for (const proc of runningProcs) proc.child.kill('SIGKILL');
  await Promise.all([...runningProcs].map((proc) => proc.exited));
}

/**
 * Runs `visionloop <args>` (dist/) through bin/visionloop, on this node, with one ORT thread
 * and `env` added. The launcher execs node, so `child` is the node process itself.
 */
export function cli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, VISIONLOOP_NODE: process.execPath, VISIONLOOP_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const proc: Proc = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        runningProcs.delete(proc);
        resolve({ code, signal });
      });
    }),
  };
  runningProcs.add(proc);
  return proc;
}

/** Throws when `proc` has exited (a crashed agent should fail the test at once). */
export function assertRunning(proc: Proc, what: string): void {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
    throw new Error(`${what} exited early:\n${proc.stderr()}\n${proc.stdout()}`);
  }
}

export interface ServerHandle {
  proc: Proc;
  url: string;
}

/**
 * `visionloop server` on 127.0.0.1:`port` over `dataDir`, once /api/health answers (within
 * `timeoutMs`, 30 s unless given: a bench restarting a replica under load gives it longer).
 */
export async function startServer(
  port: number,
  dataDir: string,
  env: Record<string, string> = {},
  options: { timeoutMs?: number } = {},
): Promise<ServerHandle> {
  const proc = cli(
    ['server', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
    { VISIONLOOP_LOG_LEVEL: 'warn', ...env },
  );
  const url = `http://127.0.0.1:${port}`;
  await until(
    'the server to answer /api/health',
    async () => {
      assertRunning(proc, 'the server');
      try {
        const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) });
        return response.status < 500;
      } catch {
        return false;
      }
    },
    options.timeoutMs ?? 30_000,
    () => proc.stderr(),
  );
  return { proc, url };
}

/** `visionloop token create` against `dataDir`; returns the token. */
export async function createToken(
  dataDir: string,
  scope: 'agent' | 'labeler' | 'viewer' | 'admin',
  name = `e2e-${scope}`,
): Promise<string> {
  const proc = cli(['token', 'create', '--scope', scope, '--name', name, '--data-dir', dataDir], {
    VISIONLOOP_LOG_LEVEL: 'warn',
  });
  const { code } = await proc.exited;
  const token = TOKEN.exec(proc.stdout())?.[0];
  if (code !== 0 || !token) {
    throw new Error(`token create failed (${code}):\n${proc.stdout()}\n${proc.stderr()}`);
  }
  return token;
}

/** The JSON line `visionloop agent` prints when it stops. */
export interface AgentSummary {
  camera: string;
  resultIdPrefix: string | null;
  framesProduced: number;
  framesCaptured: number;
  droppedFrames: number;
  resultsAcknowledged: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  shed: number;
  lost: number;
  framesUploaded: number;
  sendFailures: number;
  stillInOutbox: number;
  framesStillInOutbox: number;
  drained: boolean;
  authFailed: boolean;
}

export function agentSummaryOf(proc: Proc): AgentSummary {
  const line = proc
    .stdout()
    .split('\n')
    .find((text) => text.includes('"event":"agent-summary"'));
  if (!line) {
    throw new Error(`no summary line; stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`);
  }
  return JSON.parse(line) as AgentSummary;
}

/** Reads the server's SQLite file under `dataDir` read-only (null while it does not exist). */
export function withServerDb<T>(dataDir: string, read: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(join(dataDir, 'visionloop.db'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    return read(db);
  } finally {
    db.close();
  }
}
