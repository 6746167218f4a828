/**
 * The retraining routes on each dialect, without running a training (no worker): the policy's
 * conditions from labels and drift reports, the periodic evaluator's deduplication, trigger
 * and cancel with their refusals, settings validation, status and the paged history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  RetrainingConditionsResponse,
  RetrainingHistoryResponse,
  RetrainingSettings,
  RetrainingStatus,
} from '../../../src/shared/api/retraining.js';
import { databaseTargets } from '../../helpers/database.js';
import { addSyntheticLabels, openRetrainingServer, type RetrainingServer } from './fixtures.js';

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`retraining routes on ${target.dialect}`, () => {
    let server: RetrainingServer;

    async function call(
      method: 'GET' | 'POST' | 'PUT',
      url: string,
      payload?: object,
      headers = server.admin,
    ) {
      const response = await server.app.inject({ method, url, headers, payload });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    }

    beforeAll(async () => {
      server = await openRetrainingServer(target);
    });
    afterAll(() => server?.close());

    it('validates and stores the settings', async () => {
      const defaults = await call('GET', '/api/settings/retraining', undefined, server.viewer);
      expect(defaults).toMatchObject({
        status: 200,
        body: { revision: 0, labelThreshold: 50, cooldownMinutes: 30, autoPromote: false },
      });
      for (const bad of [
        { labelThreshold: 0 },
        { imgsz: 100 },
        { maxNominalLoss: 2 },
        { unknown: true },
        { autoPromote: 'yes' },
      ]) {
        const answer = await call('PUT', '/api/settings/retraining', bad);
        expect(answer.status, JSON.stringify(bad)).toBe(400);
      }
      const viewer = await call(
        'PUT',
        '/api/settings/retraining',
        { labelThreshold: 3 },
        server.viewer,
      );
      expect(viewer.status).toBe(403);
      const changed = await call('PUT', '/api/settings/retraining', {
        labelThreshold: 4,
        cooldownMinutes: 10,
      });
      expect(changed).toMatchObject({
        status: 200,
        body: { revision: 1, labelThreshold: 4, cooldownMinutes: 10, autoPromote: false },
      });
      // initSettings only stores a first value: an admin's change stands.
      const kept = await server.services.retraining.initSettings({ autoPromote: true }, 'up');
      expect(kept).toMatchObject({ revision: 1, autoPromote: false, labelThreshold: 4 });
    });

    it('explains the conditions from labels and drift reports', async () => {
      let conditions = (await call('GET', '/api/retraining/conditions'))
        .body as RetrainingConditionsResponse;
      expect(conditions.automatic).toMatchObject({ shouldRun: false, trigger: null });
      expect(conditions.automatic.reasons).toEqual([
        'there are no reviewed labels to build a snapshot from',
      ]);
      await addSyntheticLabels(server, 3, 31);
      // A camera whose latest report says drift; another that recovered.
      const now = Date.now();
      const report = (id: string, camera: string, drifted: boolean, at: number) => ({
        id,
        camera,
        model_version: 'v1',
        reference_id: 'ref-1',
        window_start: at - 1000,
        window_end: at,
        sample_count: 50,
        reference_count: 200,
        drift_share: drifted ? 0.6 : 0,
        level: drifted ? ('yellow' as const) : ('green' as const),
        drifted: drifted ? (1 as const) : (0 as const),
        features: '{}',
        decision_reason: 'test',
        created_at: at,
        status: drifted ? ('drift' as const) : ('ok' as const),
        report: null,
        job_id: null,
      });
      await server.database.db
        .insertInto('drift_reports')
        .values([
          report('dr-1', 'cam-a', true, now - 3000),
          report('dr-2', 'cam-b', true, now - 2000),
          report('dr-3', 'cam-b', false, now - 1000),
        ])
        .execute();
      conditions = (await call('GET', '/api/retraining/conditions'))
        .body as RetrainingConditionsResponse;
      expect(conditions.labels).toEqual({ total: 3, unused: 3, threshold: 4 });
      expect(conditions.drift).toEqual({ drifting: ['cam-a'], latestReportAt: now - 1000 });
      expect(conditions.automatic).toMatchObject({ shouldRun: true, trigger: 'drift' });
      expect(conditions.manual).toMatchObject({ shouldRun: true, trigger: 'manual' });

      await addSyntheticLabels(server, 2, 32);
      conditions = (await call('GET', '/api/retraining/conditions'))
        .body as RetrainingConditionsResponse;
      expect(conditions.automatic).toMatchObject({ shouldRun: true, trigger: 'labels' });
    });

    it('queues one training at a time, and refuses a trigger meanwhile', async () => {
      const first = await server.services.retraining.evaluatePolicy();
      expect(first.job).toMatchObject({ status: 'queued', payload: { trigger: 'labels' } });
      expect((await server.services.retraining.evaluatePolicy()).job).toBeNull();
      const trigger = await call('POST', '/api/retraining/trigger', {});
      expect(trigger).toMatchObject({
        status: 409,
        body: { error: { code: 'RETRAINING_IN_PROGRESS' } },
      });
      const conditions = (await call('GET', '/api/retraining/conditions'))
        .body as RetrainingConditionsResponse;
      expect(conditions.activeJobId).toBe(first.job!.id);
      expect(conditions.manual.reasons).toEqual([`training job ${first.job!.id} is queued`]);
      const status = (await call('GET', '/api/retraining/status')).body as RetrainingStatus;
      expect(status).toMatchObject({ state: 'queued', trigger: 'labels', epoch: null });

      // Cancel: unknown job, a job that is not a training, then the queued one.
      expect((await call('POST', '/api/retraining/cancel', { jobId: 'job-none' })).status).toBe(
        404,
      );
      const probe = await server.services.jobs.enqueue('system.probe', { durationMs: 10 });
      const notTraining = await call('POST', '/api/retraining/cancel', { jobId: probe.job.id });
      expect(notTraining).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
      const cancelled = await call('POST', '/api/retraining/cancel', {});
      expect(cancelled).toMatchObject({
        status: 200,
        body: { job: { id: first.job!.id, status: 'cancelled' } },
      });
      const again = await call('POST', '/api/retraining/cancel', {});
      expect(again).toMatchObject({
        status: 409,
        body: { error: { code: 'RETRAINING_NOT_RUNNING' } },
      });

      // The cancelled job starts the cooldown for the evaluator; a manual trigger skips it.
      const cooling = (await call('GET', '/api/retraining/conditions'))
        .body as RetrainingConditionsResponse;
      expect(cooling.automatic.shouldRun).toBe(false);
      expect(cooling.automatic.cooldownUntil).toBeGreaterThan(Date.now());
      expect((await server.services.retraining.evaluatePolicy()).job).toBeNull();
      const manual = await call('POST', '/api/retraining/trigger', { reason: 'by hand' });
      expect(manual).toMatchObject({
        status: 202,
        body: { job: { status: 'queued', payload: { trigger: 'manual', reason: 'by hand' } } },
      });
      expect(
        (await call('POST', '/api/retraining/trigger', { reason: 'x'.repeat(501) })).status,
      ).toBe(400);
    });

    it('pages through the history, newest first', async () => {
      const all = (await call('GET', '/api/retraining/history')).body as RetrainingHistoryResponse;
      expect(all.events.map((e) => e.kind)).toEqual(['queued', 'cancelled', 'queued']);
      expect(all.events[0]).toMatchObject({
        trigger: 'manual',
        reason: 'by hand',
        actor: 'test admin',
      });
      expect(all.events[2]).toMatchObject({ trigger: 'labels', details: { by: 'policy' } });
      const page = (await call('GET', '/api/retraining/history?limit=2'))
        .body as RetrainingHistoryResponse;
      expect(page.events).toHaveLength(2);
      expect(page.nextCursor).not.toBeNull();
      const rest = (
        await call(
          'GET',
          `/api/retraining/history?limit=2&before=${encodeURIComponent(page.nextCursor!)}`,
        )
      ).body as RetrainingHistoryResponse;
      expect(rest.events.map((e) => e.id)).toEqual([all.events[2]!.id]);
      expect(rest.nextCursor).toBeNull();
      expect((await call('GET', '/api/retraining/history?before=nope')).status).toBe(400);
      const settings = (await call('GET', '/api/settings/retraining')).body as RetrainingSettings;
      expect(settings.revision).toBe(1);
    });
  });
}
