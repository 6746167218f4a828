/**
 * End to end, with real processes on 127.0.0.1: `visionloop server` and `visionloop agent`
 * (the compiled CLI, bin/visionloop.js) streaming the synthetic camera through a tiny test
 * model. The server is SIGKILLed and restarted mid-stream; the agent is SIGKILLed and started
 * again on the same outbox. Every frame result the agent produced must end up in the server's
 * database exactly once.
 *
 * The CLI runs from dist/: `npm test` builds it in its pretest step; when dist/ is older than
 * src/ (running this file alone), beforeAll rebuilds it with `tsc -p tsconfig.build.json`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SYNTH_CLASSES } from '../../src/shared/domain.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../helpers/onnx-fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'visionloop.js');
const TOKEN = /vl_[A-Za-z0-9_-]{43}/;

/** Newest modification time of the compiled sources under `dir` with `suffix`, ms. */
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

function ensureBuilt(): void {
  const distMain = join(ROOT, 'dist', 'cli', 'main.js');
  const distNewest = existsSync(join(ROOT, 'dist')) ? newestMtime(join(ROOT, 'dist'), '.js') : 0;
  const srcNewest = newestMtime(join(ROOT, 'src'), '.ts', /\.test\.ts$/);
  if (existsSync(distMain) && distNewest >= srcNewest) return;
  // Type errors elsewhere do not stop tsc from emitting; missing output is what fails.
  spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'ignore',
      timeout: 170_000,
    },
  );
  if (!existsSync(distMain)) throw new Error('the build did not produce dist/cli/main.js');
}

/**
 * Runs the CLI with the `agent`, `server` and `token` commands. Uses bin/visionloop.js once
 * src/cli/main.ts wires them; until then, a stand-in entry that adds the missing commands from
 * their dist/cli/<name>.command.js files to the program main.ts builds.
 */
const FALLBACK_ENTRY = `
// Stand-in for bin/visionloop.js until src/cli/main.ts wires agent, server and token.
import { pathToFileURL } from 'node:url';
const root = process.env.VISIONLOOP_E2E_ROOT;
const load = (path) => import(pathToFileURL(root + path).href);
const { buildProgram } = await load('dist/cli/main.js');
const { formatError } = await load('dist/cli/output.js');
const program = buildProgram();
for (const name of ['agent', 'server', 'token']) {
  if (program.commands.some((command) => command.name() === name)) continue;
  const module = await load('dist/cli/' + name + '.command.js');
  for (const [key, value] of Object.entries(module)) {
    if (/^register.*Commands$/.test(key) && typeof value === 'function') value(program);
  }
}
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error && typeof error === 'object' && 'exitCode' in error) process.exitCode = error.exitCode === 0 ? 0 : 2;
  else { process.stderr.write(formatError(error) + '\\n'); process.exitCode = 1; }
}
`;

let cliPrefix: string[] = [BIN];

function commandsWired(): boolean {
  // `visionloop <unknown> --help` prints the program's help, so read the command list instead.
  const help = spawnSync(process.execPath, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8' });
  return ['agent', 'server', 'token'].every((name) =>
    new RegExp(`^\\s+${name}\\b`, 'm').test(help.stdout),
  );
}

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Proc>();

function cli(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [...cliPrefix, ...args], {
    cwd: ROOT,
    env: { ...process.env, VISIONLOOP_E2E_ROOT: ROOT, VISIONLOOP_THREADS: '1', ...env },
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
        running.delete(proc);
        resolve({ code, signal });
      });
    }),
  };
  running.add(proc);
  return proc;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Throws when `proc` has exited (a crashed agent should fail the test at once). */
function assertRunning(proc: Proc, what: string): void {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
    throw new Error(`${what} exited early:\n${proc.stderr()}\n${proc.stdout()}`);
  }
}

async function until<T>(
  what: string,
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await sleep(100);
  }
}

interface ServerHandle {
  proc: Proc;
  url: string;
}

async function startServer(port: number, dataDir: string): Promise<ServerHandle> {
  const proc = cli(
    ['server', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
    {
      VISIONLOOP_LOG_LEVEL: 'warn',
      // The agent runs a test model; the shipped seed as production would replace it.
      VISIONLOOP_SEED_MODEL: 'none',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  await until(
    'the server to answer /api/health',
    async () => {
      if (exited) throw new Error(`the server exited early:\n${proc.stderr()}\n${proc.stdout()}`);
      try {
        const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) });
        return response.status < 500;
      } catch {
        return false;
      }
    },
    30_000,
    () => proc.stderr(),
  );
  return { proc, url };
}

