/**
 * The pure parts of bench/scale.bench.ts, kept apart so a test can check them without starting
 * a server: which cameras run at which rate on which replica, how frames lost and duplicated are
 * counted from the database against what the simulated cameras sent, where the load saturates,
 * and what a fleet of cameras would need given the per-result costs the bench measured.
 *
 * Nothing here does I/O or reads a clock; every random choice comes from a seed.
 */
import { Rng, hashSeed } from '../src/synth/rng.js';

/** One simulated camera: its name, frame interval and the replica it talks to first. */
export interface CameraPlan {
  camera: string;
  /** Milliseconds between two frames (whole ms, so capture times stay integers). */
  intervalMs: number;
  /** 1000 / intervalMs. */
  fps: number;
  /** Index of the replica this camera's batches go to while it is up. */
  home: number;
  /** Seed of this camera's frame results. */
  seed: number;
}

export interface CameraPlanOptions {
  seed: number;
  replicas: number;
  /** Default 5. */
  minFps?: number;
  /** Default 15. */
  maxFps?: number;
}

/**
 * `count` cameras with frame rates drawn uniformly in [minFps, maxFps] (rounded to a whole
 * frame interval in ms), spread round-robin over `replicas` (as a load balancer would). The plan
 * depends only on (count, seed, minFps, maxFps): a baseline with one replica offers the same
 * load as the run with two.
 */
export function planCameras(count: number, options: CameraPlanOptions): CameraPlan[] {
  const minFps = options.minFps ?? 5;
  const maxFps = options.maxFps ?? 15;
  if (!(count >= 1 && Number.isInteger(count))) throw new Error('cameras must be an integer ≥ 1');
  if (!(minFps > 0 && maxFps >= minFps)) throw new Error('need 0 < minFps ≤ maxFps');
  if (!(options.replicas >= 1)) throw new Error('replicas must be ≥ 1');
  const rng = new Rng(hashSeed(options.seed, 0x5ca1e));
  return Array.from({ length: count }, (_, i) => {
    const fps = rng.uniform(minFps, maxFps);
    // Whole milliseconds, kept inside [minFps, maxFps] after rounding.
    const intervalMs = Math.min(
      Math.floor(1000 / minFps),
      Math.max(Math.ceil(1000 / maxFps), Math.round(1000 / fps)),
    );
    return {
      camera: `cam-${String(i + 1).padStart(4, '0')}`,
      intervalMs,
      fps: 1000 / intervalMs,
      home: i % options.replicas,
      seed: hashSeed(options.seed, i),
    };
  });
}

/** Frames offered per second by a plan. */
export function offeredPerSecond(plan: readonly CameraPlan[]): number {
  return plan.reduce((sum, camera) => sum + camera.fps, 0);
}

/** What one camera sent: frames 0 … generated − 1. */
export interface CameraSent {
  camera: string;
  generated: number;
}

/** A stored frame of the run: `select camera, frame_index, count(*) … group by camera, frame_index`. */
export interface StoredFrame {
  camera: string;
  frameIndex: number;
  /** Rows stored for this (camera, frame). */
  copies: number;
}

export interface DeliveryAccount {
  /** Frames the cameras produced. */
  sent: number;
  /** Rows stored for the run. */
  stored: number;
  /** Frames produced and never stored. */
  lost: number;
  /** Rows beyond the first for a (camera, frame): the same frame stored twice. */
  duplicated: number;
  /** Rows for frames nobody produced (a camera or frame index outside what was sent). */
  unexpected: number;
  /** Cameras with at least one lost frame, by name. */
  camerasWithLoss: string[];
}

/**
 * Frames lost and duplicated, from what the database holds against what the cameras sent. A
 * camera's frames are 0 … generated − 1: each must be stored exactly once; a frame with no row
 * is lost, every row beyond the first is a duplicate, a row for anything else is unexpected.
 */
