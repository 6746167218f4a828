/**
 * The inspection chains and the agents' model plans through a real server: the routes (scopes,
 * field-named validation errors, task checks against the registry), the `plan` events on an
 * agent's event stream (on connect, on change only, none for an unknown agent), the plan in
 * heartbeat answers, and `visionloop chain` against the listening server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerChainCommands } from '../../../src/cli/chain.command.js';
import { ModelRegistryRepository } from '../../../src/repositories/model-registry.repository.js';
import type { HeartbeatResponse, RegisterAgentResponse } from '../../../src/shared/api/agents.js';
import type { ErrorBody } from '../../../src/shared/api/common.js';
import type {
  AgentModelPlan,
  ChainConfig,
  InspectionChainsResponse,
} from '../../../src/shared/api/inspection-chain.js';
import { DEFAULT_CHAIN } from '../../../src/shared/api/inspection-chain.js';
import { databaseTargets } from '../../helpers/database.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import { SseReader } from '../observability/sse-client.js';
import { openTestServer } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const CLASSIFY_SHA = 'c'.repeat(64);

const CLASSIFY_CHAIN: ChainConfig = {
  stages: [{ stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.3 }],
  vetoClass: 'not_defect',
  mmPerPixel: null,
  maxCrops: 8,
  rules: [{ id: 'cracks', when: 'class', classes: ['crack'], minConfidence: 0.4 }],
};

const HEARTBEAT = {
  cameraFps: 10,
  processFps: 10,
  skippedFps: 0,
  droppedFrames: 0,
  outboxDepth: 0,
  outboxBytes: 0,
  shedCount: 0,
  modelVersion: 'v1',
  inferenceMsP50: 5,
  inferenceMsP99: 9,
};

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`inspection chain and agent plans (${target.dialect})`, () => {
    let server: TestServer;
    let url: string;
    let v1Sha: string;

    async function putChain(body: unknown, scope: 'admin' | 'viewer' = 'admin') {
      return server.app.inject({
        method: 'PUT',
        url: '/api/inspection-chain',
        headers: server.auth(scope),
        payload: body as Record<string, unknown>,
      });
    }

    async function nextPlan(stream: SseReader): Promise<AgentModelPlan> {
      const message = await stream.nextEvent();
      expect(message?.event).toBe('plan');
      return JSON.parse(message?.data ?? 'null') as AgentModelPlan;
    }

    beforeAll(async () => {
      server = await openTestServer(target);
      url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      await installProductionFixture(server.services.models, 'v1');
      await installProductionFixture(server.services.models, 'v2', { classId: 1 });
      await server.services.models.promote('v1', 'production', { actor: 'test', reason: 'back' });
      v1Sha = (await server.services.models.production())?.sha256 ?? '';
      // A classifier row (this registry build registers detectors only; the chain never
      // loads the file, it checks the alias's task).
      const repo = new ModelRegistryRepository(server.database.db);
      await repo.insertModel({
        id: 'mdl_cls1',
        version: 'cls-1',
        source: 'uploaded',
        artifact_blob: 'blob-cls-1',
        artifact_sha256: CLASSIFY_SHA,
        artifact_bytes: 100,
        weights_blob: null,
        layout: 'classify',
        class_names: JSON.stringify(['crack', 'not_defect']),
        imgsz: 64,
        parent_version: null,
        dataset_id: null,
        trainer_params: null,
        metrics: null,
        training_log_blob: null,
        notes: null,
        created_by: 'test',
        created_at: 1,
        producer: null,
        task: 'classify',
      });
      await server.services.models.promote('cls-1', 'classify-production', { actor: 'test' });
    });
    afterAll(async () => {
      await server.services.modelServing.close();
      await server.close();
    });

    it('reads the default chain for viewers; only admins change it', async () => {
      const read = await server.app.inject({
        method: 'GET',
        url: '/api/inspection-chain',
        headers: server.auth('viewer'),
      });
      expect(read.statusCode).toBe(200);
      expect(read.json<InspectionChainsResponse>()).toEqual({
        default: DEFAULT_CHAIN,
        cameras: {},
        updatedAt: null,
      });
      const denied = await putChain({ camera: 'line-1', chain: CLASSIFY_CHAIN }, 'viewer');
      expect(denied.statusCode).toBe(403);
    });

    it('names the field of an invalid chain, and the alias of a model of the wrong task', async () => {
      const noCalibration = await putChain({
        camera: 'line-1',
        chain: { ...CLASSIFY_CHAIN, rules: [{ id: 'big', when: 'area-mm2', gt: 4 }] },
      });
      expect(noCalibration.statusCode).toBe(400);
      const body = noCalibration.json<ErrorBody>();
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.message).toContain(
        "body.chain.rules.0.when: 'area-mm2' needs a segment stage",
      );
      expect(body.error.message).toContain(
        "body.chain.rules.0.when: 'area-mm2' needs the camera's mmPerPixel calibration",
      );
      const wrongTask = await putChain({
        camera: 'line-1',
        chain: {
          ...CLASSIFY_CHAIN,
          stages: [{ stage: 'classify', alias: 'production', padding: 0, minConfidence: 0.3 }],
        },
      });
      expect(wrongTask.statusCode).toBe(422);
      expect(wrongTask.json<ErrorBody>().error).toEqual({
        code: 'MODEL_TASK_MISMATCH',
        message:
          "chain.stages.0.alias: alias 'production' points at v1, a detect model; the classify stage needs a classify model",
      });
      const missing = await putChain({
        camera: 'line-1',
        chain: {
          ...CLASSIFY_CHAIN,
          stages: [{ stage: 'classify', alias: 'nope', padding: 0, minConfidence: 0.3 }],
        },
      });
      expect(missing.statusCode).toBe(400);
      expect(missing.json<ErrorBody>().error.code).toBe('CHAIN_INVALID');
    });

    it('streams the plan on connect and again only when it changes; heartbeats carry it', async () => {
      const registered = await server.app.inject({
        method: 'POST',
        url: '/api/agents/register',
        headers: server.auth('agent'),
        payload: { camera: 'line-7', version: '1.0.0' },
      });
      const { agentId } = registered.json<RegisterAgentResponse>();
      const stream = await SseReader.open(
        `${url}/api/agents/${agentId}/events`,
        server.auth('agent'),
      );
      try {
        const current = await stream.nextEvent();
        expect(current?.event).toBe('model');
        expect(JSON.parse(current?.data ?? '{}')).toMatchObject({
          action: 'current',
          toVersion: 'v1',
        });
        expect(await nextPlan(stream)).toEqual({
          detect: { version: 'v1', sha256: v1Sha },
          classify: null,
          segment: null,
          chain: DEFAULT_CHAIN,
          shadow: null,
          rollout: null,
        });

        // Another camera's chain does not change this agent's plan: nothing is sent for it.
        expect((await putChain({ camera: 'line-8', chain: CLASSIFY_CHAIN })).statusCode).toBe(200);
        expect((await putChain({ camera: 'line-7', chain: CLASSIFY_CHAIN })).statusCode).toBe(200);
        const withClassifier = await nextPlan(stream);
        expect(withClassifier).toMatchObject({
          classify: { version: 'cls-1', sha256: CLASSIFY_SHA },
          chain: CLASSIFY_CHAIN,
        });

        const heartbeat = await server.app.inject({
          method: 'POST',
          url: `/api/agents/${agentId}/heartbeat`,
          headers: server.auth('agent'),
          payload: HEARTBEAT,
        });
        expect(heartbeat.json<HeartbeatResponse>().plan).toEqual(withClassifier);

        await server.services.models.promote('v2', 'production', { actor: 'ops', reason: 'drill' });
        const moved = await stream.nextEvent();
        expect(moved?.event).toBe('model');
        expect(JSON.parse(moved?.data ?? '{}')).toMatchObject({
          action: 'alias-moved',
          alias: 'production',
          toVersion: 'v2',
        });
        const afterMove = await nextPlan(stream);
        expect(afterMove.detect?.version).toBe('v2');
        expect(afterMove.classify?.version).toBe('cls-1');
        await server.services.models.promote('v1', 'production', { actor: 'ops', reason: 'back' });
        await stream.nextEvent();
        expect((await nextPlan(stream)).detect?.version).toBe('v1');
      } finally {
        stream.close();
      }
      expect((await putChain({ camera: 'line-7', chain: null })).statusCode).toBe(200);
      expect((await putChain({ camera: 'line-8', chain: null })).statusCode).toBe(200);
    });

    it('sends no plan to an agent the registry does not know, and model events as before', async () => {
      const stream = await SseReader.open(
        `${url}/api/agents/agent-unknown/events`,
        server.auth('agent'),
      );
      try {
        expect((await stream.nextEvent())?.event).toBe('model');
        expect((await putChain({ camera: null, chain: DEFAULT_CHAIN })).statusCode).toBe(200);
        await server.services.models.promote('v2', 'production', { actor: 'ops', reason: 'x' });
        const next = await stream.nextEvent();
        expect(next?.event).toBe('model');
        expect(JSON.parse(next?.data ?? '{}')).toMatchObject({
          action: 'alias-moved',
          toVersion: 'v2',
        });
        await server.services.models.promote('v1', 'production', { actor: 'ops', reason: 'y' });
        expect((await stream.nextEvent())?.event).toBe('model');
      } finally {
        stream.close();
      }
    });

    it('drives the chains from `visionloop chain`', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'visionloop-chain-cli-'));
      const run = async (args: string[]): Promise<string> => {
        let out = '';
        const program = new Command().exitOverride();
        registerChainCommands(program, {
          env: { VISIONLOOP_SERVER_URL: url, VISIONLOOP_TOKEN: server.tokens.admin },
          stdout: { write: (text: string) => (out += text) },
        });
        await program.parseAsync(['node', 'visionloop', 'chain', ...args]);
        return out;
      };
      try {
        const file = join(dir, 'chain.json');
        writeFileSync(file, JSON.stringify(CLASSIFY_CHAIN));
        expect(await run(['set', '--file', file, '--camera', 'line-3'])).toBe(
          'set camera line-3; agents follow within seconds\n' +
            'stages     detect → classify (classify-production, padding 0.1, min confidence 0.3)\n' +
            'veto       not_defect\n' +
            'mm/pixel   uncalibrated\n' +
            'max crops  8\n' +
            'rules      cracks: FAIL when crack is found at confidence ≥ 0.4\n',
        );
        expect(await run(['show', '--camera', 'line-3'])).toMatch(
          /^camera line-3 runs its own chain\n/,
        );
        expect(JSON.parse(await run(['show', '--camera', 'line-3', '--json']))).toEqual(
          CLASSIFY_CHAIN,
        );
        expect(await run(['show'])).toMatch(/1 camera with a chain of its own: line-3\n$/);
        const wrong = join(dir, 'wrong.json');
        writeFileSync(
          wrong,
          JSON.stringify({
            ...CLASSIFY_CHAIN,
            stages: [{ stage: 'classify', alias: 'production', padding: 0, minConfidence: 0.3 }],
          }),
        );
        await expect(run(['set', '--file', wrong])).rejects.toMatchObject({
          code: 'MODEL_TASK_MISMATCH',
          message:
            "chain.stages.0.alias: alias 'production' points at v1, a detect model; the classify stage needs a classify model",
        });
        expect(await run(['unset', '--camera', 'line-3'])).toBe(
          'camera line-3 runs the default chain again\n',
        );
        await expect(run(['unset', '--camera', 'line-3'])).rejects.toMatchObject({
          code: 'NOT_FOUND',
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
