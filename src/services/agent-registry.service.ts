/**
 * The agent registry: camera agents register, report heartbeats and fetch the settings the
 * server wants them to apply; the health view and the dashboard list them.
 *
 * - Identity: an agent's id is derived from its camera and name, so the same agent gets the
 *   same id after a restart (or a reinstall) without keeping state, and registering is an upsert.
 * - Online: heard from (registration or heartbeat) within three heartbeat periods. This
 *   process publishes `agent` events when an agent registers, comes online, or goes silent
 *   (`sweep`, run on a timer by the composition root).
 * - Settings: one `agent` entry in the settings table; every change bumps its revision, which
 *   agents compare to know they must apply it. It includes the active-learning sampling
 *   configuration (src/shared/api/sampling.ts), the drift monitor's `driftActive` switch and
 *   the inspection thresholds (`failThreshold`, `detectionConfidence`).
 */
import { createHash } from 'node:crypto';
import type { AgentRow } from '../db/schema.js';
import type { AgentRepository } from '../repositories/agent.repository.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import type { AgentModelPlan } from '../shared/api/inspection-chain.js';
import type { ProductionRef } from '../shared/api/models.js';
import type {
  AgentListResponse,
  AgentSettings,
  AgentStatus,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
  UpdateAgentSettingsRequest,
} from '../shared/api/agents.js';
import {
  DEFAULT_AGENT_SETTINGS,
  agentSettingsSchema,
  detectionConfidenceSchema,
  failThresholdSchema,
  heartbeatRequestSchema,
} from '../shared/api/agents.js';
import {
  DEFAULT_SAMPLING_SETTINGS,
  applySamplingUpdate,
  resolveSamplingSettings,
  samplingSettingsSchema,
  type SamplingSettings,
} from '../shared/api/sampling.js';
import { inspectionThresholdProblems } from '../shared/api/settings.js';
import { VisionLoopError } from '../shared/errors.js';
import type { EventBus } from './event-bus.js';

/** The settings-table key of the agent settings. */
export const AGENT_SETTINGS_KEY = 'agent';
/** An agent is online when heard from within this many heartbeat periods. */
export const ONLINE_HEARTBEATS = 3;

/** The stable id of the agent with this camera and name. */
export function agentIdFor(camera: string, name: string): string {
  const digest = createHash('sha256').update(`${camera}\n${name}`, 'utf8').digest('hex');
  return `agt-${digest.slice(0, 24)}`;
}

/** What the agents table's `info` JSON holds. */
interface AgentInfo {
  hostname?: string;
  heartbeat?: HeartbeatRequest;
}

function parseInfo(text: string): AgentInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const info: AgentInfo = {};
  if ('hostname' in value && typeof value.hostname === 'string') info.hostname = value.hostname;
  if ('heartbeat' in value) {
    const heartbeat = heartbeatRequestSchema.safeParse(value.heartbeat);
    if (heartbeat.success) info.heartbeat = heartbeat.data;
  }
  return info;
}

/** Called on every accepted heartbeat (Prometheus gauges). Must not throw. */
export type HeartbeatObserver = (
  agent: { id: string; camera: string },
  heartbeat: HeartbeatRequest,
) => void;

export interface AgentRegistryOptions {
  heartbeatIntervalMs: number;
  now?: () => number;
  heartbeatObservers?: readonly HeartbeatObserver[];
  /** The registry's production model, sent in heartbeat answers (agents follow it). */
  production?: () => Promise<ProductionRef | null>;
  /** The model plan of a camera (agent-plan.service.ts), sent in heartbeat answers. */
  plan?: (camera: string) => Promise<AgentModelPlan>;
}

export class AgentRegistryService {
  readonly heartbeatIntervalMs: number;
  private readonly now: () => number;
  private readonly heartbeatObservers: HeartbeatObserver[];
  private readonly production: (() => Promise<ProductionRef | null>) | undefined;
  private readonly plan: ((camera: string) => Promise<AgentModelPlan>) | undefined;
  /** Agents this process last reported online (for online/offline events). */
  private readonly online = new Map<string, string>();

  constructor(
    private readonly agents: AgentRepository,
    private readonly settings: SettingsRepository,
    private readonly events: EventBus,
    options: AgentRegistryOptions,
  ) {
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.now = options.now ?? Date.now;
    this.heartbeatObservers = [...(options.heartbeatObservers ?? [])];
    this.production = options.production;
    this.plan = options.plan;
  }

  onHeartbeat(observer: HeartbeatObserver): void {
    this.heartbeatObservers.push(observer);
  }