export function accountDelivery(
  sent: readonly CameraSent[],
  stored: readonly StoredFrame[],
): DeliveryAccount {
  const generated = new Map(sent.map((camera) => [camera.camera, camera.generated]));
  const found = new Map<string, number>();
  let storedRows = 0;
  let duplicated = 0;
  let unexpected = 0;
  for (const frame of stored) {
    storedRows += frame.copies;
    const limit = generated.get(frame.camera);
    if (limit === undefined || frame.frameIndex < 0 || frame.frameIndex >= limit) {
      unexpected += frame.copies;
      continue;
    }
    duplicated += frame.copies - 1;
    found.set(frame.camera, (found.get(frame.camera) ?? 0) + 1);
  }
  let lost = 0;
  const camerasWithLoss: string[] = [];
  for (const camera of sent) {
    const missing = camera.generated - (found.get(camera.camera) ?? 0);
    if (missing > 0) {
      lost += missing;
      camerasWithLoss.push(camera.camera);
    }
  }
  const sentTotal = sent.reduce((sum, camera) => sum + camera.generated, 0);
  return { sent: sentTotal, stored: storedRows, lost, duplicated, unexpected, camerasWithLoss };
}

/** One step's numbers that decide saturation. */
export interface StepLoad {
  cameras: number;
  offeredPerSecond: number;
  ingestedPerSecond: number;
  ackP99Ms: number | null;
}

export interface SaturationRule {
  /** Ingested/offered below this ratio means ingest stopped tracking the load. Default 0.9. */
  trackingRatio?: number;
  /**
   * An ack p99 above this is a blow-up. Default 1000 ms: an agent keeps one batch in flight
   * and sends every second (src/agent/uplink/sender.ts, batchDelayMs), so acks slower than that
   * make its outbox grow.
   */
  ackP99LimitMs?: number;
}

export interface Saturation {
  /** Cameras of the first saturated step; null when no step saturated. */
  cameras: number | null;
  reason: string;
}

/** The first step (by camera count) where ingest stops tracking the offered load. */
export function saturationPoint(steps: readonly StepLoad[], rule: SaturationRule = {}): Saturation {
  const trackingRatio = rule.trackingRatio ?? 0.9;
  const ackLimit = rule.ackP99LimitMs ?? 1000;
  const sorted = [...steps].sort((a, b) => a.cameras - b.cameras);
  for (const step of sorted) {
    const ratio = step.offeredPerSecond > 0 ? step.ingestedPerSecond / step.offeredPerSecond : 1;
    if (ratio < trackingRatio) {
      return {
        cameras: step.cameras,
        reason: `ingested ${round(step.ingestedPerSecond, 1)}/s of ${round(step.offeredPerSecond, 1)}/s offered (ratio ${round(ratio, 3)} < ${trackingRatio})`,
      };
    }
    if (step.ackP99Ms !== null && step.ackP99Ms > ackLimit) {
      return {
        cameras: step.cameras,
        reason: `ack p99 ${round(step.ackP99Ms, 1)} ms > ${ackLimit} ms (the agents' batch interval)`,
      };
    }
  }
  const largest = sorted.at(-1)?.cameras;
  return {
    cameras: null,
    reason:
      largest === undefined
        ? 'no steps'
        : `not reached up to ${largest} cameras: ingested/s tracked offered/s (≥ ${trackingRatio}) and ack p99 stayed ≤ ${ackLimit} ms`,
  };
}

/** A ratio to 3 decimals; null when either side is missing or the baseline is 0. */
export function ratio(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || !(baseline > 0)) return null;
  return round(value / baseline, 3);
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Measured costs a fleet estimate is scaled from. */
export interface FleetInputs {
  cameras: number;
  fps: number;
  /** prediction_logs + prediction_classes, heap and indexes, per stored result. */
  bytesPerRow: number;
  /** Mean size of an uploaded 640×480 frame JPEG. */
  jpegBytes: number;
  /** Share of frames whose JPEG the default `uploadFrames: uncertain` uploads. */
  uncertainShare: number;
  /** Sampling caps per camera (docs/sampling.md defaults 10/min, 120/h, 1000/day). */
  sampledPerCameraPerDay: number;
  /** CPU seconds the server replicas spent per 1000 results stored (uploads included). */
  serverCpuSecondsPer1000: number;
  /** CPU seconds PostgreSQL spent per 1000 results stored; null when not measured. */
  postgresCpuSecondsPer1000: number | null;
  /** Target CPU use of a replica's core (headroom for a replica failing over). Default 0.5. */
  targetUtilisation?: number;
  /** Cores per server replica. Default 2. */
  coresPerReplica?: number;
}

