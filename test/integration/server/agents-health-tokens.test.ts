/**
 * Agents, settings, health, model status and tokens through HTTP on each dialect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_SETTINGS } from '../../../src/shared/api/agents.js';
import type { AgentListResponse, HeartbeatRequest } from '../../../src/shared/api/agents.js';
import type { HealthResponse } from '../../../src/shared/api/health.js';
import type { ModelStatusResponse } from '../../../src/shared/api/model-status.js';
import type { CreatedToken, TokenListResponse } from '../../../src/shared/api/tokens.js';
import { databaseTargets } from '../../helpers/database.js';
import { T0, frameResults, openTestServer } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const HEARTBEAT: HeartbeatRequest = {
  cameraFps: 15,
  processFps: 14,
  skippedFps: 1,
  droppedFrames: 2,
  outboxDepth: 120,
  outboxBytes: 90_000,
  shedCount: 0,
  modelVersion: 'ft-2',
  inferenceMsP50: 12,
  inferenceMsP99: 40,
};

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`agents, health and tokens on ${target.dialect}`, () => {
    let server: TestServer;
    let clock = T0 + 3_600_000;

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => clock });
    });
    afterAll(() => server.close());

    it('registers agents, takes heartbeats and lists them with their state', async () => {
      const register = await server.app.inject({
        method: 'POST',
        url: '/api/agents/register',
        headers: server.auth('agent'),
        payload: { camera: 'line-1', version: '0.1.0', modelVersion: 'seed-1', hostname: 'edge-1' },
      });
      expect(register.statusCode).toBe(200);
      const { agentId } = register.json<{ agentId: string }>();
      const again = await server.app.inject({
        method: 'POST',
        url: '/api/agents/register',
        headers: server.auth('agent'),
        payload: { camera: 'line-1', version: '0.1.1' },
      });
      expect(again.json<{ agentId: string }>().agentId).toBe(agentId);

      clock += 2_000;
      const beat = await server.app.inject({
        method: 'POST',
        url: `/api/agents/${agentId}/heartbeat`,
        headers: server.auth('agent'),
        payload: HEARTBEAT,
      });
      expect(beat.statusCode).toBe(200);
      expect(beat.json()).toMatchObject({ settings: { revision: 0 }, serverTime: clock });

      const unknown = await server.app.inject({
        method: 'POST',
        url: '/api/agents/agt-nobody/heartbeat',
        headers: server.auth('agent'),
        payload: HEARTBEAT,
      });
      expect(unknown.statusCode).toBe(404);

      const list = await server.app.inject({
        method: 'GET',
        url: '/api/agents',
        headers: server.auth('viewer'),
      });
      const body = list.json<AgentListResponse>();
      expect(body.heartbeatIntervalMs).toBe(10_000);
      expect(body.agents).toEqual([
        expect.objectContaining({
          id: agentId,
          camera: 'line-1',
          version: '0.1.1',
          hostname: 'edge-1',
          modelVersion: 'ft-2',
          lastSeenAt: clock,
          online: true,
          fps: 14,
          outboxDepth: 120,
          heartbeat: HEARTBEAT,
        }),
      ]);
    });

    it('changes agent settings with a new revision that agents then receive', async () => {
      const put = await server.app.inject({
        method: 'PUT',
        url: '/api/settings/agent',
        headers: server.auth('admin'),
        payload: { uploadFrames: 'all', jpegQuality: 60 },
      });
      expect(put.json()).toEqual({
        ...DEFAULT_AGENT_SETTINGS,
        revision: 1,
        uploadFrames: 'all',
        jpegQuality: 60,
      });
      const list = await server.app.inject({
        method: 'GET',
        url: '/api/agents',
        headers: server.auth('viewer'),
      });
      const agentId = list.json<AgentListResponse>().agents[0]?.id ?? '';
      const settings = await server.app.inject({
        method: 'GET',
        url: `/api/agents/${agentId}/settings`,
        headers: server.auth('agent'),
      });
      expect(settings.json()).toEqual({
        ...DEFAULT_AGENT_SETTINGS,
        revision: 1,
        uploadFrames: 'all',
        jpegQuality: 60,
      });
      const current = await server.app.inject({
        method: 'GET',
        url: '/api/settings/agent',
        headers: server.auth('viewer'),
      });
      expect(current.json()).toEqual(settings.json());
    });

    it('reports health and model status', async () => {
      const results = [
        ...frameResults(0, 20, { modelVersion: 'seed-1', capturedAt: clock - 20 * 60_000 }),
        ...frameResults(100, 30, {
          modelVersion: 'ft-2',
          capturedAt: clock - 60_000,
          camera: 'line-1',
        }),
      ];
      // Distinct capture times per result within each group.
      results.forEach((r, i) => (r.capturedAt += i));
      await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results },
      });

      const health = await server.app.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(200);
      const body = health.json<HealthResponse>();
      expect(body).toMatchObject({
        status: 'ok',
        database: { ok: true, dialect: target.dialect },
        blobStore: { ok: true, kind: 'local' },
        versions: { server: 'test', models: ['ft-2'] },
      });
      expect(body.agents).toHaveLength(1);

      const status = await server.app.inject({ method: 'GET', url: '/api/model-status' });
      const model = status.json<ModelStatusResponse>();
      expect(model.countsComplete).toBe(true);
      expect(model.versions).toEqual([
        {
          version: 'ft-2',
          agents: [body.agents[0]?.id],
          cameras: ['line-1'],
          recentResults: 30,
          lastResultAt: clock - 60_000 + 49,
        },
      ]);
    });

    it('creates, lists and revokes tokens, never showing a secret twice', async () => {
      const created = await server.app.inject({
        method: 'POST',
        url: '/api/tokens',
        headers: server.auth('admin'),
        payload: { name: 'camera 7', scope: 'agent' },
      });
      expect(created.statusCode).toBe(201);
      const token = created.json<CreatedToken>();
      expect(token).toMatchObject({ name: 'camera 7', scope: 'agent', revokedAt: null });

      const use = () =>
        server.app.inject({
          method: 'POST',
          url: '/api/agents/register',
          headers: { authorization: `Bearer ${token.token}` },
          payload: { camera: 'line-7', version: '1' },
        });
      expect((await use()).statusCode).toBe(200);

      const list = await server.app.inject({
        method: 'GET',
        url: '/api/tokens',
        headers: server.auth('admin'),
      });
      expect(list.body).not.toContain(token.token);
      expect(list.body).not.toContain('hash');
      const listed = list.json<TokenListResponse>().tokens.find((t) => t.id === token.id);
      expect(listed).toMatchObject({ lastUsedAt: clock, revokedAt: null });

      const revoke = await server.app.inject({
        method: 'DELETE',
        url: `/api/tokens/${token.id}`,
        headers: server.auth('admin'),
      });
      expect(revoke.json()).toMatchObject({ id: token.id, revokedAt: clock });
      const refused = await use();
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('Bearer');
      const missing = await server.app.inject({
        method: 'DELETE',
        url: '/api/tokens/tok_missing',
        headers: server.auth('admin'),
      });
      expect(missing.statusCode).toBe(404);
    });
  });
}
