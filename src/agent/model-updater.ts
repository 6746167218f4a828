/**
 * Keeps an agent on the registry's `production` model, and holds the parts every model the
 * agent follows shares (the plan follower, plan-follower.ts, runs one ModelSlot per model).
 *
 * It learns of the target from the server's model events (`GET /api/agents/{id}/events`,
 * reconnecting with backoff; the stream opens with the current production, so nothing is
 * missed across reconnects) and, as a fallback, from every heartbeat answer (`production`).
 * When the target's sha256 differs from the running model's, it gets the file — from its
 * cache under `modelsDir` (`<sha256>.onnx`, re-hashed before use) or by download, verified
 * against the announced sha256 — and hot-swaps the pipeline's SwappableDetector between two
 * frames. The cache keeps the running model and the one before it (for a quick rollback);
 * older files are deleted. A target that failed is tried again after `retryAfterMs`.
 *
 * It never changes what production is, and never stops the pipeline: on any failure the
 * running model keeps running.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProductionRef } from '../shared/api/models.js';
import { VisionLoopError, messageOf } from '../shared/errors.js';
import type { ModelInfo } from '../vision/detector.js';
import type { SwapResult } from '../inference/swappable-detector.js';
import type { AgentStreamEvent, ModelSource } from './uplink/model-client.js';
import { abortableSleep, backoffDelay } from './uplink/backoff.js';
import type { LogLevel } from './uplink/sender.js';
import { isUplinkError } from './uplink/server-client.js';

/** The detector the updater swaps (SwappableDetector implements it). */
export interface SwapTarget {
  readonly model: ModelInfo;
  swapTo(modelPath: string, check?: (model: ModelInfo) => void): Promise<SwapResult>;
}

export interface ModelUpdaterDeps {
  source: ModelSource;
  detector: SwapTarget;
  /** Where downloaded models are kept, by sha256. */
  modelsDir: string;
  /** The agent's id once it registered (the event stream is per agent). */
  agentId: () => string | null;
  log?: (level: LogLevel, message: string) => void;
  random?: () => number;
  now?: () => number;
}

export interface ModelUpdaterOptions {
  /** A target whose update failed is tried again after this long, ms. Default 30 000. */
  retryAfterMs?: number;
  /** Event-stream reconnect backoff base and cap, ms. Defaults 1000 and 30 000. */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
}

export interface ModelUpdaterStats {
  /** Swaps this updater made. */
  swaps: number;
  target: ProductionRef | null;
  runningVersion: string | null;
  lastError: string | null;
  eventStreamConnected: boolean;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Verified model files under `modelsDir`, by sha256, downloaded when missing or corrupt. */
export class ModelCache {
  constructor(
    private readonly deps: {
      source: ModelSource;
      modelsDir: string;
      log: (level: LogLevel, message: string) => void;
      signal: AbortSignal;
    },
  ) {}

  /** The verified local file of `target`, downloading it when the cache has no good copy. */
  async fileFor(target: ProductionRef): Promise<string> {
    const path = join(this.deps.modelsDir, `${target.sha256}.onnx`);
    const cached = await stat(path).catch(() => null);
    if (cached?.isFile()) {
      if ((await sha256OfFile(path)) === target.sha256) return path;
      this.deps.log('warn', `the cached ${path} is corrupt; downloading it again`);
      await rm(path, { force: true });
    }
    await mkdir(this.deps.modelsDir, { recursive: true });
    this.deps.log('info', `downloading model ${target.version} (${target.sha256.slice(0, 12)}…)`);
    await this.deps.source.downloadArtifact(target.version, target.sha256, path, this.deps.signal);
    return path;
  }

  /** Deletes every cached model (and stray download) whose sha256 is not in `keep`. */
  async prune(keep: Iterable<string>): Promise<void> {
    const names = new Set([...keep].map((sha) => `${sha}.onnx`));
    let files: string[];
    try {
      files = await readdir(this.deps.modelsDir);
    } catch {
      return;
    }
    for (const name of files) {
      if (names.has(name) || !(name.endsWith('.onnx') || name.endsWith('.tmp'))) continue;
      await rm(join(this.deps.modelsDir, name), { force: true }).catch(() => undefined);
    }
  }
}

/** What one slot runs and how a verified file is put in its place. */
export interface SlotModel {
  /** The model the slot runs now; null when none. */
  running(): { version: string; sha256: string } | null;
  /** Loads the verified file at `path` in the slot's place; throws to keep the running one. */
  apply(path: string, target: ProductionRef): Promise<void>;
}

export interface ModelSlotStats {
  swaps: number;
  target: ProductionRef | null;
  runningVersion: string | null;
  lastError: string | null;
}

/**
 * One model the agent follows (the detector, a stage model, the shadow): takes targets, gets
 * the verified file and applies it, one update at a time; a failed target is retried after
 * `retryAfterMs`. The running model keeps running on any failure.
 */
export interface ModelSlotDeps {
  cache: ModelCache;
  log: (level: LogLevel, message: string) => void;
  now: () => number;
  retryAfterMs: number;
  signal: AbortSignal;
  /** After a successful update (the follower prunes the cache). */
  onApplied: () => Promise<void>;
}

export class ModelSlot {
  private target: ProductionRef | null = null;
  private applying: Promise<void> | null = null;
  private failed: { sha256: string; at: number } | null = null;
  private previous: string | null = null;
  /** The sha256 being fetched and loaded now: another slot's cache pruning must keep it. */
  private inFlight: string | null = null;
  private readonly counts = { swaps: 0, lastError: null as string | null };

