/**
 * End to end, with real processes on 127.0.0.1 (issue 18): `visionloop server`, `visionloop
 * worker` (it runs the `rollout.evaluate` job) and two `visionloop agent`s on the synthetic line.
 * Production is a detector that never finds anything; a canary moves one camera to a candidate
 * that finds a defect on every frame. The canary's defect rate crosses the rule's threshold, the
 * rollout rolls back by itself, that camera's agent swaps back, and every frame either agent
 * produced is stored exactly once: no frame lost in any swap.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AliasHistoryResponse } from '../../src/shared/api/models.js';
import type { Rollout, RolloutDetail } from '../../src/shared/api/rollouts.js';
import { SYNTH_CLASSES } from '../../src/shared/domain.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../helpers/onnx-fixtures.js';
import {
  agentSummaryOf,
  assertRunning,
  cli,
  createToken,
  ensureBuilt,
  freePort,
  killAll,
  startServer,
  until,
  withServerDb,
  type Proc,
} from '../helpers/processes.js';

const GOOD = 'e2e-quiet';
const BAD = 'e2e-alarmist';

/** A 32×32 detector: `boxes` empty never detects; else one crack at 0.9 on every frame. */
function detectorModel(version: string, detects: boolean): Uint8Array {
  const { dims, values } = encodeLayoutTensor(
    'yolov8',
    detects ? [{ cx: 16, cy: 16, w: 8, h: 8, classScores: [0, 0.9, 0, 0] }] : [],
    SYNTH_CLASSES.length,
    21,
  );
  return buildConstantOutputModel({
    outputDims: dims,
    outputValues: values,
    metadata: { ...ultralyticsMetadata(SYNTH_CLASSES), visionloop_version: version },
  });
}

interface VersionCount {
  camera: string;
  model_version: string;
  frames: number;
}

function framesByVersion(dataDir: string): VersionCount[] {
  return withServerDb(
    dataDir,
    (db) =>
      db
        .prepare(
          `SELECT camera, model_version, count(*) AS frames FROM prediction_logs
           GROUP BY camera, model_version ORDER BY camera, model_version`,
        )
        .all() as VersionCount[],
  );
}

function countFor(rows: VersionCount[], camera: string, version: string): number {
  return rows.find((r) => r.camera === camera && r.model_version === version)?.frames ?? 0;
}

let work: string;

beforeAll(() => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'visionloop-canary-e2e-'));
}, 180_000);

