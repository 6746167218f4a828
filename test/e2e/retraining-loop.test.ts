/**
 * The whole loop, end to end: an in-process server on 127.0.0.1 (real HTTP) with a job worker
 * running its schedules, and a real agent streaming the synthetic line through production
 * (`fixture-v1`, a model that finds nothing). Reviewed labels cross the threshold (8 here) when
 * a labelled data set is imported over HTTP; the periodic policy evaluator queues a training;
 * the job trains a tiny model (imgsz 128, 15 epochs), evaluates it against production on the
 * recent and nominal holdouts, registers it, and the gate (autoPromote on) makes it
 * production; the agent hears of it over its event stream and swaps between two frames. Every
 * frame before and after is stored once, frame indexes have no gap, and the results carry
 * fixture-v1 up to the swap and the candidate after it. `visionloop retrain status` and
 * `history` tell the story.
 *
 * Skipped when no Python with PyTorch is installed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRetrainCommands } from '../../src/cli/retrain.command.js';
import { resolveAgentConfig } from '../../src/config/agent.config.js';
import { loadServerConfig } from '../../src/config/server.config.js';
import { loadWorkerConfig } from '../../src/config/worker.config.js';
import { startAgent } from '../../src/main/agent.main.js';
import { datasetArchives } from '../../src/main/labeling.main.js';
import { startServer, type RunningServer } from '../../src/main/server.main.js';
import { startWorker, type RunningWorker } from '../../src/main/worker.main.js';
import type {
  RetrainingConditionsResponse,
  RetrainingStatus,
} from '../../src/shared/api/retraining.js';
import { exportDataset } from '../../src/synth/dataset-export.js';
import { installProductionFixture } from '../helpers/registry-fixtures.js';
import { TINY_TRAINING, trainerPython, until } from '../integration/retraining/fixtures.js';

const python = trainerPython();

describe.skipIf(python === null)('the retraining loop, end to end', () => {
  let dir: string;
  let server: RunningServer;
  let worker: RunningWorker;
  let admin: string;

  async function api<T>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${admin}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = (await response.json()) as T;
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(payload)}`);
    return payload;
  }

  async function retrainCli(...args: string[]): Promise<string> {
    let out = '';
    const program = new Command().name('visionloop').exitOverride();
    registerRetrainCommands(program, {
      env: {},
      stdout: { write: (chunk: string) => (out += chunk) },
    });
    await program.parseAsync(['retrain', ...args, '--server', server.url, '--token', admin], {
      from: 'user',
    });
    return out;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vl-retraining-loop-'));
    const env = { VISIONLOOP_DATA_DIR: dir, PORT: '0', VISIONLOOP_LOG_LEVEL: 'silent' };
    server = await startServer(loadServerConfig(env), {
      logger: false,
      processMetrics: false,
      seedModel: null,
      modelSyncMs: 200,
      onAdminToken: () => undefined,
    });
    admin = (await server.services.auth.createToken({ name: 'e2e admin', scope: 'admin' }, null))
      .token;
    await installProductionFixture(server.services.models, 'fixture-v1', { confidence: 0 });
    worker = await startWorker(
      loadWorkerConfig({ ...env, VISIONLOOP_WORKER_POLL_SECONDS: '0.2' }),
      {
        database: server.database,
        services: server.services,
        log: () => undefined,
        unref: true,
      },
    );
  });
  afterAll(async () => {
    await worker?.stop({ graceMs: 0 });
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'labels cross the threshold → trained, registered, promoted, and the agent swaps without a gap',
    { timeout: 240_000 },
    async () => {
      await api('PUT', '/api/settings/retraining', { ...TINY_TRAINING, evaluateEverySeconds: 5 });

      const v1File = join(dir, 'fixture-v1.onnx');
      writeFileSync(v1File, await server.services.models.readArtifact('fixture-v1'));
      const token = await server.services.auth.createToken({ name: 'agent', scope: 'agent' }, null);
      const logs: string[] = [];
      const run = await startAgent({
        config: resolveAgentConfig(
          {
            server: server.url,
            token: token.token,
            source: 'synth:nominal',
            fps: 10,
            model: v1File,
            camera: 'cam-loop',
            outbox: join(dir, 'agent', 'outbox.db'),
            drainTimeout: 20,
          },
          { VISIONLOOP_THREADS: '1', VISIONLOOP_DATA_DIR: dir },
        ),
        pipeline: { queueCapacity: 5000 },
        sender: { batchDelayMs: 100, heartbeatIntervalMs: 1000 },
        log: (level, message) => logs.push(`${level}: ${message}`),
      });
      await until(
        'frames on fixture-v1',
        () => Promise.resolve(run.stats().producedResults >= 20),
        60_000,
      );

      const quiet = await api<RetrainingConditionsResponse>('GET', '/api/retraining/conditions');
      expect(quiet.labels).toMatchObject({ unused: 0, threshold: 8 });
      expect(quiet.automatic.shouldRun).toBe(false);

      // 80 reviewed labels arrive at once (an imported labelled data set).
      const labels = join(dir, 'labels');
      await exportDataset({
        outDir: labels,
        presets: 'nominal',
        count: 80,
        seed: 12,
        valFraction: 0.2,
      });
      const chunks: Buffer[] = [];
      for await (const chunk of datasetArchives.packTarGz(
        await datasetArchives.directoryEntries(labels, 'labels/'),
      )) {
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
      const imported = await fetch(`${server.url}/api/datasets/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/gzip' },
        body: Buffer.concat(chunks),
      });
      expect(imported.status, await imported.clone().text()).toBe(201);

      // The scheduled evaluator queues the training; it runs to the end.
      const job = await until(
        'the policy to queue a training',
        async () => (await api<RetrainingStatus>('GET', '/api/retraining/status')).job,
        30_000,
      );
      expect(job).toMatchObject({ name: 'training.run', payload: { trigger: 'labels' } });
      const final = await until(
        'the training to finish',
        async () => {
          const status = await api<RetrainingStatus>('GET', '/api/retraining/status');
          return ['completed', 'failed', 'cancelled'].includes(status.state) && status;
        },
        180_000,
      );
      expect(final, final.error ?? '').toMatchObject({
        state: 'completed',
        decision: 'production',
      });
      const candidate = final.candidateVersion!;
      expect((await server.services.models.production())?.version).toBe(candidate);

      await until(
        'the agent to swap',
        () => Promise.resolve(run.stats().pipeline.modelVersion === candidate),
        60_000,
      );
      const atSwap = run.stats().producedResults;
      await until(
        'frames on the candidate',
        () => Promise.resolve(run.stats().producedResults >= atSwap + 20),
        60_000,
      );
      run.stop();
      const { summary, failure } = await run.done;
      expect(failure).toBeNull();
      expect(summary).toMatchObject({
        drained: true,
        lost: 0,
        droppedFrames: 0,
        modelVersion: candidate,
      });

      const rows = await server.database.db
        .selectFrom('prediction_logs')
        .select(['frame_index', 'model_version'])
        .where('camera', '=', 'cam-loop')
        .orderBy('frame_index')
        .execute();
      expect(rows).toHaveLength(summary.framesProduced);
      expect(rows.map((row) => row.frame_index)).toEqual(rows.map((_, i) => i));
      const first = rows.findIndex((row) => row.model_version === candidate);
      expect(first).toBeGreaterThanOrEqual(20);
      expect(rows.slice(0, first).every((row) => row.model_version === 'fixture-v1')).toBe(true);
      expect(rows.slice(first).every((row) => row.model_version === candidate)).toBe(true);
      expect(logs.filter((line) => line.startsWith('error'))).toEqual([]);

      const status = await retrainCli('status');
      expect(status).toContain('retraining: completed');
      expect(status).toContain(`candidate ${candidate} → production`);
      const history = await retrainCli('history', '--job', job.id);
      for (const kind of ['queued', 'started', 'snapshot', 'evaluating', 'registered']) {
        expect(history).toContain(kind);
      }
      expect(history).toContain('promoted:production');
      console.info(
        `retraining loop: ${rows.length} frames, ${candidate} from frame ${first}; ` +
          `job ${job.id} took ${Math.round(((final.job?.finishedAt ?? 0) - (final.job?.startedAt ?? 0)) / 1000)} s`,
      );
    },
  );
});
