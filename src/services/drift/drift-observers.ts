/**
 * Where drift shows outside the API: `sync()` (run by the server on a timer and after each
 * check in this process) reads new reports from the database — so checks run by workers in
 * other processes count too — publishes a `drift` event when a camera's level changes, tells
 * `onLevelChange` listeners (the agents' drift-boost sampling), and sets the Prometheus gauges
 * from the worst camera.
 *
 * It holds only in-memory state (levels seen, reports seen); it never writes the database.
 */
import type { DriftLevel, DriftReportRow } from '../../db/schema.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import type { EventBus } from '../event-bus.js';
import type { DriftObservation } from '../prometheus-exporter.js';
import {
  DRIFT_STATUS_LOOKBACK_MS,
  isDriftStatus,
  isTested,
  parseFeatureList,
} from './drift-views.js';

/** Reports made this long before the newest seen are read again by sync (clock skew). */
const SYNC_LOOKBACK_MS = 60_000;

export interface DriftLevelChange {
  camera: string;
  level: DriftLevel;
  previousLevel: DriftLevel;
  driftShare: number | null;
  reportId: string;
  at: number;
  /** Some camera is at yellow or red after this change (drives drift-boost sampling). */
  anyDrifting: boolean;
}
export type DriftLevelListener = (change: DriftLevelChange) => void | Promise<void>;

export interface DriftObservers {
  events: EventBus;
  prometheus: { setDrift(observation: DriftObservation): void };
}

export class DriftObserverSync {
  private readonly listeners = new Set<DriftLevelListener>();
  // Which reports were seen, each camera's level and last observation.
  private syncing: Promise<DriftLevelChange[]> = Promise.resolve([]);
  private primed = false;
  private newestSeen: number | null = null;
  private readonly seen = new Map<string, number>();
  private readonly levels = new Map<string, DriftLevel>();
  private readonly observations = new Map<string, DriftObservation>();

  constructor(
    private readonly drift: DriftRepository,
    private readonly observers: DriftObservers,
    private readonly now: () => number,
    private readonly onBackgroundError: (error: unknown) => void,
  ) {}

  /**
   * Calls `listener` when a camera's drift level changes (in the process that runs
   * `sync`, i.e. every server). Returns the unsubscribe function.
   */
  onLevelChange(listener: DriftLevelListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Reads reports made since the last call (by this process or any worker), publishes a
   * `drift` event and tells the listeners for every level change, and sets the Prometheus
   * gauges from the camera with the highest drift share. The first call only learns the
   * current levels. Calls are serialized.
   */
  sync(): Promise<DriftLevelChange[]> {
    const run = this.syncing.then(
      () => this.syncOnce(),
      () => this.syncOnce(),
    );
    this.syncing = run;
    return run;
  }

  private async syncOnce(): Promise<DriftLevelChange[]> {
    const now = this.now();
    if (!this.primed) await this.learnLevels(now);
    const since = (this.newestSeen ?? now) - SYNC_LOOKBACK_MS;
    const changes: DriftLevelChange[] = [];
    for (const row of await this.drift.reportsSince(since, 1000)) {
      const change = this.take(row, now);
      if (change !== null) changes.push(change);
    }
    for (const [id, at] of this.seen) {
      if (at < since) this.seen.delete(id);
    }
    this.primed = true;
    this.publishGauges();
    await this.tellListeners(changes);
    return changes;
  }

  /** The first sync: each camera's current level, without announcing anything. */
  private async learnLevels(now: number): Promise<void> {
    for (const row of await this.drift.latestReports(now - DRIFT_STATUS_LOOKBACK_MS)) {
      if (row.camera === null) continue;
      this.levels.set(row.camera, row.level);
      this.observe(row);
    }
  }

  /** Records a report not seen before; publishes and returns its level change, if any. */
  private take(row: DriftReportRow, now: number): DriftLevelChange | null {
    if (this.seen.has(row.id)) return null;
    this.seen.set(row.id, row.created_at);
    this.newestSeen = Math.max(this.newestSeen ?? row.created_at, row.created_at);
    if (row.camera === null) return null;
    const previousLevel = this.levels.get(row.camera) ?? 'unknown';
    this.levels.set(row.camera, row.level);
    this.observe(row);
    if (!this.primed || row.level === previousLevel) return null;
    const driftShare = isTested(row) ? row.drift_share : null;
    const features = parseFeatureList(row.features);
    this.observers.events.publish({
      type: 'drift',
      at: now,
      camera: row.camera,
      level: row.level,
      previousLevel,
      status: isDriftStatus(row.status) ? row.status : 'ok',
      driftShare,
      driftedFeatures: features.filter((f) => f.drifted).map((f) => f.feature),
      reportId: row.id,
      reason: row.decision_reason,
    });
    return {
      camera: row.camera,
      level: row.level,
      previousLevel,
      driftShare,
      reportId: row.id,
      at: now,
      anyDrifting: false,
    };
  }

  private async tellListeners(changes: DriftLevelChange[]): Promise<void> {
    const anyDrifting = [...this.levels.values()].some((l) => l === 'yellow' || l === 'red');
    for (const change of changes) {
      change.anyDrifting = anyDrifting;
      for (const listener of this.listeners) {
        try {
          await listener(change);
        } catch (error) {
          this.onBackgroundError(error);
        }
      }
    }
  }

  private observe(row: DriftReportRow): void {
    if (row.camera === null) return;
    if (!isTested(row)) {
      this.observations.delete(row.camera);
      return;
    }
    const pValues: Record<string, number> = {};
    for (const feature of parseFeatureList(row.features)) {
      if (feature.pValue !== null) pValues[feature.feature] = feature.pValue;
    }
    this.observations.set(row.camera, { share: row.drift_share, pValues });
  }

  private publishGauges(): void {
    let worst: DriftObservation | undefined;
    for (const observation of this.observations.values()) {
      if (worst === undefined || observation.share > worst.share) worst = observation;
    }
    if (worst !== undefined) this.observers.prometheus.setDrift(worst);
  }
}