  async register(
    request: RegisterAgentRequest,
    tokenId: string | null,
  ): Promise<RegisterAgentResponse> {
    const now = this.now();
    const name = request.name ?? request.camera;
    const id = agentIdFor(request.camera, name);
    const hostname = request.hostname;
    const inserted = await this.agents.insertIfAbsent({
      id,
      camera: request.camera,
      name,
      version: request.version,
      model_version: request.modelVersion ?? null,
      fps: null,
      outbox_depth: null,
      last_seen_at: now,
      registered_at: now,
      token_id: tokenId,
      info: JSON.stringify(hostname === undefined ? {} : { hostname }),
    });
    if (!inserted) {
      const existing = await this.agents.findById(id);
      const info = existing === undefined ? {} : parseInfo(existing.info);
      if (hostname !== undefined) info.hostname = hostname;
      await this.agents.update(id, {
        version: request.version,
        ...(request.modelVersion === undefined ? {} : { model_version: request.modelVersion }),
        last_seen_at: now,
        token_id: tokenId,
        info: JSON.stringify(info),
      });
    }
    this.events.publish({
      type: 'agent',
      at: now,
      action: 'registered',
      agentId: id,
      camera: request.camera,
    });
    this.markOnline(id, request.camera, now);
    return { agentId: id, settings: await this.agentSettings(), serverTime: now };
  }

  async heartbeat(id: string, heartbeat: HeartbeatRequest): Promise<HeartbeatResponse> {
    const now = this.now();
    const agent = await this.requireAgent(id);
    const info = parseInfo(agent.info);
    info.heartbeat = heartbeat;
    await this.agents.update(id, {
      model_version: heartbeat.modelVersion,
      fps: heartbeat.processFps,
      outbox_depth: heartbeat.outboxDepth,
      last_seen_at: now,
      info: JSON.stringify(info),
    });
    this.markOnline(id, agent.camera, now);
    for (const observer of this.heartbeatObservers) {
      try {
        observer({ id, camera: agent.camera }, heartbeat);
      } catch {
        // An observer's failure (metrics) must not fail the agent's heartbeat.
      }
    }
    const answer: HeartbeatResponse = { settings: await this.agentSettings(), serverTime: now };
    if (this.production !== undefined) answer.production = await this.production();
    if (this.plan !== undefined) {
      try {
        answer.plan = await this.plan(agent.camera);
      } catch {
        // A plan that cannot be resolved (a damaged chain setting) must not cost the agent its
        // heartbeat: it keeps the plan it has, and the event stream logs the failure.
      }
    }
    return answer;
  }

  /** The camera of agent `id`; null for an agent that never registered. */
  async cameraOf(id: string): Promise<string | null> {
    return (await this.agents.findById(id))?.camera ?? null;
  }

  /** The settings agent `id` should apply. NOT_FOUND for an agent that never registered. */
  async settingsFor(id: string): Promise<AgentSettings> {
    await this.requireAgent(id);
    return this.agentSettings();
  }

