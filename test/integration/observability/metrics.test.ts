/**
 * `/api/metrics` and `/metrics` through HTTP on a real database of every available dialect:
 * rows stored in prediction_logs, read back by the repository's portable queries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PREDICTION_LOG_COLUMNS,
  makeFrameResults,
  predictionLogValues,
} from '../../../bench/ingest-rows.js';
import type { NewPredictionLog } from '../../../src/db/schema.js';
import { PredictionMetricsRepository } from '../../../src/repositories/prediction-metrics.repository.js';
import { InProcessEventBus } from '../../../src/services/event-bus.js';
import { LineStatsService, nearestRank } from '../../../src/services/line-stats.service.js';
import { PrometheusExporter } from '../../../src/services/prometheus-exporter.js';
import { metricsResponseSchema } from '../../../src/shared/api/metrics.js';
import type { FrameResult } from '../../../src/shared/domain.js';
import { databaseTargets, type TestDatabase } from '../../helpers/database.js';
import { buildObservabilityApp, type ObservabilityApp } from './observability-app.js';
import { summarizeLatencies } from '../../../src/services/ingest-batch.js';

const NOW = 1_767_225_600_000;
// Two cameras, one frame per second each for 60 s, ending 41 s ago … now: frames 40..59 of each
// camera fall in a 60 s window ending now (captured at NOW-100 s + k s).
const RESULTS = makeFrameResults(120, {
  seed: 11,
  cameras: ['a', 'b'],
  startAt: NOW - 100_000,
  frameIntervalMs: 1000,
});
const IN_WINDOW = RESULTS.filter((r) => r.capturedAt >= NOW - 60_000);

function toRow(result: FrameResult): NewPredictionLog {
  const values = predictionLogValues(result, 'agent-1', result.capturedAt + 5);
  return Object.fromEntries(
    PREDICTION_LOG_COLUMNS.map((column, i) => [column, values[i]]),
  ) as unknown as NewPredictionLog;
}

function percentiles(values: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...values].sort((x, y) => x - y);
  return {
    p50: nearestRank(sorted, 50),
    p95: nearestRank(sorted, 95),
    p99: nearestRank(sorted, 99),
  };
}

describe.each(databaseTargets())('observability metrics on $dialect', (target) => {
  let database: TestDatabase;
  let built: ObservabilityApp;
  let prometheus: PrometheusExporter;

  beforeAll(async () => {
    if (!target.available) return;
    database = await target.open();
    await database.db.insertInto('prediction_logs').values(RESULTS.map(toRow)).execute();
    prometheus = new PrometheusExporter({ defaultMetrics: false });
    built = await buildObservabilityApp({
      lineStats: new LineStatsService(new PredictionMetricsRepository(database.db), {
        now: () => NOW,
      }),
      prometheus,
      events: new InProcessEventBus(),
    });
  });

  afterAll(async () => {
    await built?.app.close();
    await database?.cleanup();
  });

  it.skipIf(!target.available)('summarizes the window per camera and overall', async () => {
    const response = await built.app.inject({ method: 'GET', url: '/api/metrics?window=60' });
    expect(response.statusCode).toBe(200);
    const metrics = metricsResponseSchema.parse(response.json());

    expect(IN_WINDOW).toHaveLength(40);
    expect(metrics.window).toEqual({ seconds: 60, from: NOW - 60_000, to: NOW });
    expect(metrics.sample).toEqual({
      rows: 40,
      limit: 20_000,
      complete: true,
      oldestCapturedAt: NOW - 60_000,
    });
    expect(metrics.cameras.map((c) => [c.camera, c.frames])).toEqual([
      ['a', 20],
      ['b', 20],
    ]);

    const inferred = IN_WINDOW.filter((r) => r.inferred);
    const detections = inferred.flatMap((r) => r.detections);
    const fails = IN_WINDOW.filter((r) => r.decision === 'FAIL').length;
    const uncertain = IN_WINDOW.filter((r) => r.uncertain).length;
    expect(metrics.overall).toMatchObject({
      frames: 40,
      inferredFrames: inferred.length,
      sampledFrames: 40,
      latencyMs: {
        inference: percentiles(inferred.map((r) => r.latencies.inferenceMs)),
        total: percentiles(IN_WINDOW.map((r) => r.latencies.totalMs)),
      },
    });
    expect(metrics.overall.fps).toBeCloseTo(40 / 60, 12);
    expect(metrics.overall.inferredFps).toBeCloseTo(inferred.length / 60, 12);
    expect(metrics.overall.defectRate).toBeCloseTo(fails / 40, 12);
    expect(metrics.overall.uncertainRate).toBeCloseTo(uncertain / 40, 12);
    // The generator makes a real mix, so these checks are not vacuous.
    expect(fails).toBeGreaterThan(0);
    expect(inferred.length).toBeLessThan(40);
    expect(detections.length).toBeGreaterThan(10);

    const histogram = metrics.overall.confidenceHistogram;
    expect(histogram.counts.reduce((s, n) => s + n, 0)).toBe(detections.length);
    const expectedBins = new Array<number>(20).fill(0);
    for (const d of detections) {
      const bin = Math.min(19, Math.floor(d.confidence * 20 + 1e-9));
      expectedBins[bin] = (expectedBins[bin] ?? 0) + 1;
    }
    expect(histogram.counts).toEqual(expectedBins);
    const classCounts: Record<string, number> = {};
    for (const d of detections) classCounts[d.className] = (classCounts[d.className] ?? 0) + 1;
    expect(metrics.overall.classCounts).toEqual(classCounts);

    const b = metrics.cameras.find((c) => c.camera === 'b');
    const inWindowB = IN_WINDOW.filter((r) => r.camera === 'b');
    expect(b?.defectRate).toBeCloseTo(
      inWindowB.filter((r) => r.decision === 'FAIL').length / 20,
      12,
    );
    expect(b?.latencyMs.total).toEqual(percentiles(inWindowB.map((r) => r.latencies.totalMs)));
  });

  it.skipIf(!target.available)('filters by camera and covers a longer window', async () => {
    const response = await built.app.inject({
      method: 'GET',
      url: '/api/metrics?window=3600&camera=b',
    });
    expect(response.statusCode).toBe(200);
    const metrics = metricsResponseSchema.parse(response.json());
    expect(metrics.camera).toBe('b');
    expect(metrics.cameras.map((c) => c.camera)).toEqual(['b']);
    expect(metrics.overall.frames).toBe(60);
    expect(metrics.sample.oldestCapturedAt).toBe(NOW - 100_000);
    // b's first frame is 100 s old: its 60 frames of the hour-long window are a rate over
    // those 100 s (0.6 FPS), not over 3600 s (0.017).
    expect(metrics.overall.coveredSeconds).toBe(100);
    expect(metrics.overall.fps).toBeCloseTo(0.6, 12);
    expect(metrics.cameras[0]?.fps).toBeCloseTo(0.6, 12);
  });

  it.skipIf(!target.available)('reads only the newest rows beyond the sample limit', async () => {
    const service = new LineStatsService(new PredictionMetricsRepository(database.db), {
      now: () => NOW,
      sampleLimit: 7,
    });
    const metrics = await service.summary({ window: 3600 });
    const newest = [...RESULTS]
      .sort((x, y) => y.capturedAt - x.capturedAt || (y.id < x.id ? -1 : 1))
      .slice(0, 7);
    expect(metrics.sample).toEqual({
      rows: 7,
      limit: 7,
      complete: false,
      oldestCapturedAt: newest.at(-1)?.capturedAt,
    });
    expect(metrics.overall.frames).toBe(120);
    expect(metrics.overall.latencyMs.total).toEqual(
      percentiles(newest.map((r) => r.latencies.totalMs)),
    );
  });

  it.skipIf(!target.available)('refuses bad queries with 400', async () => {
    for (const query of [
      'window=0',
      'window=86401',
      'window=1.5',
      'window=abc',
      'camera=../etc',
      'camera=',
      'since=5',
    ]) {
      const response = await built.app.inject({ method: 'GET', url: `/api/metrics?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json<{ error: { code: string } }>().error.code).toBe('VALIDATION_FAILED');
    }
  });

  it.skipIf(!target.available)(
    'is open on loopback and needs a reader token elsewhere',
    async () => {
      const remote = { remoteAddress: '10.1.2.3' };
      for (const url of ['/api/metrics', '/metrics']) {
        expect((await built.app.inject({ url, ...remote })).statusCode).toBe(401);
        const viewer = await built.app.inject({
          url,
          ...remote,
          headers: { authorization: 'Bearer viewer' },
        });
        expect(viewer.statusCode).toBe(200);
        const agent = await built.app.inject({
          url,
          ...remote,
          headers: { authorization: 'Bearer agent' },
        });
        expect(agent.statusCode).toBe(403);
      }
      expect(built.routes.filter((r) => r.method === 'GET').map((r) => [r.url, r.access])).toEqual(
        expect.arrayContaining([
          ['/api/metrics', { scopes: ['viewer', 'labeler', 'admin'], openOnLoopback: true }],
          ['/metrics', { scopes: ['viewer', 'labeler', 'admin'], openOnLoopback: true }],
          ['/api/events', { scopes: ['viewer', 'labeler', 'admin'] }],
        ]),
      );
    },
  );

  it.skipIf(!target.available)('serves Prometheus text with the ingest counters', async () => {
    prometheus.observeIngested(summarizeLatencies(RESULTS));
    const response = await built.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = response.body.split('\n');
    expect(lines).toContain('visionloop_predictions_ingested_total{camera="a"} 60');
    expect(lines).toContain('visionloop_predictions_ingested_total{camera="b"} 60');
    const inferredA = RESULTS.filter((r) => r.camera === 'a' && r.inferred).length;
    expect(lines).toContain(`visionloop_inference_seconds_count{camera="a"} ${inferredA}`);
    expect(lines).toContain('visionloop_e2e_latency_seconds_count{camera="a"} 60');
  });

  it.skipIf(!target.available)('documents the routes in OpenAPI', () => {
    const document = built.app.swagger() as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    expect(JSON.stringify(document)).not.toContain('undefined');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/api/metrics', '/metrics', '/api/events']),
    );
    const names = (path: string) =>
      (document.paths[path]?.get?.parameters ?? []).map((p) => `${p.in}:${p.name}`).sort();
    expect(names('/api/metrics')).toEqual(['query:camera', 'query:window']);
    expect(names('/api/events')).toEqual([
      'query:access_token',
      'query:camera',
      'query:maxFps',
      'query:types',
    ]);
  });
});