async function createAgentToken(dataDir: string): Promise<string> {
  const proc = cli(
    ['token', 'create', '--scope', 'agent', '--name', 'e2e-agent', '--data-dir', dataDir],
    {
      VISIONLOOP_LOG_LEVEL: 'warn',
    },
  );
  const { code } = await proc.exited;
  const token = TOKEN.exec(proc.stdout())?.[0];
  if (code !== 0 || !token) {
    throw new Error(`token create failed (${code}):\n${proc.stdout()}\n${proc.stderr()}`);
  }
  return token;
}

interface AgentSummary {
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

function startAgent(options: {
  url: string;
  token: string;
  model: string;
  outbox: string;
  camera: string;
  extra?: string[];
}): Proc {
  return cli(
    [
      'agent',
      '--server',
      options.url,
      '--source',
      'synth:nominal',
      '--fps',
      '20',
      '--model',
      options.model,
      '--camera',
      options.camera,
      '--outbox',
      options.outbox,
      '--drain-timeout',
      '30',
      ...(options.extra ?? []),
    ],
    { VISIONLOOP_AGENT_TOKEN: options.token },
  );
}

function summaryOf(proc: Proc): AgentSummary {
  const line = proc
    .stdout()
    .split('\n')
    .find((text) => text.includes('"event":"agent-summary"'));
  if (!line)
    throw new Error(`no summary line; stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`);
  return JSON.parse(line) as AgentSummary;
}

interface StoredRow {
  id: string;
  frame_index: number;
  frame_blob: string | null;
}

/** The rows the server stored for a camera, read straight from its SQLite file. */
function storedRows(dataDir: string, camera: string): StoredRow[] {
  const db = new BetterSqlite3(join(dataDir, 'visionloop.db'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    return db
      .prepare(
        'SELECT id, frame_index, frame_blob FROM prediction_logs WHERE camera = ? ORDER BY frame_index',
      )
      .all(camera) as StoredRow[];
  } finally {
    db.close();
  }
}

function countStored(dataDir: string, camera: string): number {
  try {
    return storedRows(dataDir, camera).length;
  } catch {
    return 0;
  }
}

/** What a killed agent left in its outbox (results), read with a plain connection. */
function outboxIds(path: string): string[] {
  const db = new BetterSqlite3(path, { fileMustExist: true });
  try {
    return (db.prepare('SELECT id FROM results ORDER BY seq').all() as { id: string }[]).map(
      (row) => row.id,
    );
  } finally {
    db.close();
  }
}

let work: string;
let model: string;

beforeAll(() => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'visionloop-e2e-'));
  if (!commandsWired()) {
    // A file, not `node -e`: worker threads inherit the parent's exec arguments.
    const entry = join(work, 'visionloop-e2e-entry.mjs');
    writeFileSync(entry, FALLBACK_ENTRY);
    cliPrefix = [entry];
  }
  // A 32×32 detector that always sees one scratch at confidence 0.5: every frame is a FAIL
  // and uncertain, so every frame's JPEG is uploaded too.
  const { dims, values } = encodeLayoutTensor(
    'yolov8',
    [{ cx: 16, cy: 16, w: 8, h: 8, classScores: [0.5, 0, 0, 0] }],
    SYNTH_CLASSES.length,
    21,
  );
  model = join(work, 'model.onnx');
  writeFileSync(
    model,
    buildConstantOutputModel({
      outputDims: dims,
      outputValues: values,
      metadata: ultralyticsMetadata(SYNTH_CLASSES),
    }),
  );
}, 180_000);