  async agentSettings(): Promise<AgentSettings> {
    const row = await this.settings.get(AGENT_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_AGENT_SETTINGS;
    return this.decodeSettings(row.value, row.revision);
  }

  /** Applies `changes` and bumps the revision (compare-and-set; retried on a lost race). */
  async updateAgentSettings(
    changes: UpdateAgentSettingsRequest,
    actor: string | null,
  ): Promise<AgentSettings> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const row = await this.settings.get(AGENT_SETTINGS_KEY);
      const current =
        row === undefined ? DEFAULT_AGENT_SETTINGS : this.decodeSettings(row.value, row.revision);
      const currentSampling = current.sampling ?? DEFAULT_SAMPLING_SETTINGS;
      const next = {
        uploadFrames: changes.uploadFrames ?? current.uploadFrames,
        jpegQuality: changes.jpegQuality ?? current.jpegQuality,
        driftActive: changes.driftActive ?? current.driftActive ?? false,
        sampling:
          changes.sampling === undefined
            ? currentSampling
            : checkedSampling(applySamplingUpdate(currentSampling, changes.sampling)),
        ...checkedThresholds({
          failThreshold:
            changes.failThreshold ?? current.failThreshold ?? DEFAULT_AGENT_SETTINGS.failThreshold,
          detectionConfidence:
            changes.detectionConfidence ??
            current.detectionConfidence ??
            DEFAULT_AGENT_SETTINGS.detectionConfidence,
        }),
      };
      const value = JSON.stringify(next);
      const won =
        row === undefined
          ? await this.settings.insertFirst(AGENT_SETTINGS_KEY, value, now, actor)
          : await this.settings.replaceIfRevision(
              AGENT_SETTINGS_KEY,
              row.revision,
              value,
              now,
              actor,
            );
      if (won) return { revision: row === undefined ? 1 : row.revision + 1, ...next };
    }
    throw new VisionLoopError('CONFLICT', 'the agent settings kept changing; try again');
  }

  /**
   * The drift monitor's switch: agents sample at the drift rate while it is on. Changes (and
   * bumps the revision) only when the value differs, so calling it after every check is cheap.
   */
  async setDriftActive(active: boolean, actor: string | null): Promise<AgentSettings> {
    const current = await this.agentSettings();
    if ((current.driftActive ?? false) === active) return current;
    return this.updateAgentSettings({ driftActive: active }, actor);
  }

  async list(): Promise<AgentListResponse> {
    return { heartbeatIntervalMs: this.heartbeatIntervalMs, agents: await this.statuses() };
  }

  async statuses(): Promise<AgentStatus[]> {
    const now = this.now();
    return (await this.agents.list()).map((row) => this.toStatus(row, now));
  }

  /**
   * Publishes `offline` for agents this process saw online that have since gone silent.
   * Returns their ids.
   */
  async sweep(): Promise<string[]> {
    if (this.online.size === 0) return [];
    const now = this.now();
    const gone: string[] = [];
    for (const row of await this.agents.list()) {
      if (!this.online.has(row.id) || this.isOnline(row.last_seen_at, now)) continue;
      this.online.delete(row.id);
      gone.push(row.id);
      this.events.publish({
        type: 'agent',
        at: now,
        action: 'offline',
        agentId: row.id,
        camera: row.camera,
      });
    }
    return gone;
  }

  private markOnline(id: string, camera: string, now: number): void {
    if (this.online.has(id)) return;
    this.online.set(id, camera);
    this.events.publish({ type: 'agent', at: now, action: 'online', agentId: id, camera });
  }

  private isOnline(lastSeenAt: number | null, now: number): boolean {
    return lastSeenAt !== null && now - lastSeenAt <= ONLINE_HEARTBEATS * this.heartbeatIntervalMs;
  }

  private toStatus(row: AgentRow, now: number): AgentStatus {
    const info = parseInfo(row.info);
    return {
      id: row.id,
      camera: row.camera,
      name: row.name,
      version: row.version,
      modelVersion: row.model_version,
      hostname: info.hostname ?? null,
      registeredAt: row.registered_at,
      lastSeenAt: row.last_seen_at,
      online: this.isOnline(row.last_seen_at, now),
      fps: row.fps,
      outboxDepth: row.outbox_depth,
      heartbeat: info.heartbeat ?? null,
    };
  }

  private async requireAgent(id: string): Promise<AgentRow> {
    const agent = await this.agents.findById(id);
    if (agent === undefined) {
      throw new VisionLoopError('NOT_FOUND', `no agent with id ${id}: register first`);
    }
    return agent;
  }

  private decodeSettings(text: string, revision: number): AgentSettings {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = {};
    }
    // Fields a later version stored and this one does not know are dropped; missing ones
    // fall back to the defaults (sampling section by section, so one bad section falls back
    // alone).
    const stored: Record<string, unknown> =
      typeof value === 'object' && value !== null ? { ...value } : {};
    stored.sampling = resolveSamplingSettings(stored.sampling);
    if (typeof stored.driftActive !== 'boolean') delete stored.driftActive;
    if (!failThresholdSchema.safeParse(stored.failThreshold).success) delete stored.failThreshold;
    if (!detectionConfidenceSchema.safeParse(stored.detectionConfidence).success) {
      delete stored.detectionConfidence;
    }
    const merged = agentSettingsSchema.safeParse({
      ...DEFAULT_AGENT_SETTINGS,
      ...stored,
      revision,
    });
    return merged.success ? merged.data : { ...DEFAULT_AGENT_SETTINGS, revision };
  }
}

/** The inspection thresholds after an update, or INVALID_ARGUMENT when they contradict. */
function checkedThresholds(
  thresholds: Pick<AgentSettings, 'failThreshold' | 'detectionConfidence'>,
): Pick<AgentSettings, 'failThreshold' | 'detectionConfidence'> {
  // The same rule the dashboard's settings form checks before it sends anything.
  const problems = inspectionThresholdProblems(thresholds);
  if (problems.length === 0) return thresholds;
  throw new VisionLoopError(
    'INVALID_ARGUMENT',
    `invalid agent settings: ${problems.map((problem) => problem.message).join('; ')}`,
  );
}

/** The sampling settings after an update, or INVALID_ARGUMENT listing what is inconsistent. */
function checkedSampling(candidate: SamplingSettings): SamplingSettings {
  const parsed = samplingSettingsSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.path.length > 0 ? `sampling.${issue.path.join('.')}: ${issue.message}` : issue.message,
  );
  throw new VisionLoopError(
    'INVALID_ARGUMENT',
    `invalid sampling settings: ${problems.join('; ')}`,
  );
}
