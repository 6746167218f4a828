import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { AgentRepository } from '../repositories/agent.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import { DEFAULT_AGENT_SETTINGS } from '../shared/api/agents.js';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import type { HeartbeatRequest } from '../shared/api/agents.js';
import { AgentRegistryService, agentIdFor } from './agent-registry.service.js';
import { InProcessEventBus } from './event-bus.js';
import type { SystemEvent } from './event-bus.js';

const HEARTBEAT: HeartbeatRequest = {
  cameraFps: 15,
  processFps: 12.5,
  skippedFps: 2.5,
  droppedFrames: 0,
  outboxDepth: 40,
  outboxBytes: 40_000,
  shedCount: 0,
  modelVersion: 'v2',
  inferenceMsP50: 11,
  inferenceMsP99: 30,
};

describe('AgentRegistryService', () => {
  let database: DatabaseHandle;
  let clock: number;
  let events: SystemEvent[];
  let registry: AgentRegistryService;
  const heartbeats: string[] = [];

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    clock = 1_000_000;
    events = [];
    heartbeats.length = 0;
    const bus = new InProcessEventBus();
    bus.subscribe((event) => events.push(event));
    registry = new AgentRegistryService(
      new AgentRepository(database.db),
      new SettingsRepository(database.db),
      bus,
      {
        heartbeatIntervalMs: 10_000,
        now: () => clock,
        heartbeatObservers: [(agent, hb) => heartbeats.push(`${agent.camera}:${hb.processFps}`)],
      },
    );
  });
  afterEach(() => database.close());

  it('gives the same camera and name the same id, across registrations', async () => {
    const first = await registry.register({ camera: 'line-1', version: '0.1.0' }, 'tok_a');
    const again = await registry.register(
      { camera: 'line-1', version: '0.2.0', hostname: 'edge-7' },
      'tok_b',
    );
    const other = await registry.register(
      { camera: 'line-1', name: 'spare', version: '0.1.0' },
      null,
    );
    expect(first.agentId).toBe(agentIdFor('line-1', 'line-1'));
    expect(again.agentId).toBe(first.agentId);
    expect(other.agentId).not.toBe(first.agentId);
    expect(first.settings).toEqual(DEFAULT_AGENT_SETTINGS);
    const [agent] = (await registry.list()).agents.filter((a) => a.id === first.agentId);
    expect(agent).toMatchObject({
      camera: 'line-1',
      version: '0.2.0',
      hostname: 'edge-7',
      online: true,
    });
  });

  it('records heartbeats, reports online state, and announces agents going silent', async () => {
    const { agentId } = await registry.register({ camera: 'line-2', version: '1' }, null);
    clock += 5_000;
    await registry.heartbeat(agentId, HEARTBEAT);
    expect(heartbeats).toEqual(['line-2:12.5']);
    let [status] = await registry.statuses();
    expect(status).toMatchObject({
      lastSeenAt: 1_005_000,
      fps: 12.5,
      outboxDepth: 40,
      modelVersion: 'v2',
      online: true,
      heartbeat: HEARTBEAT,
    });
    clock += 30_000;
    expect(await registry.sweep()).toEqual([]);
    clock += 1;
    [status] = await registry.statuses();
    expect(status?.online).toBe(false);
    expect(await registry.sweep()).toEqual([agentId]);
    await registry.heartbeat(agentId, HEARTBEAT);
    expect(events.map((e) => (e.type === 'agent' ? e.action : e.type))).toEqual([
      'registered',
      'online',
      'offline',
      'online',
    ]);
  });

  it('refuses heartbeats and settings for an agent that never registered', async () => {
    await expect(registry.heartbeat('agt-unknown', HEARTBEAT)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(registry.settingsFor('agt-unknown')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('bumps the settings revision on every change and hands agents the new settings', async () => {
    const { agentId } = await registry.register({ camera: 'line-3', version: '1' }, null);
    expect(await registry.updateAgentSettings({ uploadFrames: 'all' }, 'tok_admin')).toEqual({
      ...DEFAULT_AGENT_SETTINGS,
      revision: 1,
      uploadFrames: 'all',
      jpegQuality: 85,
    });
    expect(await registry.updateAgentSettings({ jpegQuality: 70 }, 'tok_admin')).toEqual({
      ...DEFAULT_AGENT_SETTINGS,
      revision: 2,
      uploadFrames: 'all',
      jpegQuality: 70,
    });
    expect(await registry.settingsFor(agentId)).toEqual({
      ...DEFAULT_AGENT_SETTINGS,
      revision: 2,
      uploadFrames: 'all',
      jpegQuality: 70,
    });
    expect((await registry.heartbeat(agentId, HEARTBEAT)).settings.revision).toBe(2);
  });

  it('stores the inspection thresholds and refuses a detection confidence above the fail threshold', async () => {
    const { agentId } = await registry.register({ camera: 'line-4', version: '1' }, null);
    expect(await registry.agentSettings()).toMatchObject({
      failThreshold: 0.5,
      detectionConfidence: 0.25,
    });
    const changed = await registry.updateAgentSettings(
      { failThreshold: 0.8, detectionConfidence: 0.6 },
      'tok_admin',
    );
    expect(changed).toMatchObject({ revision: 1, failThreshold: 0.8, detectionConfidence: 0.6 });
    // Agents get them in the heartbeat answer.
    expect((await registry.heartbeat(agentId, HEARTBEAT)).settings).toMatchObject({
      revision: 1,
      failThreshold: 0.8,
      detectionConfidence: 0.6,
    });
    // Checked against the stored fail threshold when only the confidence is sent.
    await expect(
      registry.updateAgentSettings({ detectionConfidence: 0.85 }, 'tok_admin'),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'invalid agent settings: detectionConfidence (0.85) must be ≤ failThreshold (0.8)',
    });
    await expect(
      registry.updateAgentSettings({ failThreshold: 0.55 }, 'tok_admin'),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Nothing was stored by the refused changes.
    expect(await registry.settingsFor(agentId)).toMatchObject({
      revision: 1,
      failThreshold: 0.8,
      detectionConfidence: 0.6,
    });
  });

  it("answers heartbeats with the model plan of the agent's own camera", async () => {
    const asked: string[] = [];
    const withPlans = new AgentRegistryService(
      new AgentRepository(database.db),
      new SettingsRepository(database.db),
      new InProcessEventBus(),
      {
        heartbeatIntervalMs: 10_000,
        now: () => clock,
        production: () => Promise.resolve({ version: 'v1', sha256: 'a'.repeat(64) }),
        plan: (camera) => {
          asked.push(camera);
          return Promise.resolve({
            detect: { version: `det-${camera}`, sha256: 'b'.repeat(64) },
            classify: null,
            segment: null,
            chain: DEFAULT_CHAIN,
            shadow: null,
            rollout: null,
          });
        },
      },
    );
    const { agentId } = await withPlans.register({ camera: 'line-5', version: '1' }, null);
    const answer = await withPlans.heartbeat(agentId, HEARTBEAT);
    expect(answer.production).toEqual({ version: 'v1', sha256: 'a'.repeat(64) });
    expect(answer.plan?.detect).toEqual({ version: 'det-line-5', sha256: 'b'.repeat(64) });
    expect(asked).toEqual(['line-5']);
    expect(await withPlans.cameraOf(agentId)).toBe('line-5');
    expect(await withPlans.cameraOf('agt-unknown')).toBeNull();
    // Without a plan source the answer has no plan (servers without a registry).
    expect('plan' in (await registry.heartbeat(agentId, HEARTBEAT))).toBe(false);
  });
});
