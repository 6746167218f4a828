/**
 * Health and model status: whether the database and the blob store answer, which agents the
 * registry knows, and which model versions agents run and recent results carry.
 *
 * Every check is bounded: the database check is one `select 1`; model versions come from index
 * seeks (PredictionRepository.modelVersionsSince); per-camera counts read at most
 * `maxCountedResults` rows. A failing dependency makes the answer `degraded`, never an error.
 */
import type { DialectName } from '../db/database.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { HealthResponse } from '../shared/api/health.js';
import type { ModelStatusResponse, ModelVersionUsage } from '../shared/api/model-status.js';
import type { ModelAlias, ServingStatus } from '../shared/api/models.js';
import type { AgentRegistryService } from './agent-registry.service.js';
import { messageOf } from '../shared/errors.js';

/** Most results model status counts per request. */
export const DEFAULT_MAX_COUNTED_RESULTS = 200_000;

export interface DatabaseProbe {
  readonly dialect: DialectName;
  /** One round trip (`select 1`); throws when the database does not answer. */
  ping(): Promise<void>;
}

export interface HealthServiceOptions {
  serverVersion: string;
  /** How far back "recent" model versions are looked for, ms. */
  recentWindowMs: number;
  maxCountedResults?: number;
  now?: () => number;
  startedAt?: number;
  /** The registry's main aliases and this server's inference, added to model status. */
  models?: {
    mainAliases(): Promise<{ production: ModelAlias | null; staging: ModelAlias | null }>;
    serving(): ServingStatus;
  };
}

export class HealthService {
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly maxCountedResults: number;

  constructor(
    private readonly database: DatabaseProbe,
    private readonly blobs: BlobStore,
    private readonly predictions: PredictionRepository,
    private readonly agents: AgentRegistryService,
    private readonly options: HealthServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = options.startedAt ?? this.now();
    this.maxCountedResults = options.maxCountedResults ?? DEFAULT_MAX_COUNTED_RESULTS;
  }

  async health(): Promise<HealthResponse> {
    const now = this.now();
    const started = performance.now();
    let database: HealthResponse['database'];
    try {
      await this.database.ping();
      database = {
        ok: true,
        dialect: this.database.dialect,
        roundTripMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
    } catch (error) {
      database = {
        ok: false,
        dialect: this.database.dialect,
        roundTripMs: null,
        error: messageOf(error),
      };
    }
    let blobStore: HealthResponse['blobStore'];
    try {
      await this.blobs.check();
      blobStore = { ok: true, kind: this.blobs.kind };
    } catch (error) {
      blobStore = { ok: false, kind: this.blobs.kind, error: messageOf(error) };
    }
    const agents = database.ok ? await this.agents.statuses() : [];
    const models = database.ok
      ? (await this.predictions.modelVersionsSince(now - this.options.recentWindowMs)).map(
          (seen) => seen.version,
        )
      : [];
    return {
      status: database.ok && blobStore.ok ? 'ok' : 'degraded',
      serverTime: now,
      uptimeSeconds: Math.max(0, (now - this.startedAt) / 1000),
      database,
      blobStore,
      agents,
      versions: { server: this.options.serverVersion, models },
    };
  }

  async modelStatus(): Promise<ModelStatusResponse> {
    const now = this.now();
    const windowStart = Math.max(0, now - this.options.recentWindowMs);
    const [agents, seen, window] = await Promise.all([
      this.agents.statuses(),
      this.predictions.modelVersionsSince(windowStart),
      this.predictions.modelVersionCounts(windowStart, this.maxCountedResults),
    ]);
    const usage = new Map<string, ModelVersionUsage>();
    const entry = (version: string): ModelVersionUsage => {
      let found = usage.get(version);
      if (found === undefined) {
        found = { version, agents: [], cameras: [], recentResults: 0, lastResultAt: null };
        usage.set(version, found);
      }
      return found;
    };
    for (const { version, lastCapturedAt } of seen) entry(version).lastResultAt = lastCapturedAt;
    for (const count of window.counts) {
      const item = entry(count.version);
      item.recentResults += count.results;
      if (!item.cameras.includes(count.camera)) item.cameras.push(count.camera);
    }
    for (const agent of agents) {
      if (agent.modelVersion !== null && agent.online)
        entry(agent.modelVersion).agents.push(agent.id);
    }
    const versions = [...usage.values()];
    for (const item of versions) item.cameras.sort();
    versions.sort(
      (a, b) =>
        (b.lastResultAt ?? -1) - (a.lastResultAt ?? -1) || a.version.localeCompare(b.version),
    );
    const status = { serverTime: now, windowStart, countsComplete: window.complete, versions };
    const models = this.options.models;
    if (models === undefined) return status;
    return { ...status, ...(await models.mainAliases()), serving: models.serving() };
  }
}
