/**
 * Drift monitoring end to end through the server, on every available dialect: frame results of
 * the synthetic line (SynthCamera frames measured by computeFeatures; detections from the
 * ground truth, no model) are ingested over HTTP, `drift.check` jobs run on an in-process
 * JobWorker built from the server's own handlers, and the outcome is read back through the
 * routes, the event bus and Prometheus. Also the bad inputs: a camera with no frames, a
 * baseline still being collected, an empty window, a broken frame, constant features, and
 * invalid settings and queries.
 *
 * Features are computed once per file (320×240 frames, one per 10 s bucket of the clock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import type { SystemEvent } from '../../../src/services/event-bus.js';
import type {
  DriftCheckResponse,
  DriftHistoryResponse,
  DriftSettings,
  DriftStatusResponse,
} from '../../../src/shared/api/drift.js';
import type { JobListResponse, JobView } from '../../../src/shared/api/jobs.js';
import type { FrameFeatures, FrameResult } from '../../../src/shared/domain.js';
import { SynthCamera, parseScenario } from '../../../src/synth/index.js';
import { computeFeatures } from '../../../src/vision/features.js';
import { databaseTargets } from '../../helpers/database.js';
import { openTestServer, type TestServer } from '../server/fixtures.js';

const T0 = 1_767_225_600_000;
const BUCKET_MS = 10_000;
const FPS = 15;
const CAMERA = 'line-1';
const BASELINE = 40;
const WINDOW = 25;

interface Measured {
  features: FrameFeatures;
  objects: { className: string; box: { x1: number; y1: number; x2: number; y2: number } }[];
}

/** One frame per 10 s of a `preset` stream (the frame a part period apart), measured once. */
function measure(preset: string, samples: number, firstSample: number): Measured[] {
  const camera = new SynthCamera({
    scenario: parseScenario(preset),
    seed: 23,
    fps: FPS,
    width: 320,
    height: 240,
  });
  return Array.from({ length: samples }, (_, i) => {
    const frame = camera.frame((firstSample + i) * (BUCKET_MS / 1000) * FPS);
    return { features: computeFeatures(frame.image), objects: frame.objects };
  });
}

let nominal: Measured[];
let night: Measured[];

beforeAll(() => {
  nominal = measure('nominal', BASELINE + 2 * WINDOW, 0);
  night = measure('night', WINDOW, BASELINE + 2 * WINDOW);
});

/**
 * Two frame results per 10 s bucket (the second 3 s later with the same measurements): the
 * window must keep only the first of each bucket.
 */