afterEach(killAll);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a canary rollout with real processes', () => {
  it('moves one of two agents to the candidate, rolls back on a breach by itself, loses no frame', async () => {
    const dataDir = join(work, 'data');
    const port = await freePort();
    const server = await startServer(port, dataDir, { VISIONLOOP_SEED_MODEL: 'none' });
    const admin = await createToken(dataDir, 'admin');
    const agentToken = await createToken(dataDir, 'agent');

    async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const bytes = body instanceof Uint8Array;
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${admin}`,
          ...(body === undefined
            ? {}
            : { 'content-type': bytes ? 'application/octet-stream' : 'application/json' }),
        },
        body: body === undefined ? undefined : bytes ? Buffer.from(body) : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    }

    const goodFile = join(work, 'quiet.onnx');
    writeFileSync(goodFile, detectorModel(GOOD, false));
    await api('POST', `/api/models?version=${GOOD}`, new Uint8Array(readFileSync(goodFile)));
    await api('POST', `/api/models?version=${BAD}`, detectorModel(BAD, true));
    await api('POST', `/api/models/${GOOD}/promote`, {
      alias: 'production',
      reason: 'e2e baseline',
    });

    const worker = cli(['worker', '--data-dir', dataDir], { VISIONLOOP_LOG_LEVEL: 'warn' });
    const agents: Record<string, Proc> = {};
    for (const camera of ['cam-a', 'cam-b']) {
      agents[camera] = cli(
        [
          'agent',
          '--server',
          server.url,
          '--source',
          'synth:nominal',
          '--fps',
          '10',
          '--model',
          goodFile,
          '--camera',
          camera,
          '--outbox',
          join(work, `${camera}.outbox.db`),
          '--drain-timeout',
          '30',
        ],
        { VISIONLOOP_AGENT_TOKEN: agentToken },
      );
    }
    const context = () =>
      Object.entries(agents)
        .map(([camera, proc]) => `--- ${camera}\n${proc.stderr().slice(-3000)}`)
        .join('\n') + `\n--- worker\n${worker.stderr().slice(-3000)}`;
    const healthy = () => {
      for (const [camera, proc] of Object.entries(agents)) assertRunning(proc, camera);
      assertRunning(worker, 'the worker');
      assertRunning(server.proc, 'the server');
    };

    await until(
      'both cameras to store results of the production model',
      () => {
        healthy();
        const rows = framesByVersion(dataDir);
        return countFor(rows, 'cam-a', GOOD) >= 20 && countFor(rows, 'cam-b', GOOD) >= 20;
      },
      60_000,
      context,
    );

    const started = await api<Rollout>('POST', '/api/rollouts', {
      kind: 'canary',
      stage: 'detect',
      candidateVersion: BAD,
      cameras: ['cam-a'],
      rules: { minFrames: 30, maxDefectRateDelta: 0.2, promoteAfterFrames: null },
      reason: 'e2e: try the alarmist on cam-a first',
    });
    const rolloutId = started.id;
    expect(started).toMatchObject({ state: 'running', baselineVersion: GOOD });

    await until(
      'cam-a to run the candidate',
      () => (healthy(), countFor(framesByVersion(dataDir), 'cam-a', BAD) >= 10),
      60_000,
      context,
    );

    const ended = await until(
      'the rollout to roll back by itself',
      async () => {
        healthy();
        const detail = await api<RolloutDetail>('GET', `/api/rollouts/${rolloutId}`);
        return detail.rollout.state === 'rolled-back' ? detail : null;
      },
      90_000,
      context,
      500,
    );
    expect(ended.rollout.endReason).toMatch(/defect rate/i);
    expect(ended.metrics.candidate.defectRate).toBeGreaterThan(0.9);
    expect(ended.metrics.baseline.defectRate).toBe(0);

    // cam-a is back on production: new results of GOOD after the rollback.
    const afterRollback = countFor(framesByVersion(dataDir), 'cam-a', GOOD);
    await until(
      'cam-a to swap back to production',
      () => (healthy(), countFor(framesByVersion(dataDir), 'cam-a', GOOD) >= afterRollback + 10),
      60_000,
      context,
    );

    for (const proc of Object.values(agents)) proc.child.kill('SIGTERM');
    const exits = await Promise.all(Object.values(agents).map((proc) => proc.exited));
    for (const exit of exits) expect(exit.code, context()).toBe(0);
    worker.child.kill('SIGTERM');
    await worker.exited;

    const rows = framesByVersion(dataDir);
    // cam-b never ran the candidate.
    expect(countFor(rows, 'cam-b', BAD)).toBe(0);
    for (const [camera, proc] of Object.entries(agents)) {
      const summary = agentSummaryOf(proc);
      expect(summary).toMatchObject({ lost: 0, shed: 0, rejected: 0, stillInOutbox: 0 });
      const stored = withServerDb(dataDir, (db) =>
        db
          .prepare(
            'SELECT count(*) AS n, count(DISTINCT frame_index) AS d FROM prediction_logs WHERE camera = ?',
          )
          .get(camera),
      ) as { n: number; d: number };
      // Every frame the agent produced, stored once, across both swaps.
      expect(stored.n).toBe(summary.framesProduced);
      expect(stored.d).toBe(summary.framesProduced);
      expect(summary.framesCaptured).toBe(summary.framesProduced + summary.droppedFrames);
    }

    const history = await api<AliasHistoryResponse>(
      'GET',
      '/api/models/aliases/production/history',
    );
    const actions = history.history.map((entry) => [entry.action, entry.toVersion]);
    expect(actions).toContainEqual(['canary', BAD]);
    expect(actions).toContainEqual(['canary-rollback', GOOD]);
    const rollbackEntry = history.history.find((entry) => entry.action === 'canary-rollback');
    expect(rollbackEntry?.reason).toMatch(/defect rate/i);
    expect(rollbackEntry?.scope).toMatch(/cam-a/);
    // production itself never moved.
    expect(history.current).toBe(GOOD);

    const a = framesByVersion(dataDir);
    console.info(
      `e2e canary: cam-a ${countFor(a, 'cam-a', GOOD)} frames on ${GOOD}, ${countFor(a, 'cam-a', BAD)} on ${BAD}; ` +
        `cam-b ${countFor(a, 'cam-b', GOOD)} on ${GOOD}; rolled back: ${ended.rollout.endReason}`,
    );
    server.proc.child.kill('SIGTERM');
    await server.proc.exited;
  }, 300_000);
});