  constructor(
    /** What the slot holds, for the log: `model`, `classify model`, `shadow model`. */
    private readonly name: string,
    private readonly model: SlotModel,
    private readonly deps: ModelSlotDeps,
  ) {}

  stats(): ModelSlotStats {
    return {
      swaps: this.counts.swaps,
      target: this.target,
      runningVersion: this.runningModel()?.version ?? null,
      lastError: this.counts.lastError,
    };
  }

  /**
   * The sha256s this slot needs cached: the running model, the one before it, and the one it
   * is switching to (downloaded but maybe not loaded yet).
   */
  keep(): string[] {
    const running = this.runningModel()?.sha256;
    return [running, this.previous, this.inFlight].filter(
      (sha): sha is string => typeof sha === 'string',
    );
  }

  /** A model the server announced; starts an update when it differs from the running one. */
  offer(target: ProductionRef | null | undefined): void {
    if (target === null || target === undefined || this.deps.signal.aborted) return;
    this.target = target;
    this.kick();
  }

  /** Resolves when no update is in progress. */
  async idle(): Promise<void> {
    while (this.applying !== null) await this.applying;
  }

  private runningModel(): { version: string; sha256: string } | null {
    try {
      return this.model.running();
    } catch {
      return null;
    }
  }

  private kick(): void {
    if (this.applying !== null || this.deps.signal.aborted) return;
    const target = this.target;
    if (target === null || this.runningModel()?.sha256 === target.sha256) return;
    if (
      this.failed?.sha256 === target.sha256 &&
      this.deps.now() - this.failed.at < this.deps.retryAfterMs
    ) {
      return;
    }
    this.applying = this.apply(target).finally(() => {
      this.applying = null;
      // The target may have moved while this update ran.
      if (this.target !== null && this.target.sha256 !== target.sha256) this.kick();
    });
  }

  private async apply(target: ProductionRef): Promise<void> {
    const running = this.runningModel();
    this.inFlight = target.sha256;
    try {
      const path = await this.deps.cache.fileFor(target);
      await this.model.apply(path, target);
      this.counts.swaps++;
      this.counts.lastError = null;
      this.failed = null;
      this.previous = running?.sha256 ?? null;
      await this.deps.onApplied();
    } catch (error) {
      this.failed = { sha256: target.sha256, at: this.deps.now() };
      this.counts.lastError = messageOf(error);
      this.deps.log(
        'warn',
        `could not switch to ${this.name} ${target.version}: ${messageOf(error)}; ${running?.version ?? `the current ${this.name}`} keeps running (retry in ${Math.round(this.deps.retryAfterMs / 1000)} s)`,
      );
    } finally {
      this.inFlight = null;
    }
  }
}

/** A SlotModel over a hot-swappable detector: swaps with a sha256 check and logs the swap. */
export function detectorSlotModel(
  detector: SwapTarget,
  log: (level: LogLevel, message: string) => void,
  name = 'model',
): SlotModel {
  return {
    running: () => detector.model,
    async apply(path, target) {
      const result = await detector.swapTo(path, (model) => checkSha(path, model.sha256, target));
      log(
        'info',
        `now running ${name} ${result.model.version} (was ${result.previous?.version ?? 'none'}; loaded and warmed up in ${Math.round(result.loadMs)} ms)`,
      );
    },
  };
}

/** Refuses a loaded model whose sha256 is not the target's. */
export function checkSha(path: string, sha256: string, target: ProductionRef): void {
  if (sha256 !== target.sha256) {
    throw new VisionLoopError(
      'MODEL_LOAD_FAILED',
      `${path} loaded with sha256 ${sha256.slice(0, 12)}…, not ${target.sha256.slice(0, 12)}…`,
    );
  }
}

/**
 * Follows the agent's event stream until `signal` aborts: waits for the agent's id, hands
 * every event to `onEvent`, reconnects with backoff (the stream reopens with the current state).
 */
export async function followAgentEvents(deps: {
  source: ModelSource;
  agentId: () => string | null;
  onEvent: (event: AgentStreamEvent) => void;
  onConnected: (connected: boolean) => void;
  log: (level: LogLevel, message: string) => void;
  random: () => number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  signal: AbortSignal;
}): Promise<void> {
  const { signal } = deps;
  let failures = 0;
  while (!signal.aborted) {
    const agentId = deps.agentId();
    if (agentId === null) {
      await abortableSleep(250, signal);
      continue;
    }
    let connected = false;
    try {
      for await (const event of deps.source.modelEvents(agentId, signal)) {
        if (!connected) {
          connected = true;
          failures = 0;
          deps.onConnected(true);
        }
        deps.onEvent(event);
      }
    } catch (error) {
      if (signal.aborted) break;
      if (failures === 0 || failures % 10 === 0) {
        const notFound = isUplinkError(error) && error.status === 404;
        deps.log(
          notFound ? 'info' : 'warn',
          notFound
            ? 'the server has no model events; following production through heartbeats only'
            : `model events: ${messageOf(error)}; reconnecting`,
        );
      }
    }
    deps.onConnected(false);
    failures++;
    await abortableSleep(
      Math.max(
        deps.reconnectBaseMs / 2,
        backoffDelay(failures, deps.random, deps.reconnectBaseMs, deps.reconnectCapMs),
      ),
      signal,
    );
  }
}

/** A `production` model event as a target; null for any other event. */
export function productionOf(event: AgentStreamEvent): ProductionRef | null {
  if (event.type !== 'model') return null;
  if (event.alias !== 'production' || event.toVersion === null || event.sha256 === null) {
    return null;
  }
  return { version: event.toVersion, sha256: event.sha256 };
}

/**
 * What ModelUpdater and PlanFollower share: the stop signal, the verified model cache, the
 * settings their model slots run with (a successful update prunes the cache to what `keep`
 * names), and the loop over the agent's event stream.
 */
export class AgentModelFollowing {
  private readonly stopping = new AbortController();
  readonly log: (level: LogLevel, message: string) => void;
  readonly cache: ModelCache;
  readonly slotDeps: ModelSlotDeps;
  private eventLoop: Promise<void> | null = null;
  private connected = false;
  private readonly reconnectBaseMs: number;
  private readonly reconnectCapMs: number;

