/**
 * The Prometheus exporter: the metrics of `/metrics` (text exposition), in a registry of its own (never prom-client's global one,
 * so two servers in one process — tests — never share counters). Names and meanings follow
 * Frigate and Roboflow (DESIGN.md §7, docs/observability.md):
 *
 * - from agent heartbeats, per camera: `visionloop_camera_fps` (frames the camera delivers),
 *   `visionloop_process_fps` (frames run through the detector), `visionloop_skipped_fps`
 *   (frames the motion gate skipped), `visionloop_outbox_depth` (results waiting in the
 *   agent's outbox), and `visionloop_model_info{alias="reported",version}` per version agents
 *   run. A camera whose agent has been silent for `heartbeatStaleMs` disappears from these
 *   series (absent, not frozen at its last value), so `absent()` alerts fire.
 * - from ingested results: `visionloop_predictions_ingested_total{camera}`,
 *   `visionloop_inference_seconds{camera}` (inferred frames only: a carried-forward frame ran
 *   no detector) and `visionloop_e2e_latency_seconds{camera}` (every frame, capture to result).
 * - set by later services through setters: `visionloop_labeling_queue_depth{status}`,
 *   `visionloop_drift_share`, `visionloop_drift_pvalue{feature}`,
 *   `visionloop_retraining_state{state}` and `visionloop_model_info{alias,version}` for the
 *   registry's aliases. Until set they have no samples (`visionloop_drift_share`, having no
 *   labels, is registered on the first `setDrift`, so it never reads 0 before any check ran).
 * - Node process metrics with the `visionloop_` prefix.
 *
 * It never reads the database: everything arrives through the observe/set calls.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HeartbeatRequest } from '../shared/api/agents.js';
import type { CameraLatencies } from './ingest-batch.js';

/** Seconds; detector time on a CPU ranges from ~2 ms (tiny model) to ~1 s (large model). */
export const INFERENCE_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const;
/** Seconds; capture to result includes queueing behind a slow detector. */
export const E2E_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Heartbeats older than this no longer count, ms. */
export const DEFAULT_HEARTBEAT_STALE_MS = 60_000;

/** The alias under which versions that agents report are exposed. */
export const REPORTED_ALIAS = 'reported';

export interface PrometheusExporterOptions {
  /** Also export Node process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  /** A camera's heartbeat series disappear after this long without one, ms. Default 60 s. */
  heartbeatStaleMs?: number;
  /** The clock, epoch ms (tests pin it). */
  now?: () => number;
}

/** A drift check's outcome, as the drift service (a later issue) reports it. */
export interface DriftObservation {
  /** Share of features that drifted, 0..1. */
  share: number;
  /** KS-test p-value per feature. */
  pValues: Readonly<Record<string, number>>;
}

interface HeartbeatSeen {
  heartbeat: HeartbeatRequest;
  at: number;
}

export class PrometheusExporter {
  readonly registry = new Registry();
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string = this.registry.contentType;

  private readonly now: () => number;
  private readonly heartbeatStaleMs: number;
  private readonly heartbeats = new Map<string, HeartbeatSeen>();
  private readonly aliasVersions = new Map<string, string>();
  private readonly retrainingStates = new Set<string>();

  private readonly ingested: Counter<'camera'>;
  private readonly inferenceSeconds: Histogram<'camera'>;
  private readonly e2eSeconds: Histogram<'camera'>;
  private readonly labelingQueueDepth: Gauge<'status'>;
  private readonly driftPValue: Gauge<'feature'>;
  private readonly retrainingState: Gauge<'state'>;
  private driftShare: Gauge | null = null;

