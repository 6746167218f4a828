/**
 * Sampling end to end, on each dialect: a real server in-process and a real agent in-process
 * (synthetic conveyor, a constant-output ONNX model whose one box sits in the uncertainty
 * band). Sampling starts off; a settings change through the API reaches the running agent
 * through its heartbeat (no restart), the agent samples the next frames under the new rate
 * cap, uploads them, and each becomes exactly one labeling-queue item with its reason, the
 * model version and the detections as pre-labels.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../../src/agent/outbox.js';
import { resolveAgentConfig } from '../../../src/config/agent.config.js';
import { loadServerConfig } from '../../../src/config/server.config.js';
import { startAgent } from '../../../src/main/agent.main.js';
import { startServer, type RunningServer } from '../../../src/main/server.main.js';
import type { AgentSettings } from '../../../src/shared/api/agents.js';
import { SYNTH_CLASSES, type Detection } from '../../../src/shared/domain.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../../helpers/onnx-fixtures.js';

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(databaseTargets())('sampling from a running agent ($dialect)', (target) => {
  let database: TestDatabase;
  let server: RunningServer;
  let dir: string;
  let admin: string;
  let agentToken: string;
  let model: string;

  beforeAll(async () => {
    if (!target.available) return;
    database = await target.open();
    dir = mkdtempSync(join(tmpdir(), 'visionloop-sampling-'));
    server = await startServer(
      loadServerConfig({
        VISIONLOOP_DATA_DIR: dir,
        DATABASE_URL: database.url,
        HOST: '127.0.0.1',
        PORT: '0',
        VISIONLOOP_LOG_LEVEL: 'silent',
      }),
      { logger: false, processMetrics: false, onAdminToken: () => undefined, seedModel: null },
    );
    admin = (await server.services.auth.createToken({ name: 'ops', scope: 'admin' }, null)).token;
    agentToken = (await server.services.auth.createToken({ name: 'cam', scope: 'agent' }, null))
      .token;
    // One scratch at 0.5 (scores 0.5 / 0.3125): every frame is in the uncertainty band.
    const { dims, values } = encodeLayoutTensor(
      'yolov8',
      [{ cx: 16, cy: 16, w: 8, h: 8, classScores: [0.5, 0.3125, 0, 0] }],
      SYNTH_CLASSES.length,
      21,
    );
    model = join(dir, 'model.onnx');
    writeFileSync(
      model,
      buildConstantOutputModel({
        outputDims: dims,
        outputValues: values,
        metadata: ultralyticsMetadata(SYNTH_CLASSES),
      }),
    );
  });

  afterAll(async () => {
    await server?.close();
    await database?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const putSettings = async (body: unknown): Promise<AgentSettings> => {
    const response = await fetch(`${server.url}/api/settings/agent`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as AgentSettings;
  };

  const queueItems = () =>
    database.db.selectFrom('labeling_queue').selectAll().orderBy('created_at').execute();

  it.skipIf(!target.available)(
    'applies a settings change without a restart and queues what it samples',
    async () => {
      const off = await putSettings({ uploadFrames: 'none', sampling: { enabled: false } });
      // The agent starts with the server's current settings (as a restart would, from its outbox).
      const outboxPath = join(dir, 'outbox.db');
      const seeded = Outbox.open(outboxPath);
      seeded.saveSettings(off);
      seeded.close();

      const run = await startAgent({
        config: resolveAgentConfig(
          {
            server: server.url,
            token: agentToken,
            source: 'synth:nominal',
            model,
            camera: 'cam-s',
            outbox: outboxPath,
            fps: 10,
            maxFrames: 600,
            drainTimeout: 10,
          },
          { VISIONLOOP_THREADS: '1', VISIONLOOP_DATA_DIR: dir },
        ),
        sender: { heartbeatIntervalMs: 100, batchDelayMs: 100 },
        log: () => undefined,
      });
      let producedBefore = 0;
      try {
        await waitFor('the agent to register and run', () => {
          const stats = run.stats();
          return stats.sender.agentId !== null && stats.producedResults >= 3;
        });
        expect(run.stats().sampling.sampled).toBe(0);

        // Every frame produced so far was processed before the change was even sent.
        producedBefore = run.stats().producedResults;
        const on = await putSettings({
          sampling: {
            enabled: true,
            strategies: { uncertainty: { keepProbability: 1 }, random: { enabled: false } },
            dedupe: { enabled: false },
            caps: { perMinute: 3 },
          },
        });
        await waitFor('the agent to apply the new revision', () => {
          return run.stats().sender.settings.revision === on.revision;
        });
        await waitFor('three queue items', async () => (await queueItems()).length >= 3);
      } finally {
        run.stop();
      }
      const { summary, failure } = await run.done;
      expect(failure).toBeNull();
      expect(summary).toMatchObject({ framesSampled: 3, framesUploaded: 3, drained: true });

      const items = await queueItems();
      expect(items).toHaveLength(3);
      for (const item of items) {
        expect(item).toMatchObject({
          camera: 'cam-s',
          status: 'pending',
          reason: 'low_confidence',
          model_version: run.model.version,
          width: 640,
          height: 480,
        });
        expect(item.priority).toBeGreaterThan(4);
        expect(item.priority).toBeLessThan(5);
        expect(item.phash).toMatch(/^[0-9a-f]{16}$/);
        const preLabels = JSON.parse(item.pre_labels) as Detection[];
        expect(preLabels).toHaveLength(1);
        expect(preLabels[0]).toMatchObject({
          className: 'scratch',
          confidence: 0.5,
          classScores: [0.5, 0.3125, 0, 0],
        });
      }
      // Sampled only after the change, and only those three carry the mark.
      const marked = await database.db
        .selectFrom('prediction_logs')
        .select(['id', 'frame_index'])
        .where('sampling', 'is not', null)
        .execute();
      expect(marked.map((row) => row.id).sort()).toEqual(
        items.map((item) => item.prediction_id).sort(),
      );
      expect(Math.min(...marked.map((row) => row.frame_index))).toBeGreaterThanOrEqual(
        producedBefore,
      );
    },
  );
});
