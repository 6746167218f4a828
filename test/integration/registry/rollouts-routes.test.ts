/**
 * The rollout routes and the `visionloop rollout` CLI on a real SQLite database: a small
 * Fastify app with the production auth plugin, error handler and zod compilers, the rollouts
 * plugin and the server's own services (the full app registers the plugin once the lead wires
 * it). Admin-only changes, reader reads, 4xx with codes for bad input, the CLI's tables and
 * its checks of flag combinations.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRolloutCommands } from '../../../src/cli/rollout.command.js';
import { classifyError } from '../../../src/http/app.js';
import { registerAuth } from '../../../src/http/auth.plugin.js';
import { rolloutsRoutes } from '../../../src/http/routes/rollouts.routes.js';
import { createRolloutService } from '../../../src/main/job-services.js';
import { createServerServices } from '../../../src/main/server.main.js';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import { ModelRegistryRepository } from '../../../src/repositories/model-registry.repository.js';
import type { RolloutService } from '../../../src/services/rollout.service.js';
import type {
  Rollout,
  RolloutDetail,
  RolloutListResponse,
} from '../../../src/shared/api/rollouts.js';
import { openSqliteTestDatabase, type TestDatabase } from '../../helpers/database.js';

const T0 = 1_767_225_600_000;

describe('rollouts over HTTP and the CLI', () => {
  let database: TestDatabase;
  let blobDir: string;
  let app: FastifyInstance;
  let url: string;
  let rollouts: RolloutService;
  const tokens: Record<'admin' | 'viewer', string> = { admin: '', viewer: '' };

  const auth = (scope: 'admin' | 'viewer') => ({ authorization: `Bearer ${tokens[scope]}` });

  async function cli(args: string[]): Promise<string> {
    let out = '';
    const program = new Command().exitOverride();
    registerRolloutCommands(program, {
      env: { VISIONLOOP_SERVER_URL: url, VISIONLOOP_TOKEN: tokens.admin },
      stdout: { write: (text: string) => (out += text) },
    });
    await program.parseAsync(['node', 'visionloop', 'rollout', ...args]);
    return out;
  }

  beforeAll(async () => {
    database = await openSqliteTestDatabase();
    blobDir = mkdtempSync(join(tmpdir(), 'visionloop-rollout-routes-'));
    const services = createServerServices(database, {
      blobStore: new LocalBlobStore(blobDir),
      heartbeatIntervalMs: 10_000,
      recentWindowMs: 600_000,
      processMetrics: false,
    });
    rollouts = createRolloutService(database, { models: services.models, events: services.events });
    const models = new ModelRegistryRepository(database.db);
    for (const [version, task] of [
      ['d1', 'detect'],
      ['d2', 'detect'],
      ['c1', 'classify'],
    ] as const) {
      const sha = createHash('sha256').update(version).digest('hex');
      await models.insertModel({
        id: `id-${version}`,
        version,
        source: 'trained',
        artifact_blob: sha,
        artifact_sha256: sha,
        artifact_bytes: 1000,
        weights_blob: null,
        layout: task === 'detect' ? 'yolov8' : 'classify',
        class_names: JSON.stringify(['scratch', 'crack']),
        imgsz: 320,
        parent_version: null,
        dataset_id: null,
        trainer_params: null,
        metrics: null,
        training_log_blob: null,
        notes: null,
        created_by: 'test',
        created_at: T0,
        task,
      });
    }
    // No model file behind the rows: the deployer reports a load failure, the move stands.
    await services.models.promote('d1', 'production', { actor: 'test', reason: 'seed' });
    for (const scope of ['admin', 'viewer'] as const) {
      tokens[scope] = (await services.auth.createToken({ name: `t ${scope}`, scope }, null)).token;
    }

    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.setErrorHandler((error, _request, reply) => {
      const { status, code, message } = classifyError(error);
      return reply.code(status).send({ error: { code, message } });
    });
    registerAuth(app, { auth: services.auth, loopbackReads: false });
    await app.register(rolloutsRoutes, { services: { rollouts } });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app.close();
    await database.cleanup();
    rmSync(blobDir, { recursive: true, force: true });
  });

  it('starts, lists, shows and rolls back a canary; only admins change rollouts', async () => {
    const body = {
      kind: 'canary',
      candidateVersion: 'd2',
      cameras: ['cam-a'],
      rules: { minFrames: 50 },
      reason: 'try it on one line',
    };
    const forbidden = await app.inject({
      method: 'POST',
      url: '/api/rollouts',
      headers: auth('viewer'),
      payload: body,
    });
    expect(forbidden.statusCode).toBe(403);
    const started = await app.inject({
      method: 'POST',
      url: '/api/rollouts',
      headers: auth('admin'),
      payload: body,
    });
    expect(started.statusCode, started.body).toBe(201);
    const rollout = started.json<Rollout>();
    expect(rollout).toMatchObject({
      kind: 'canary',
      stage: 'detect',
      baselineVersion: 'd1',
      createdBy: 't admin',
      rules: { minFrames: 50, maxDefectRateDelta: 0.1 },
    });

    const again = await app.inject({
      method: 'POST',
      url: '/api/rollouts',
      headers: auth('admin'),
      payload: { ...body, kind: 'shadow', cameras: undefined },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'ROLLOUT_CONFLICT' } });

    const list = await app.inject({ method: 'GET', url: '/api/rollouts', headers: auth('viewer') });
    expect(list.json<RolloutListResponse>().rollouts.map((r) => r.id)).toEqual([rollout.id]);
    const detail = await app.inject({
      method: 'GET',
      url: `/api/rollouts/${rollout.id}`,
      headers: auth('viewer'),
    });
    expect(detail.statusCode, detail.body).toBe(200);
    expect(detail.json<RolloutDetail>().metrics).toMatchObject({
      verdict: 'waiting',
      candidate: { frames: 0, defectRate: null },
      breaches: [],
    });
    const missing = await app.inject({
      method: 'GET',
      url: '/api/rollouts/ro_nope',
      headers: auth('viewer'),
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'ROLLOUT_NOT_FOUND' } });

    const viewerRollback = await app.inject({
      method: 'POST',
      url: `/api/rollouts/${rollout.id}/rollback`,
      headers: auth('viewer'),
      payload: {},
    });
    expect(viewerRollback.statusCode).toBe(403);
    const rolledBack = await app.inject({
      method: 'POST',
      url: `/api/rollouts/${rollout.id}/rollback`,
      headers: auth('admin'),
    });
    expect(rolledBack.statusCode, rolledBack.body).toBe(200);
    expect(rolledBack.json<Rollout>()).toMatchObject({
      state: 'rolled-back',
      endReason: 'rolled back by hand',
    });
    const late = await app.inject({
      method: 'POST',
      url: `/api/rollouts/${rollout.id}/promote`,
      headers: auth('admin'),
      payload: { reason: 'too late' },
    });
    expect(late.statusCode).toBe(409);
  });

  it('answers bad starts with the code that names the problem', async () => {
    const post = (payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/api/rollouts', headers: auth('admin'), payload });
    const wrongTask = await post({ kind: 'canary', candidateVersion: 'c1', share: 0.5 });
    expect(wrongTask.statusCode).toBe(422);
    expect(wrongTask.json()).toMatchObject({ error: { code: 'MODEL_TASK_MISMATCH' } });
    const unknownField = await post({ kind: 'canary', candidateVersion: 'd2', bogus: 1 });
    expect(unknownField.statusCode).toBe(400);
    const badShare = await post({ kind: 'canary', candidateVersion: 'd2', share: 1.5 });
    expect(badShare.statusCode).toBe(400);
    const both = await post({
      kind: 'canary',
      candidateVersion: 'd2',
      share: 0.5,
      cameras: ['cam-a'],
    });
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    const unknownModel = await post({ kind: 'shadow', candidateVersion: 'zz' });
    expect(unknownModel.statusCode).toBe(404);
  });

  it('runs the whole cycle from the CLI', async () => {
    await expect(
      cli(['start', '--kind', 'canary', '--candidate', 'd2', '--share', '0.5', '--cameras', 'a']),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(cli(['start', '--kind', 'blue', '--candidate', 'd2'])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: "--kind is canary or shadow, not 'blue'",
    });
    const started = await cli([
      'start',
      '--kind',
      'canary',
      '--candidate',
      'd2',
      '--cameras',
      'cam-a, cam-b',
      '--min-frames',
      '300',
      '--max-defect-rate-delta',
      '0.05',
      '--promote-after-frames',
      '1000',
      '--reason',
      'from the CLI',
    ]);
    expect(started).toMatch(/^started\nrollout +ro_\d{15}_\d{6}_[0-9a-f]{8}\n/);
    expect(started).toContain('canary of detect: d2 (baseline d1)');
    expect(started).toContain('scope         cam-a,cam-b');
    expect(started).toContain(
      'rules         min 300 frames; defect rate +0.05, uncertain rate +0.15, disagreement 0.35, latency ×1.5; promote after 1000',
    );
    const id = /rollout +(\S+)/.exec(started)?.[1] ?? '';
    const list = await cli(['list']);
    expect(list.split('\n')[0]).toMatch(/^ID +KIND +STAGE +CANDIDATE +BASELINE +SCOPE +STATE/);
    expect(list).toContain(id);
    const show = await cli(['show', id]);
    expect(show).toContain('verdict       waiting');
    expect(show).toMatch(/candidate \(-\) +0 +- +- +- +0 +-/);
    const json = JSON.parse(await cli(['show', id, '--json'])) as RolloutDetail;
    expect(json.rollout.rules.minFrames).toBe(300);
    const promoted = await cli(['promote', id, '--reason', 'clean on both lines']);
    expect(promoted).toContain('state         promoted');
    expect(promoted).toContain('ended because clean on both lines');
    expect((await rollouts.get(id)).state).toBe('promoted');
  });
});
