/**
 * Observability through the real server (`startServer`: real auth, ingest, agent registry) on
 * every available dialect: what agents send shows up in `/api/metrics`, in `/metrics` and on
 * `/api/events`, with the access rules the issue asks for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFrameResults } from '../../../bench/ingest-rows.js';
import { loadServerConfig } from '../../../src/config/server.config.js';
import { startServer, type RunningServer } from '../../../src/main/server.main.js';
import type { HeartbeatRequest } from '../../../src/shared/api/agents.js';
import { metricsResponseSchema } from '../../../src/shared/api/metrics.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import { SseReader } from './sse-client.js';

const heartbeat: HeartbeatRequest = {
  cameraFps: 25,
  processFps: 9,
  skippedFps: 16,
  droppedFrames: 0,
  outboxDepth: 7,
  outboxBytes: 4096,
  shedCount: 0,
  modelVersion: 'seed-1',
  inferenceMsP50: 11,
  inferenceMsP99: 30,
};

describe.each(databaseTargets())('observability on the real server ($dialect)', (target) => {
  let database: TestDatabase;
  let server: RunningServer;
  let dir: string;
  let viewer: string;
  let agent: string;

  const post = (path: string, token: string, body: unknown): Promise<Response> =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    if (!target.available) return;
    database = await target.open();
    dir = mkdtempSync(join(tmpdir(), 'visionloop-observability-'));
    const config = loadServerConfig({
      VISIONLOOP_DATA_DIR: dir,
      DATABASE_URL: database.url,
      HOST: '127.0.0.1',
      PORT: '0',
      VISIONLOOP_LOG_LEVEL: 'silent',
    });
    server = await startServer(config, {
      logger: false,
      processMetrics: false,
      onAdminToken: () => undefined,
    });
    viewer = (await server.services.auth.createToken({ name: 'dash', scope: 'viewer' }, null))
      .token;
    agent = (await server.services.auth.createToken({ name: 'cam', scope: 'agent' }, null)).token;
  });

  afterAll(async () => {
    await server?.close();
    await database?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!target.available)(
    'streams ingested results, counts them, and serves the metrics',
    async () => {
      // EventSource sends no headers: the token goes in the query.
      const events = await SseReader.open(
        `${server.url}/api/events?types=frame&access_token=${encodeURIComponent(viewer)}`,
      );
      expect(events.response.status).toBe(200);
      expect((await events.next())?.comments).toContain('connected');

      const results = makeFrameResults(8, {
        seed: 3,
        cameras: ['cam-a', 'cam-b'],
        startAt: Date.now() - 20_000,
        idPrefix: `obs-${target.dialect}`,
      });
      const ingest = await post('/api/ingest', agent, { results });
      expect(ingest.status).toBe(200);
      expect(await ingest.json()).toMatchObject({ accepted: 8, duplicates: 0 });
      // A retried batch is stored once and must not be counted or streamed again.
      const retry = await post('/api/ingest', agent, { results });
      expect(await retry.json()).toMatchObject({ accepted: 0, duplicates: 8 });

      const streamed: string[] = [];
      for (let i = 0; i < 8; i++) {
        const message = await events.nextEvent();
        const data = JSON.parse(message?.data ?? '') as { result: { id: string } };
        streamed.push(data.result.id);
      }
      expect(streamed).toEqual(results.map((r) => r.id));
      events.close();

      const registered = await post('/api/agents/register', agent, {
        camera: 'cam-a',
        version: '0.1.0',
      });
      expect(registered.status).toBe(200);
      const { agentId } = (await registered.json()) as { agentId: string };
      const beat = await post(`/api/agents/${agentId}/heartbeat`, agent, heartbeat);
      expect(beat.status).toBe(200);

      // Loopback callers read metrics without a token.
      const prometheus = await fetch(`${server.url}/metrics`);
      expect(prometheus.status).toBe(200);
      expect(prometheus.headers.get('content-type')).toBe(
        'text/plain; version=0.0.4; charset=utf-8',
      );
      const lines = (await prometheus.text()).split('\n');
      expect(lines).toContain('visionloop_predictions_ingested_total{camera="cam-a"} 4');
      expect(lines).toContain('visionloop_predictions_ingested_total{camera="cam-b"} 4');
      expect(lines).toContain('visionloop_e2e_latency_seconds_count{camera="cam-a"} 4');
      expect(lines).toContain('visionloop_camera_fps{camera="cam-a"} 25');
      expect(lines).toContain('visionloop_process_fps{camera="cam-a"} 9');
      expect(lines).toContain('visionloop_skipped_fps{camera="cam-a"} 16');
      expect(lines).toContain('visionloop_outbox_depth{camera="cam-a"} 7');
      expect(lines).toContain('visionloop_model_info{alias="reported",version="seed-1"} 1');

      const json = await fetch(`${server.url}/api/metrics?window=600`);
      expect(json.status).toBe(200);
      const metrics = metricsResponseSchema.parse(await json.json());
      expect(metrics.overall.frames).toBe(8);
      expect(metrics.cameras.map((c) => [c.camera, c.frames])).toEqual([
        ['cam-a', 4],
        ['cam-b', 4],
      ]);
      const fails = results.filter((r) => r.decision === 'FAIL').length;
      expect(metrics.overall.defectRate).toBeCloseTo(fails / 8, 12);
    },
  );

  it.skipIf(!target.available)('refuses the event stream without a reader token', async () => {
    const anonymous = await fetch(`${server.url}/api/events`);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
    const asAgent = await fetch(`${server.url}/api/events?access_token=${agent}`);
    expect(asAgent.status).toBe(403);
    await asAgent.body?.cancel();
    const badQuery = await fetch(`${server.url}/api/events?types=everything`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(badQuery.status).toBe(400);
    expect(await badQuery.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect(server.services.events.listenerCount).toBe(0);
  });
});
