/**
 * The registry and the server's inference over HTTP, on every available dialect, with real
 * ONNX Runtime sessions (tiny constant-output fixture models): upload, download, predict,
 * promote (hot swap), alias history, rollback, model status, the heartbeat's production, the
 * agents' model event stream and the `visionloop models` CLI. Bad input — a corrupt or
 * truncated file, other class names, an unsupported layout, a rollback with no previous
 * version — gets a clear 4xx and leaves the registry and serving untouched.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerModelsCommands } from '../../../src/cli/models.command.js';
import type {
  AliasHistoryResponse,
  AliasMoveResponse,
  ModelDetailResponse,
  ModelListResponse,
  PredictResponse,
  UploadModelResponse,
} from '../../../src/shared/api/models.js';
import type { ModelStatusResponse } from '../../../src/shared/api/model-status.js';
import { SYNTH_CLASSES } from '../../../src/shared/domain.js';
import { databaseTargets } from '../../helpers/database.js';
import {
  buildNonOnnxFile,
  buildTruncatedModel,
  buildUnsupportedLayoutModel,
  readModelMetadata,
  ultralyticsMetadata,
} from '../../helpers/onnx-fixtures.js';
import { fixtureDetectorModel } from '../../helpers/registry-fixtures.js';
import { SseReader } from '../observability/sse-client.js';
import { openTestServer, testJpeg } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';

const OCTET = { 'content-type': 'application/octet-stream' };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`models over HTTP on ${target.dialect}`, () => {
    let server: TestServer;
    let url: string;
    let jpeg: Buffer;
    const v1 = fixtureDetectorModel({ classId: 0, confidence: 0.75 });
    const v2 = fixtureDetectorModel({ version: 'from-elsewhere', classId: 1, confidence: 0.875 });

    function upload(bytes: Uint8Array, query = '') {
      return server.app.inject({
        method: 'POST',
        url: `/api/models${query}`,
        headers: { ...server.auth('admin'), ...OCTET },
        payload: Buffer.from(bytes),
      });
    }

    async function predict(): Promise<PredictResponse> {
      const response = await server.app.inject({
        method: 'POST',
        url: '/api/predict',
        headers: { ...server.auth('viewer'), 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json<PredictResponse>();
    }

    beforeAll(async () => {
      server = await openTestServer(target);
      url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      jpeg = await testJpeg();
      const first = await upload(v1, '?version=v1&notes=first');
      expect(first.statusCode, first.body).toBe(201);
      const promoted = await server.app.inject({
        method: 'POST',
        url: '/api/models/v1/promote',
        headers: server.auth('admin'),
        payload: { alias: 'production', reason: 'first model' },
      });
      expect(promoted.json<AliasMoveResponse>().serving).toMatchObject({
        swapped: true,
        version: 'v1',
        error: null,
      });
    });
    afterAll(async () => {
      await server.services.modelServing.close();
      await server.close();
    });

    it('stores an upload with its version stamped in, serves it, and downloads it intact', async () => {
      const list = await server.app.inject({
        method: 'GET',
        url: '/api/models',
        headers: server.auth('viewer'),
      });
      const body = list.json<ModelListResponse>();
      expect(body.total).toBe(1);
      expect(body.models[0]).toMatchObject({
        version: 'v1',
        source: 'uploaded',
        layout: 'yolov8',
        classNames: [...SYNTH_CLASSES],
        imgsz: 32,
        aliases: ['production'],
        notes: 'first',
        hasWeights: false,
      });
      expect(body.aliases).toEqual([
        expect.objectContaining({
          alias: 'production',
          version: 'v1',
          sha256: body.models[0]?.sha256,
        }),
      ]);

      const download = await server.app.inject({
        method: 'GET',
        url: '/api/models/v1/artifact',
        headers: server.auth('agent'),
      });
      expect(download.statusCode).toBe(200);
      expect(download.headers['content-disposition']).toBe('attachment; filename="v1.onnx"');
      expect(download.headers['x-visionloop-sha256']).toBe(sha256(download.rawPayload));
      expect(download.headers['x-visionloop-sha256']).toBe(body.models[0]?.sha256);
      expect(readModelMetadata(download.rawPayload).visionloop_version).toBe('v1');
      const weights = await server.app.inject({
        method: 'GET',
        url: '/api/models/v1/weights',
        headers: server.auth('viewer'),
      });
      expect(weights.statusCode).toBe(404);
      expect(weights.json<{ error: { code: string } }>().error.code).toBe('MODEL_NOT_FOUND');

      const prediction = await predict();
      expect(prediction).toMatchObject({ modelVersion: 'v1', width: 64, height: 48 });
      expect(prediction.detections.map((d) => [d.className, d.confidence])).toEqual([
        ['scratch', 0.75],
      ]);
      const png = await sharp({
        create: { width: 40, height: 30, channels: 4, background: { r: 9, g: 9, b: 9, alpha: 1 } },
      })
        .png()
        .toBuffer();
      const fromPng = await server.app.inject({
        method: 'POST',
        url: '/api/predict?conf=0.9',
        headers: { ...server.auth('admin'), 'content-type': 'image/png' },
        payload: png,
      });
      expect(fromPng.json<PredictResponse>()).toMatchObject({ width: 40, detections: [] });
      const notImage = await server.app.inject({
        method: 'POST',
        url: '/api/predict',
        headers: { ...server.auth('viewer'), 'content-type': 'image/jpeg' },
        payload: Buffer.from('not a jpeg'),
      });
      expect(notImage.statusCode).toBe(422);
      expect(notImage.json<{ error: { code: string } }>().error.code).toBe('IMAGE_INVALID');
    });

    it('refuses bad uploads with clear errors and leaves registry and serving untouched', async () => {
      const cases: [string, Uint8Array, number, string, RegExp][] = [
        ['not ONNX', buildNonOnnxFile(), 422, 'MODEL_NOT_ONNX', /is not an ONNX model/],
        ['truncated', buildTruncatedModel(), 422, 'MODEL_NOT_ONNX', /is not an ONNX model/],
        [
          'other classes',
          fixtureDetectorModel({ classes: ['bolt', 'nut', 'washer', 'screw'] }),
          422,
          'MODEL_CLASSES_MISMATCH',
          /\(those of production, v1\): class 0 is 'bolt' in the model and 'scratch' in the deployment/,
        ],
        [
          'unsupported layout',
          buildUnsupportedLayoutModel(ultralyticsMetadata(SYNTH_CLASSES)),
          422,
          'MODEL_LAYOUT_UNSUPPORTED',
          /matches no supported layout/,
        ],
      ];
      for (const [name, bytes, status, code, message] of cases) {
        const response = await upload(bytes, '?version=bad');
        expect(response.statusCode, name).toBe(status);
        const error = response.json<{ error: { code: string; message: string } }>().error;
        expect(error.code, name).toBe(code);
        expect(error.message, name).toMatch(message);
      }
      const wrongType = await server.app.inject({
        method: 'POST',
        url: '/api/models',
        headers: { ...server.auth('admin'), 'content-type': 'application/json' },
        payload: '{}',
      });
      expect(wrongType.statusCode).toBe(415);
      const list = await server.app.inject({
        method: 'GET',
        url: '/api/models',
        headers: server.auth('viewer'),
      });
      expect(list.json<ModelListResponse>().total).toBe(1);
      expect((await predict()).modelVersion).toBe('v1');
      expect(server.services.modelServing.status()).toMatchObject({
        version: 'v1',
        swaps: 1,
        lastError: null,
      });
    });

    it('promotes with a hot swap, keeps the history, and rolls back in one call', async () => {
      const uploaded = await upload(v2, '?version=v2');
      expect(uploaded.statusCode, uploaded.body).toBe(201);
      const v2Sha = uploaded.json<UploadModelResponse>().model.sha256;
      const again = await upload(v2, '?version=v2');
      expect(again.statusCode).toBe(200);
      expect(again.json<UploadModelResponse>().created).toBe(false);

      const promote = await server.app.inject({
        method: 'POST',
        url: '/api/models/v2/promote',
        headers: server.auth('admin'),
        payload: { alias: 'production', reason: 'better on night' },
      });
      const move = promote.json<AliasMoveResponse>();
      expect(move).toMatchObject({ changed: true, fromVersion: 'v1', toVersion: 'v2' });
      expect(move.serving).toMatchObject({ swapped: true, version: 'v2', previousVersion: 'v1' });
      const prediction = await predict();
      expect(prediction.modelVersion).toBe('v2');
      expect(prediction.modelSha256).toBe(v2Sha);
      expect(prediction.detections.map((d) => d.className)).toEqual(['crack']);

      const status = await server.app.inject({
        method: 'GET',
        url: '/api/model-status',
        headers: server.auth('viewer'),
      });
      expect(status.json<ModelStatusResponse>()).toMatchObject({
        production: { alias: 'production', version: 'v2', sha256: v2Sha, updatedBy: 'test admin' },
        staging: null,
        serving: { version: 'v2', sha256: v2Sha, swaps: 2, lastError: null },
      });

      const prometheus = await server.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: server.auth('viewer'),
      });
      expect(prometheus.body).toContain('visionloop_model_info{alias="production",version="v2"} 1');

      const register = await server.app.inject({
        method: 'POST',
        url: '/api/agents/register',
        headers: server.auth('agent'),
        payload: { camera: 'cam-r', version: '1' },
      });
      const agentId = register.json<{ agentId: string }>().agentId;
      const heartbeat = await server.app.inject({
        method: 'POST',
        url: `/api/agents/${agentId}/heartbeat`,
        headers: server.auth('agent'),
        payload: {
          cameraFps: 1,
          processFps: 1,
          skippedFps: 0,
          droppedFrames: 0,
          outboxDepth: 0,
          outboxBytes: 0,
          shedCount: 0,
          modelVersion: 'v1',
          inferenceMsP50: null,
          inferenceMsP99: null,
        },
      });
      expect(heartbeat.json<{ production: unknown }>().production).toEqual({
        version: 'v2',
        sha256: v2Sha,
      });

      const detail = await server.app.inject({
        method: 'GET',
        url: '/api/models/v1',
        headers: server.auth('viewer'),
      });
      expect(detail.json<ModelDetailResponse>()).toMatchObject({
        model: { version: 'v1', aliases: [] },
        production: { version: 'v2' },
      });

      const rollback = await server.app.inject({
        method: 'POST',
        url: '/api/models/aliases/production/rollback',
        headers: server.auth('admin'),
        payload: { reason: 'false rejects on line 2' },
      });
      expect(rollback.statusCode, rollback.body).toBe(200);
      expect(rollback.json<AliasMoveResponse>()).toMatchObject({
        fromVersion: 'v2',
        toVersion: 'v1',
        entry: { action: 'rollback', actor: 'test admin', reason: 'false rejects on line 2' },
        serving: { swapped: true, version: 'v1' },
      });
      expect((await predict()).modelVersion).toBe('v1');

      const history = await server.app.inject({
        method: 'GET',
        url: '/api/models/aliases/production/history',
        headers: server.auth('viewer'),
      });
      expect(
        history
          .json<AliasHistoryResponse>()
          .history.map(
            (e) => `${e.action} ${e.fromVersion ?? '-'}→${e.toVersion ?? '-'} (${e.reason ?? ''})`,
          ),
      ).toEqual([
        'rollback v2→v1 (false rejects on line 2)',
        'promote v1→v2 (better on night)',
        'promote -→v1 (first model)',
      ]);

      await server.app.inject({
        method: 'POST',
        url: '/api/models/v2/promote',
        headers: server.auth('admin'),
        payload: { alias: 'staging' },
      });
      const noPrevious = await server.app.inject({
        method: 'POST',
        url: '/api/models/aliases/staging/rollback',
        headers: server.auth('admin'),
      });
      expect(noPrevious.statusCode).toBe(409);
      expect(noPrevious.json<{ error: { code: string; message: string } }>().error).toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining(
          "alias 'staging' has no previous version to roll back to: it has pointed at v2",
        ) as unknown,
      });
      expect((await predict()).modelVersion).toBe('v1');
      const reload = await server.app.inject({
        method: 'POST',
        url: '/api/reload',
        headers: server.auth('admin'),
      });
      expect(reload.json()).toMatchObject({ swapped: false, version: 'v1', error: null });
    });

    it("tells agents of production moves on their event stream, starting with what's current", async () => {
      const stream = await SseReader.open(`${url}/api/agents/agent-x/events`, server.auth('agent'));
      try {
        const first = await stream.nextEvent();
        expect(first?.event).toBe('model');
        const current = JSON.parse(first?.data ?? '{}') as Record<string, unknown>;
        const production = await server.services.models.production();
        expect(current).toMatchObject({
          action: 'current',
          alias: 'production',
          toVersion: production?.version,
          sha256: production?.sha256,
        });
        await server.services.models.promote('v2', 'production', { actor: 'ops', reason: 'drill' });
        const moved = JSON.parse((await stream.nextEvent())?.data ?? '{}') as Record<
          string,
          unknown
        >;
        expect(moved).toMatchObject({
          type: 'model',
          action: 'alias-moved',
          alias: 'production',
          fromVersion: production?.version,
          toVersion: 'v2',
          actor: 'ops',
          reason: 'drill',
        });
      } finally {
        stream.close();
      }
      const viewer = await fetch(`${url}/api/agents/agent-x/events`, {
        headers: server.auth('viewer'),
      });
      expect(viewer.status).toBe(403);
      await viewer.body?.cancel();
    });

    it('drives the registry from the `visionloop models` CLI', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'visionloop-models-cli-'));
      try {
        const run = async (args: string[]): Promise<string> => {
          let out = '';
          const program = new Command().exitOverride();
          registerModelsCommands(program, {
            env: { VISIONLOOP_SERVER_URL: url, VISIONLOOP_TOKEN: server.tokens.admin },
            stdout: { write: (text: string) => (out += text) },
          });
          await program.parseAsync(['node', 'visionloop', 'models', ...args]);
          return out;
        };
        const file = join(dir, 'v3.onnx');
        writeFileSync(file, fixtureDetectorModel({ version: 'v3', classId: 2 }));
        expect(await run(['upload', file, '--notes', 'from the CLI'])).toMatch(
          /^registered v3 from v3\.onnx \(sha256 [0-9a-f]{12}, yolov8, classes scratch, crack, dent, stain\)/,
        );
        expect(await run(['promote', 'v3', '--reason', 'cli drill'])).toMatch(
          /^production: v2 → v3\nthis server now serves v3 \(loaded and warmed up in \d+ ms\)/,
        );
        const list = await run(['list']);
        expect(list).toMatch(/^VERSION\s+SOURCE\s+ALIASES/);
        expect(list).toMatch(/\nv3\s+uploaded\s+production\s/);
        expect(list).toMatch(/3 versions; production → v3, staging → v2$/m);
        expect(await run(['rollback', '--reason', 'oops'])).toMatch(/^production: v3 → v2\n/);
        expect(await run(['history', 'production', '--limit', '2'])).toMatch(
          /rollback\s+v3\s+v2\s+test admin\s+oops\n.*promote\s+v2\s+v3\s+test admin\s+cli drill$/m,
        );
        const out = join(dir, 'copy.onnx');
        expect(await run(['download', 'v3', '--out', out])).toMatch(
          /^wrote .*copy\.onnx \(sha256 [0-9a-f]{64}\)/,
        );
        const detail = JSON.parse(await run(['show', 'v3', '--json'])) as ModelDetailResponse;
        expect(sha256(readFileSync(out))).toBe(detail.model.sha256);
        expect(detail.model.notes).toBe('from the CLI');
        await expect(run(['rollback', 'staging'])).rejects.toMatchObject({ code: 'CONFLICT' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