  constructor(options: PrometheusExporterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.heartbeatStaleMs = options.heartbeatStaleMs ?? DEFAULT_HEARTBEAT_STALE_MS;
    const registers = [this.registry];

    this.heartbeatGauge(
      'visionloop_camera_fps',
      'Frames per second the camera delivers to the agent.',
      (hb) => hb.cameraFps,
    );
    this.heartbeatGauge(
      'visionloop_process_fps',
      'Frames per second the agent ran through the detector.',
      (hb) => hb.processFps,
    );
    this.heartbeatGauge(
      'visionloop_skipped_fps',
      'Frames per second the motion gate let through without inference.',
      (hb) => hb.skippedFps,
    );
    this.heartbeatGauge(
      'visionloop_outbox_depth',
      'Frame results waiting in the agent outbox for the server to acknowledge them.',
      (hb) => hb.outboxDepth,
    );

    const fresh = (): HeartbeatSeen[] => this.freshHeartbeats();
    const aliasVersions = this.aliasVersions;
    new Gauge({
      name: 'visionloop_model_info',
      help: 'Model versions in use: 1 per (alias, version); alias "reported" = what agents run.',
      labelNames: ['alias', 'version'] as const,
      registers,
      collect() {
        this.reset();
        for (const [alias, version] of aliasVersions) this.set({ alias, version }, 1);
        for (const { heartbeat } of fresh()) {
          this.set({ alias: REPORTED_ALIAS, version: heartbeat.modelVersion }, 1);
        }
      },
    });

    this.ingested = new Counter({
      name: 'visionloop_predictions_ingested_total',
      help: 'Frame results stored by ingest (duplicates of a retried batch excluded).',
      labelNames: ['camera'] as const,
      registers,
    });
    this.inferenceSeconds = new Histogram({
      name: 'visionloop_inference_seconds',
      help: 'Detector time of inferred frames, as agents measured it, seconds.',
      labelNames: ['camera'] as const,
      buckets: [...INFERENCE_BUCKETS],
      registers,
    });
    this.e2eSeconds = new Histogram({
      name: 'visionloop_e2e_latency_seconds',
      help: 'Capture to result (decision ready on the agent) of every frame, seconds.',
      labelNames: ['camera'] as const,
      buckets: [...E2E_BUCKETS],
      registers,
    });

    this.labelingQueueDepth = new Gauge({
      name: 'visionloop_labeling_queue_depth',
      help: 'Items in the labeling queue by status.',
      labelNames: ['status'] as const,
      registers,
    });
    this.driftPValue = new Gauge({
      name: 'visionloop_drift_pvalue',
      help: 'KS-test p-value of each image feature in the last drift check.',
      labelNames: ['feature'] as const,
      registers,
    });
    this.retrainingState = new Gauge({
      name: 'visionloop_retraining_state',
      help: 'Retraining state: 1 for the current state, 0 for states seen before.',
      labelNames: ['state'] as const,
      registers,
    });

    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'visionloop_' });
    }
  }

  /**
   * Records frame results the server has just stored, as per-camera latencies
   * (summarizeLatencies). Pass only the newly stored ones, not the duplicates of a retried
   * batch, or the counter and histograms count them twice.
   */
  observeIngested(cameras: readonly CameraLatencies[]): void {
    for (const { camera, results, inferenceMs, totalMs } of cameras) {
      this.ingested.inc({ camera }, results);
      const inference = this.inferenceSeconds.labels({ camera });
      const e2e = this.e2eSeconds.labels({ camera });
      for (const ms of inferenceMs) inference.observe(ms / 1000);
      for (const ms of totalMs) e2e.observe(ms / 1000);
    }
  }

  /** Records an agent heartbeat: the camera's FPS gauges, outbox depth and model version. */
  observeHeartbeat(camera: string, heartbeat: HeartbeatRequest): void {
    this.heartbeats.set(camera, { heartbeat, at: this.now() });
  }

  /** Drops a camera's heartbeat series at once (agent deregistered), instead of on staleness. */
  forgetCamera(camera: string): void {
    this.heartbeats.delete(camera);
  }

  /** The registry's alias → version (e.g. production → v7); null removes the alias. */
  setModelAlias(alias: string, version: string | null): void {
    if (version === null) this.aliasVersions.delete(alias);
    else this.aliasVersions.set(alias, version);
  }

  /** Items in the labeling queue with `status` (labeling issue). */
  setLabelingQueueDepth(status: string, depth: number): void {
    this.labelingQueueDepth.set({ status }, depth);
  }

  /** The last drift check's share of drifted features and per-feature p-values (drift issue). */
  setDrift(observation: DriftObservation): void {
    this.driftShare ??= new Gauge({
      name: 'visionloop_drift_share',
      help: 'Share of image features that drifted in the last drift check, 0..1.',
      registers: [this.registry],
    });
    this.driftShare.set(observation.share);
    this.driftPValue.reset();
    for (const [feature, pValue] of Object.entries(observation.pValues)) {
      this.driftPValue.set({ feature }, pValue);
    }
  }

  /**
   * The retraining state (retraining issue), exported as a Prometheus state set: the current
   * state's series is 1, every state seen before is 0.
   */
  setRetrainingState(state: string): void {
    this.retrainingStates.add(state);
    for (const known of this.retrainingStates) {
      this.retrainingState.set({ state: known }, known === state ? 1 : 0);
    }
  }

  /** The exposition text for a scrape. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  private freshHeartbeats(): HeartbeatSeen[] {
    const cutoff = this.now() - this.heartbeatStaleMs;
    const fresh: HeartbeatSeen[] = [];
    for (const [camera, seen] of this.heartbeats) {
      if (seen.at < cutoff) this.heartbeats.delete(camera);
      else fresh.push(seen);
    }
    return fresh;
  }

  private heartbeatGauge(
    name: string,
    help: string,
    pick: (heartbeat: HeartbeatRequest) => number,
  ): void {
    const fresh = (): [string, HeartbeatSeen][] => {
      this.freshHeartbeats();
      return [...this.heartbeats];
    };
    new Gauge({
      name,
      help,
      labelNames: ['camera'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [camera, { heartbeat }] of fresh()) this.set({ camera }, pick(heartbeat));
      },
    });
  }
}