afterEach(async () => {
  for (const proc of running) proc.child.kill('SIGKILL');
  await Promise.all([...running].map((proc) => proc.exited));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('agent ⇄ server with real processes', () => {
  it('stores every frame exactly once when the server is killed and restarted mid-stream', async () => {
    const dataDir = join(work, 'server-restart');
    const port = await freePort();
    let server = await startServer(port, dataDir);
    const token = await createAgentToken(dataDir);
    const camera = 'e2e-server-restart';
    const agent = startAgent({
      url: server.url,
      token,
      model,
      camera,
      outbox: join(work, 'outbox-1.db'),
    });
    await until(
      'results to reach the server',
      () => (assertRunning(agent, 'the agent'), countStored(dataDir, camera) >= 30),
      30_000,
      () => agent.stderr(),
    );

    server.proc.child.kill('SIGKILL');
    await server.proc.exited;
    const storedAtKill = countStored(dataDir, camera);
    // The agent keeps producing into its outbox while the server is gone.
    await sleep(4000);
    server = await startServer(port, dataDir);
    await until(
      'the backlog to arrive',
      () => (assertRunning(agent, 'the agent'), countStored(dataDir, camera) >= storedAtKill + 80),
      45_000,
      () => agent.stderr(),
    );
    await sleep(1000);

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit.code, agent.stderr()).toBe(0);
    const summary = summaryOf(agent);
    server.proc.child.kill('SIGTERM');
    await server.proc.exited;

    expect(summary).toMatchObject({
      stillInOutbox: 0,
      framesStillInOutbox: 0,
      drained: true,
      shed: 0,
      lost: 0,
      rejected: 0,
      authFailed: false,
    });
    // The outage was real: sends failed and were retried.
    expect(summary.sendFailures).toBeGreaterThan(0);
    const n = summary.framesProduced;
    expect(n).toBeGreaterThan(100);
    expect(summary.resultsAcknowledged).toBe(n);
    expect(summary.framesCaptured).toBe(n + summary.droppedFrames);

    const rows = storedRows(dataDir, camera);
    const indexes = rows.map((row) => row.frame_index);
    expect(rows).toHaveLength(n);
    expect(new Set(indexes).size).toBe(n);
    expect(new Set(rows.map((row) => row.id)).size).toBe(n);
    expect(rows.every((row) => row.id === `${summary.resultIdPrefix}-${row.frame_index}`)).toBe(
      true,
    );
    // Frame indexes 0…captured-1; the only ones missing are the frames the pipeline dropped
    // before detection (it produced no result for them).
    expect(indexes[0]).toBe(0);
    expect(indexes.at(-1)).toBe(summary.framesCaptured - 1);
    // Every frame was uncertain, so every JPEG was uploaded once its result was stored.
    expect(summary.framesUploaded).toBe(n);
    expect(rows.filter((row) => row.frame_blob !== null)).toHaveLength(n);
    console.info(
      `e2e server restart: produced ${n}, dropped ${summary.droppedFrames}, stored ${rows.length} ` +
        `(${new Set(indexes).size} distinct), duplicates answered ${summary.duplicates}, ` +
        `send failures ${summary.sendFailures}, stored when killed ${storedAtKill}`,
    );
  }, 120_000);

  it('delivers what a killed agent left in its outbox after it starts again, none twice', async () => {
    const dataDir = join(work, 'agent-restart');
    const outbox = join(work, 'outbox-2.db');
    const port = await freePort();
    let server = await startServer(port, dataDir);
    const token = await createAgentToken(dataDir);
    const camera = 'e2e-agent-restart';
    const first = startAgent({ url: server.url, token, model, camera, outbox });
    await until(
      'results to reach the server',
      () => (assertRunning(first, 'the agent'), countStored(dataDir, camera) >= 20),
      30_000,
      () => first.stderr(),
    );
    // Take the server away so a backlog builds up in the outbox, then kill the agent too.
    server.proc.child.kill('SIGKILL');
    await server.proc.exited;
    await sleep(3000);
    first.child.kill('SIGKILL');
    await first.exited;

    const storedBefore = storedRows(dataDir, camera).map((row) => row.id);
    const leftInOutbox = outboxIds(outbox);
    expect(leftInOutbox.length).toBeGreaterThan(20);
    const firstPrefix = leftInOutbox[0]!.slice(0, leftInOutbox[0]!.lastIndexOf('-'));

    server = await startServer(port, dataDir);
    const second = startAgent({
      url: server.url,
      token,
      model,
      camera,
      outbox,
      extra: ['--max-frames', '40'],
    });
    const exit = await second.exited;
    expect(exit.code, second.stderr()).toBe(0);
    const summary = summaryOf(second);
    server.proc.child.kill('SIGTERM');
    await server.proc.exited;

    expect(summary).toMatchObject({
      stillInOutbox: 0,
      drained: true,
      shed: 0,
      lost: 0,
      rejected: 0,
    });
    expect(summary.resultIdPrefix).not.toBe(firstPrefix);
    // The backlog and the new run's results, each acknowledged once.
    expect(summary.resultsAcknowledged).toBe(leftInOutbox.length + summary.framesProduced);

    const rows = storedRows(dataDir, camera);
    const ids = rows.map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    const firstRun = new Set(ids.filter((id) => id.startsWith(`${firstPrefix}-`)));
    // Exactly what was stored before the kill plus what the outbox held: nothing lost, nothing
    // invented, and the rows both held (a batch committed whose answer never came) once.
    expect(firstRun).toEqual(new Set([...storedBefore, ...leftInOutbox]));
    const secondRun = rows.filter((row) => row.id.startsWith(`${summary.resultIdPrefix}-`));
    expect(secondRun).toHaveLength(summary.framesProduced);
    expect(new Set(secondRun.map((row) => row.frame_index)).size).toBe(summary.framesProduced);
    console.info(
      `e2e agent restart: ${storedBefore.length} stored before the kill, ${leftInOutbox.length} left in the ` +
        `outbox, ${firstRun.size} of the first run stored in the end; second run produced ` +
        `${summary.framesProduced}, acknowledged ${summary.resultsAcknowledged} (duplicates ${summary.duplicates})`,
    );
  }, 120_000);
});