export interface FleetEstimate {
  resultsPerSecond: number;
  rowsPerDay: number;
  rowBytesPerDay: number;
  ingestRequestsPerSecond: number;
  heartbeatsPerSecond: number;
  jpegBytesPerDayUncertain: number;
  jpegBytesPerDaySampledOnly: number;
  serverCores: number;
  replicas: number;
  postgresCores: number | null;
}

const SECONDS_PER_DAY = 86_400;

/**
 * What `cameras` at `fps` need, scaled linearly from the measured per-result costs: rows and
 * bytes per day, requests per second (one batch a second and one heartbeat every 5 s per
 * agent), and server cores and replicas at `targetUtilisation` (by default half, so the others
 * can take a failed replica's cameras).
 */
export function estimateFleet(inputs: FleetInputs): FleetEstimate {
  const utilisation = inputs.targetUtilisation ?? 0.5;
  const coresPerReplica = inputs.coresPerReplica ?? 2;
  const resultsPerSecond = inputs.cameras * inputs.fps;
  const rowsPerDay = resultsPerSecond * SECONDS_PER_DAY;
  const serverCores = (resultsPerSecond / 1000) * inputs.serverCpuSecondsPer1000;
  const replicas = Math.max(2, Math.ceil(serverCores / utilisation / coresPerReplica));
  return {
    resultsPerSecond,
    rowsPerDay,
    rowBytesPerDay: rowsPerDay * inputs.bytesPerRow,
    ingestRequestsPerSecond: inputs.cameras,
    heartbeatsPerSecond: inputs.cameras / 5,
    jpegBytesPerDayUncertain: rowsPerDay * inputs.uncertainShare * inputs.jpegBytes,
    jpegBytesPerDaySampledOnly: inputs.cameras * inputs.sampledPerCameraPerDay * inputs.jpegBytes,
    serverCores: round(serverCores, 2),
    replicas,
    postgresCores:
      inputs.postgresCpuSecondsPer1000 === null
        ? null
        : round((resultsPerSecond / 1000) * inputs.postgresCpuSecondsPer1000, 2),
  };
}

/** One phase's CPU use: cores busy on average while it stored `resultsPerSecond`. */
export interface CpuPoint {
  resultsPerSecond: number;
  cores: number;
}

export interface CpuFit {
  /** Marginal CPU seconds per 1000 stored results (the slope). */
  secondsPer1000: number;
  /** Cores used with no results (timers, heartbeats, LISTEN, …): the intercept, ≥ 0. */
  idleCores: number;
  /** How the fit was made. */
  method: 'least-squares' | 'through-origin';
}

/**
 * CPU per result from phases at different loads: a least-squares line `cores = idle + slope ×
 * results/s` when the loads differ, so the fixed cost of an idle process does not inflate the
 * per-result cost; through the origin from a single load. Null without points.
 */
export function fitCpuPerResult(points: readonly CpuPoint[]): CpuFit | null {
  const usable = points.filter((p) => p.resultsPerSecond > 0 && Number.isFinite(p.cores));
  if (usable.length === 0) return null;
  const n = usable.length;
  const meanX = usable.reduce((sum, p) => sum + p.resultsPerSecond, 0) / n;
  const meanY = usable.reduce((sum, p) => sum + p.cores, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of usable) {
    sxx += (p.resultsPerSecond - meanX) ** 2;
    sxy += (p.resultsPerSecond - meanX) * (p.cores - meanY);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = meanY - slope * meanX;
  if (n < 2 || sxx === 0 || slope <= 0 || intercept < 0) {
    // One load, or a noisy fit: the average cost per result, fixed costs included.
    const perResult =
      usable.reduce((sum, p) => sum + p.cores, 0) /
      usable.reduce((sum, p) => sum + p.resultsPerSecond, 0);
    return { secondsPer1000: round(perResult * 1000, 4), idleCores: 0, method: 'through-origin' };
  }
  return {
    secondsPer1000: round(slope * 1000, 4),
    idleCores: round(intercept, 3),
    method: 'least-squares',
  };
}