  constructor(
    private readonly deps: ModelUpdaterDeps,
    options: ModelUpdaterOptions,
    keep: () => string[],
  ) {
    this.log = deps.log ?? (() => undefined);
    this.reconnectBaseMs = options.reconnectBaseMs ?? 1000;
    this.reconnectCapMs = options.reconnectCapMs ?? 30_000;
    this.cache = new ModelCache({
      source: deps.source,
      modelsDir: deps.modelsDir,
      log: this.log,
      signal: this.stopping.signal,
    });
    this.slotDeps = {
      cache: this.cache,
      log: this.log,
      now: deps.now ?? Date.now,
      retryAfterMs: options.retryAfterMs ?? 30_000,
      signal: this.stopping.signal,
      onApplied: () => this.cache.prune(keep()),
    };
  }

  /** The updater's stats: the detector slot's, and whether the event stream is connected. */
  detectorStats(slot: ModelSlot): ModelUpdaterStats {
    return { ...slot.stats(), eventStreamConnected: this.connected };
  }

  /** Whether stop() was called. */
  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Starts following the agent's events (once; later calls do nothing). */
  start(onEvent: (event: AgentStreamEvent) => void): void {
    this.eventLoop ??= followAgentEvents({
      source: this.deps.source,
      agentId: this.deps.agentId,
      onEvent,
      onConnected: (connected) => {
        this.connected = connected;
      },
      log: this.log,
      random: this.deps.random ?? Math.random,
      reconnectBaseMs: this.reconnectBaseMs,
      reconnectCapMs: this.reconnectCapMs,
      signal: this.stopping.signal,
    });
  }

  /** Stops following events and downloads; waits for the event loop to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.eventLoop;
  }
}

export class ModelUpdater {
  private readonly following: AgentModelFollowing;
  private readonly slot: ModelSlot;

  constructor(deps: ModelUpdaterDeps, options: ModelUpdaterOptions = {}) {
    this.following = new AgentModelFollowing(deps, options, () => this.slot.keep());
    const { log, slotDeps } = this.following;
    this.slot = new ModelSlot('model', detectorSlotModel(deps.detector, log), slotDeps);
  }

  stats(): ModelUpdaterStats {
    return this.following.detectorStats(this.slot);
  }

  /** Starts following the model events. */
  start(): void {
    this.following.start((event) => this.offer(productionOf(event)));
  }

  /**
   * A production model the server announced (an event or a heartbeat answer). Starts an
   * update when it differs from the running model; returns at once.
   */
  offer(target: ProductionRef | null | undefined): void {
    this.slot.offer(target);
  }

  /** Resolves when no update is in progress. */
  idle(): Promise<void> {
    return this.slot.idle();
  }

  /** Stops following events and waits for an update in progress. */
  async stop(): Promise<void> {
    await this.following.stop();
    await this.idle();
  }
}