function results(
  measured: readonly Measured[],
  firstBucket: number,
  camera = CAMERA,
): FrameResult[] {
  return measured.flatMap((m, i) => {
    const bucket = firstBucket + i;
    const detections = m.objects.map((object, k) => ({
      classId: 0,
      className: object.className,
      confidence: 0.55 + ((bucket * 7 + k * 3) % 40) / 100,
      box: object.box,
    }));
    return [0, 3_000].map((offset, copy) => ({
      id: `${camera}-${bucket}-${copy}`,
      camera,
      frameIndex: bucket * 150 + copy * 45,
      capturedAt: T0 + bucket * BUCKET_MS + offset,
      width: 320,
      height: 240,
      detections,
      uncertain: detections.some((d) => d.confidence < 0.7),
      decision: detections.length > 0 ? ('FAIL' as const) : ('PASS' as const),
      features: m.features,
      latencies: { queueMs: 1, preprocessMs: 1, inferenceMs: 5, postprocessMs: 1, totalMs: 8 },
      modelVersion: 'seed-1',
      inferred: true,
    }));
  });
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(
    `drift monitoring through the server on ${target.dialect}`,
    () => {
      let server: TestServer;
      let worker: JobWorker;
      let clock = T0;
      const events: SystemEvent[] = [];

      beforeAll(async () => {
        server = await openTestServer(target, { now: () => clock });
        server.services.events.subscribe((event) => {
          if (event.type === 'drift') events.push(event);
        });
        worker = new JobWorker(server.services.jobs, {
          handlers: createJobHandlers(server.services),
          pollMinMs: 5,
          pollMaxMs: 50,
          sweepEveryMs: 0,
          unref: true,
        });
        worker.start();
      });
      afterAll(async () => {
        await worker?.stop({ graceMs: 1000 });
        await server?.close();
      });

      async function ingest(frames: FrameResult[]): Promise<void> {
        const response = await server.app.inject({
          method: 'POST',
          url: '/api/ingest',
          headers: server.auth('agent'),
          payload: { results: frames },
        });
        expect(response.statusCode, response.body).toBe(200);
        clock = Math.max(clock, ...frames.map((f) => f.capturedAt + 1_000));
      }

      async function check(camera = CAMERA): Promise<DriftCheckResponse> {
        const response = await server.app.inject({
          method: 'POST',
          url: `/api/metrics/drift/check?camera=${camera}&wait=true&timeoutSeconds=30`,
          headers: server.auth('admin'),
        });
        expect(response.statusCode, response.body).toBe(200);
        return response.json<DriftCheckResponse>();
      }

      async function get<T>(url: string, scope: 'viewer' | 'admin' = 'viewer'): Promise<T> {
        const response = await server.app.inject({
          method: 'GET',
          url,
          headers: server.auth(scope),
        });
        expect(response.statusCode, response.body).toBe(200);
        return response.json<T>();
      }

      it('takes small windows through the drift settings', async () => {
        const response = await server.app.inject({
          method: 'PUT',
          url: '/api/settings/drift',
          headers: server.auth('admin'),
          payload: { baselineSamples: BASELINE, windowSamples: WINDOW, minSamples: 20 },
        });
        expect(response.statusCode, response.body).toBe(200);
        expect(response.json<DriftSettings>()).toMatchObject({
          revision: 1,
          baselineSamples: BASELINE,
          windowSamples: WINDOW,
          minSpacingSeconds: 10,
          checkEverySeconds: 60,
        });
        expect((await get<DriftSettings>('/api/settings/drift')).windowSamples).toBe(WINDOW);
      });

      it('first-start settings (`up`) never replace stored ones, and are checked', async () => {
        const kept = await server.services.drift.initSettings({ baselineSamples: 99 }, 'up');
        expect(kept).toMatchObject({
          revision: 1,
          baselineSamples: BASELINE,
          windowSamples: WINDOW,
        });
        await expect(
          server.services.drift.initSettings({ minSamples: 60, windowSamples: 50 }, 'up'),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      });

      it('a camera with no frames yet gets a no_reference report, not an error', async () => {
        const result = await check('ghost-cam');
        expect(result.complete).toBe(true);
        expect(result.jobs[0]).toMatchObject({ name: 'drift.check', status: 'succeeded' });
        expect(result.cameras[0]).toMatchObject({
          camera: 'ghost-cam',
          status: 'no_reference',
          level: 'unknown',
          driftShare: null,
          reason: "no frames from camera 'ghost-cam' yet: nothing to compare",
        });
      });

      it('says the baseline is still being collected until it has enough frames', async () => {
        await ingest(results(nominal.slice(0, 20), 0));
        const [report] = (await check()).cameras;
        expect(report).toMatchObject({
          status: 'no_reference',
          level: 'unknown',
          modelVersion: 'seed-1',
          baseline: { state: 'collecting', samples: 20, needed: BASELINE, since: 0 },
        });
        expect(report?.reason).toContain('collecting the baseline of model seed-1 (20 of 40');
        // A baseline never reset starts with the camera's first frame, not at epoch 0.
        expect(report?.reason).toContain(
          `thinned frames since its first frame at ${new Date(T0).toISOString()})`,
        );
        expect(report?.reason).not.toContain('1970');
      });

      it('freezes the baseline, then reports an empty window as insufficient_data', async () => {
        await ingest(results(nominal.slice(20, BASELINE), 20));
        const [report] = (await check()).cameras;
        expect(report).toMatchObject({
          status: 'insufficient_data',
          level: 'unknown',
          driftShare: null,
          baseline: { state: 'ready', samples: BASELINE },
          reference: {
            kind: 'baseline',
            modelVersion: 'seed-1',
            samples: BASELINE,
            from: T0,
            to: T0 + (BASELINE - 1) * BUCKET_MS,
          },
          window: { samples: 0, framesSeen: 0 },
        });
        expect(report?.reason).toMatch(/^insufficient data/);
      });

      it('keeps nominal windows green', async () => {
        await ingest(results(nominal.slice(BASELINE, BASELINE + WINDOW), BASELINE));
        const first = (await check()).cameras[0];
        expect(first).toMatchObject({
          status: 'ok',
          level: 'green',
          drifted: false,
          window: {
            samples: WINDOW,
            // Two results per bucket were ingested; one per bucket was compared.
            framesSeen: 2 * WINDOW,
            startMs: T0 + BASELINE * BUCKET_MS,
            endMs: T0 + (BASELINE + WINDOW - 1) * BUCKET_MS,
          },
        });
        // 7 image features + mean confidence + detections per frame + uncertain share + class mix.
        expect(first?.testedFeatures).toBe(11);
        expect(first?.driftShare).toBeLessThanOrEqual(0.3);

        await ingest(results(nominal.slice(BASELINE + WINDOW), BASELINE + WINDOW));
        const second = (await check()).cameras[0];
        expect(second).toMatchObject({ status: 'ok', level: 'green' });
        expect(second?.window.startMs).toBe(T0 + (BASELINE + WINDOW) * BUCKET_MS);
        expect(events.map((e) => e.type === 'drift' && `${e.previousLevel}→${e.level}`)).toEqual([
          'unknown→green',
        ]);
      });

      it('raises the level on a night stream, with an event and the Prometheus gauges', async () => {
        await ingest(results(night, BASELINE + 2 * WINDOW));
        const [report] = (await check()).cameras;
        expect(report?.status).toBe('drift');
        expect(['yellow', 'red']).toContain(report?.level);
        expect(report?.driftShare).toBeGreaterThan(0.3);
        for (const feature of ['brightness', 'contrast', 'noise']) {
          expect(report?.driftedFeatures).toContain(feature);
          expect(report?.pValues[feature]).toBeLessThan(0.05);
        }
        expect(report?.reason).toMatch(/^drift \((yellow|red)\)/);

        const last = events.at(-1);
        expect(last).toMatchObject({
          type: 'drift',
          camera: CAMERA,
          previousLevel: 'green',
          level: report?.level,
          reportId: report?.reportId,
        });

        // The agents' drift-boost sampling is switched on.
        expect((await get<{ driftActive?: boolean }>('/api/settings/agent')).driftActive).toBe(
          true,
        );

        const metrics = await server.app.inject({ method: 'GET', url: '/metrics' });
        const share = /^visionloop_drift_share ([\d.e-]+)$/m.exec(metrics.body)?.[1];
        expect(Number(share)).toBeCloseTo(report?.driftShare ?? Number.NaN, 10);
        const brightness = /^visionloop_drift_pvalue\{feature="brightness"\} ([\d.e+-]+)$/m.exec(
          metrics.body,
        )?.[1];
        expect(Number(brightness)).toBeCloseTo(report?.pValues.brightness ?? Number.NaN, 12);
      });

      it('shows the latest state per camera and the history of the range', async () => {
        const status = await get<DriftStatusResponse>('/api/metrics/drift');
        const line = status.cameras.find((c) => c.camera === CAMERA);
        expect(status.overall.drifting).toEqual([CAMERA]);
        expect(['yellow', 'red']).toContain(status.overall.level);
        expect(status.overall.driftShare).toBe(line?.driftShare);
        expect(status.thresholds).toEqual({
          alpha: 0.05,
          driftShareThreshold: 0.3,
          redShareThreshold: 0.7,
          correction: 'none',
        });
        expect(line?.features.find((f) => f.feature === 'brightness')).toMatchObject({
          kind: 'numeric',
          test: 'ks',
          drifted: true,
          nRef: BASELINE,
          nCur: WINDOW,
        });
        // Both sides' distributions on shared bins, for the dashboard's overlay: night frames
        // are darker, so the window's median bin lies below the baseline's.
        const histogram = line?.features.find((f) => f.feature === 'brightness')?.distribution;
        if (histogram?.kind !== 'histogram') throw new Error('brightness has no histogram');
        expect(histogram.edges).toHaveLength(21);
        const medianBin = (shares: number[]) => {
          let sum = 0;
          return shares.findIndex((share) => (sum += share) >= 0.5);
        };
        expect(medianBin(histogram.current)).toBeLessThan(medianBin(histogram.reference));
        // Open to readers on the server's own machine without a token.
        const loopback = await server.app.inject({ method: 'GET', url: '/api/metrics/drift' });
        expect(loopback.statusCode).toBe(200);

        const history = await get<DriftHistoryResponse>(
          `/api/metrics/drift/history?camera=${CAMERA}&from=${T0}`,
        );
        expect(history.points.map((p) => p.status)).toEqual([
          'no_reference',
          'insufficient_data',
          'ok',
          'ok',
          'drift',
        ]);
        expect(history.truncated).toBe(false);
        const limited = await get<DriftHistoryResponse>(
          `/api/metrics/drift/history?camera=${CAMERA}&from=${T0}&limit=2`,
        );
        expect(limited.points.map((p) => p.status)).toEqual(['ok', 'drift']);
        expect(limited.truncated).toBe(true);
      });

      it('counts a broken frame as dropped values and still decides', async () => {
        // Features JSON as a broken agent could have stored it: Infinity and missing values.
        const bucket = BASELINE + 2 * WINDOW + WINDOW;
        await server.database.db
          .insertInto('prediction_logs')
          .values({
            id: 'broken-frame',
            agent_id: null,
            camera: CAMERA,
            frame_index: 1,
            captured_at: T0 + bucket * BUCKET_MS,
            received_at: T0,
            width: 320,
            height: 240,
            decision: 'PASS',
            uncertain: 0,
            inferred: 1,
            model_version: 'seed-1',
            detection_count: 0,
            max_confidence: null,
            detections: '[]',
            features: '{"brightness":1e999,"contrast":null,"sharpness":"x"}',
            queue_ms: 0,
            preprocess_ms: 0,
            inference_ms: 0,
            postprocess_ms: 0,
            total_ms: 0,
          })
          .execute();
        clock = T0 + bucket * BUCKET_MS + 1_000;
        const [report] = (await check()).cameras;
        expect(report?.status).toBe('drift');
        const brightness = report?.features.find((f) => f.feature === 'brightness');
        expect(brightness).toMatchObject({ droppedCur: 1, nCur: WINDOW - 1 });
        expect(report?.window.samples).toBe(WINDOW);
      });

      it('decides constant features without dividing by zero', async () => {
        const constant: Measured = { features: nominal[0]!.features, objects: [] };
        await ingest(results(Array(BASELINE + 20).fill(constant), 0, 'still-cam'));
        await check('still-cam');
        const [same] = (await check('still-cam')).cameras;
        expect(same).toMatchObject({ status: 'ok', level: 'green', driftShare: 0 });
        expect(same?.features.find((f) => f.feature === 'brightness')).toMatchObject({
          statistic: 0,
          pValue: 1,
          scaledMagnitude: 0,
        });
      });

      it('re-takes the baseline on request: no_reference until new frames arrive', async () => {
        const response = await server.app.inject({
          method: 'POST',
          url: '/api/metrics/drift/baseline',
          headers: server.auth('admin'),
          payload: { camera: CAMERA, reason: 'new lighting installed' },
        });
        expect(response.statusCode, response.body).toBe(200);
        expect(
          response.json<{ cameras: Record<string, { reason: string }> }>().cameras[CAMERA],
        ).toMatchObject({
          reason: 'new lighting installed',
        });
        const [report] = (await check()).cameras;
        expect(report).toMatchObject({
          status: 'no_reference',
          baseline: { state: 'collecting', samples: 0 },
        });
        const resetAt = report?.baseline?.since ?? 0;
        expect(resetAt).toBeGreaterThan(T0);
        expect(report?.reason).toContain(
          `(0 of 40 thinned frames since the reset at ${new Date(resetAt).toISOString()})`,
        );
        // Back to unknown: an event says so.
        expect(events.at(-1)).toMatchObject({ camera: CAMERA, level: 'unknown' });
        // …and drift-boost sampling is off again.
        expect((await get<{ driftActive?: boolean }>('/api/settings/agent')).driftActive).toBe(
          false,
        );
      });

      it('keeps the training-image reference of a model version for display', async () => {
        const features = nominal.slice(0, 5).map((m) => m.features);
        const info = await server.services.drift.storeTrainingReference('seed-1', features);
        expect(info).toMatchObject({ kind: 'training', modelVersion: 'seed-1', samples: 5 });
        await expect(
          server.services.drift.storeTrainingReference('seed-1', []),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        const status = await get<DriftStatusResponse>('/api/metrics/drift');
        const sorted = features.map((f) => f.brightness).sort((a, b) => a - b);
        expect(status.trainingReferences).toEqual([
          {
            id: info.id,
            modelVersion: 'seed-1',
            createdAt: info.createdAt,
            samples: 5,
            medians: expect.objectContaining({ brightness: sorted[2] }) as unknown,
          },
        ]);
        // Display only: the camera's decision still uses its own baseline.
        expect(status.cameras.find((c) => c.camera === CAMERA)?.reference?.kind ?? 'baseline').toBe(
          'baseline',
        );
      });

      it('refuses bad settings and queries with 400s', async () => {
        const cases: [string, string, unknown, string][] = [
          ['PUT', '/api/settings/drift', { minSamples: 60, windowSamples: 50 }, 'INVALID_ARGUMENT'],
          ['PUT', '/api/settings/drift', { alpha: 2 }, 'VALIDATION_FAILED'],
          ['PUT', '/api/settings/drift', { windowSamples: 'many' }, 'VALIDATION_FAILED'],
          ['POST', '/api/metrics/drift/check?camera=bad%2Fname', undefined, 'VALIDATION_FAILED'],
          ['POST', '/api/metrics/drift/check?wait=maybe', undefined, 'VALIDATION_FAILED'],
          [
            'GET',
            `/api/metrics/drift/history?from=${T0 + 10}&to=${T0}`,
            undefined,
            'INVALID_ARGUMENT',
          ],
          ['GET', '/api/metrics/drift/history?limit=0', undefined, 'VALIDATION_FAILED'],
          ['POST', '/api/metrics/drift/baseline', { reason: 'x', extra: 1 }, 'VALIDATION_FAILED'],
        ];
        for (const [method, url, payload, code] of cases) {
          const response = await server.app.inject({
            method: method as 'GET' | 'PUT' | 'POST',
            url,
            headers: server.auth('admin'),
            ...(payload === undefined ? {} : { payload: payload as object }),
          });
          expect(response.statusCode, `${method} ${url}`).toBe(400);
          expect(response.json<{ error: { code: string } }>().error.code, url).toBe(code);
        }
        // Nothing changed.
        expect((await get<DriftSettings>('/api/settings/drift')).revision).toBe(1);
      });

      it('does not hold a waiting check open when no worker runs drift checks', async () => {
        await worker.stop({ graceMs: 1000 });
        const response = await server.app.inject({
          method: 'POST',
          url: `/api/metrics/drift/check?camera=${CAMERA}&wait=true&timeoutSeconds=120`,
          headers: server.auth('admin'),
        });
        expect(response.statusCode).toBe(202);
        const body = response.json<DriftCheckResponse>();
        expect(body).toMatchObject({ complete: false, cameras: [] });
        expect(body.jobs[0]).toMatchObject({ name: 'drift.check', status: 'queued' });
        expect(body.message).toContain('no worker runs drift.check jobs');
        await server.services.jobs.cancel(body.jobs[0]!.id);
        worker = new JobWorker(server.services.jobs, {
          handlers: createJobHandlers(server.services),
          pollMinMs: 5,
          pollMaxMs: 50,
          sweepEveryMs: 0,
          unref: true,
        });
        worker.start();
      });

      it('lists, shows, cancels and retries jobs through /api/jobs', async () => {
        const list = await get<JobListResponse>(
          '/api/jobs?name=drift.check&status=succeeded&limit=3',
        );
        expect(list.jobs).toHaveLength(3);
        expect(
          list.jobs.every((job) => job.name === 'drift.check' && job.status === 'succeeded'),
        ).toBe(true);
        expect(list.nextCursor).not.toBeNull();
        const first = list.jobs[0]!;
        expect(await get<JobView>(`/api/jobs/${first.id}`)).toMatchObject({
          id: first.id,
          result: { camera: expect.any(String) as unknown },
        });
        const admin = server.auth('admin');
        const finished = await server.app.inject({
          method: 'POST',
          url: `/api/jobs/${first.id}/cancel`,
          headers: admin,
        });
        expect(finished.statusCode).toBe(409);
        const retryDone = await server.app.inject({
          method: 'POST',
          url: `/api/jobs/${first.id}/retry`,
          headers: admin,
        });
        expect(retryDone.statusCode).toBe(409);
        const missing = await server.app.inject({
          method: 'GET',
          url: '/api/jobs/job-none',
          headers: admin,
        });
        expect(missing.statusCode).toBe(404);

        // A job in the future stays queued: cancel it, then retry it.
        const { job } = await server.services.jobs.enqueue(
          'system.probe',
          { durationMs: 0 },
          { runAt: Date.now() + 3_600_000 },
        );
        const cancelled = await server.app.inject({
          method: 'POST',
          url: `/api/jobs/${job.id}/cancel`,
          headers: admin,
        });
        expect(cancelled.statusCode).toBe(200);
        expect(cancelled.json<JobView>()).toMatchObject({ status: 'cancelled', attempts: 0 });
        const retried = await server.app.inject({
          method: 'POST',
          url: `/api/jobs/${job.id}/retry`,
          headers: admin,
        });
        expect(retried.json<JobView>()).toMatchObject({ status: 'queued', attempts: 0 });
        expect((await server.services.jobs.waitFor(job.id, { timeoutMs: 10_000 })).status).toBe(
          'succeeded',
        );
        const bad = await server.app.inject({
          method: 'GET',
          url: '/api/jobs?status=running,sleeping',
          headers: admin,
        });
        expect(bad.statusCode).toBe(400);
      });
    },
  );
}
