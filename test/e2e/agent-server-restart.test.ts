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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SYNTH_CLASSES } from '../../src/shared/domain.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../helpers/onnx-fixtures.js';
import {
  agentSummaryOf as summaryOf,
  assertRunning,
  cli,
  createToken,
  ensureBuilt,
  freePort,
  killAll,
  sleep,
  startServer as startServerProcess,
  until,
  withServerDb,
  type Proc,
  type ServerHandle,
} from '../helpers/processes.js';

async function startServer(port: number, dataDir: string): Promise<ServerHandle> {
  // The agent runs a test model; the shipped seed as production would replace it.
  return startServerProcess(port, dataDir, { VISIONLOOP_SEED_MODEL: 'none' });
}

async function createAgentToken(dataDir: string): Promise<string> {
  return createToken(dataDir, 'agent', 'e2e-agent');
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

interface StoredRow {
  id: string;
  frame_index: number;
  frame_blob: string | null;
}

/** The rows the server stored for a camera, read straight from its SQLite file. */
function storedRows(dataDir: string, camera: string): StoredRow[] {
  return withServerDb(
    dataDir,
    (db) =>
      db
        .prepare(
          'SELECT id, frame_index, frame_blob FROM prediction_logs WHERE camera = ? ORDER BY frame_index',
        )
        .all(camera) as StoredRow[],
  );
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

afterEach(killAll);

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
