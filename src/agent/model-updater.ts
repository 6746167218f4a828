/**
 * Keeps an agent on the registry's `production` model.
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
import { VisionLoopError } from '../shared/errors.js';
import type { ModelInfo } from '../vision/detector.js';
import type { SwapResult } from './swappable-detector.js';
import type { ModelSource } from './uplink/model-client.js';
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class ModelUpdater {
  private readonly stopping = new AbortController();
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly retryAfterMs: number;
  private readonly reconnectBaseMs: number;
  private readonly reconnectCapMs: number;
  private target: ProductionRef | null = null;
  private applying: Promise<void> | null = null;
  private failed: { sha256: string; at: number } | null = null;
  private previousSha: string | null = null;
  private eventLoop: Promise<void> | null = null;
  private current: ModelUpdaterStats = {
    swaps: 0,
    target: null,
    runningVersion: null,
    lastError: null,
    eventStreamConnected: false,
  };

  constructor(
    private readonly deps: ModelUpdaterDeps,
    options: ModelUpdaterOptions = {},
  ) {
    this.log = deps.log ?? (() => undefined);
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.retryAfterMs = options.retryAfterMs ?? 30_000;
    this.reconnectBaseMs = options.reconnectBaseMs ?? 1000;
    this.reconnectCapMs = options.reconnectCapMs ?? 30_000;
  }

  stats(): ModelUpdaterStats {
    return { ...this.current, runningVersion: this.runningModel()?.version ?? null };
  }

  /** Starts following the model events. */
  start(): void {
    this.eventLoop ??= this.followEvents();
  }

  /**
   * A production model the server announced (an event or a heartbeat answer). Starts an
   * update when it differs from the running model; returns at once.
   */
  offer(target: ProductionRef | null | undefined): void {
    if (target === null || target === undefined || this.stopping.signal.aborted) return;
    this.target = target;
    this.current.target = target;
    this.kick();
  }

  /** Resolves when no update is in progress. */
  async idle(): Promise<void> {
    while (this.applying !== null) await this.applying;
  }

  /** Stops following events and waits for an update in progress. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.eventLoop;
    await this.idle();
  }

  private runningModel(): ModelInfo | null {
    try {
      return this.deps.detector.model;
    } catch {
      return null;
    }
  }

  private kick(): void {
    if (this.applying !== null || this.stopping.signal.aborted) return;
    const target = this.target;
    if (target === null || this.runningModel()?.sha256 === target.sha256) return;
    if (this.failed?.sha256 === target.sha256 && this.now() - this.failed.at < this.retryAfterMs) {
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
    try {
      const path = await this.fileFor(target);
      const result = await this.deps.detector.swapTo(path, (model) => {
        if (model.sha256 !== target.sha256) {
          throw new VisionLoopError(
            'MODEL_LOAD_FAILED',
            `${path} loaded with sha256 ${model.sha256.slice(0, 12)}…, not ${target.sha256.slice(0, 12)}…`,
          );
        }
      });
      this.current.swaps++;
      this.current.lastError = null;
      this.failed = null;
      this.previousSha = running?.sha256 ?? null;
      this.log(
        'info',
        `now running model ${result.model.version} (was ${result.previous?.version ?? 'none'}; loaded and warmed up in ${Math.round(result.loadMs)} ms)`,
      );
      await this.prune(target.sha256);
    } catch (error) {
      this.failed = { sha256: target.sha256, at: this.now() };
      this.current.lastError = messageOf(error);
      this.log(
        'warn',
        `could not switch to model ${target.version}: ${messageOf(error)}; ${running?.version ?? 'the current model'} keeps running (retry in ${Math.round(this.retryAfterMs / 1000)} s)`,
      );
    }
  }

  /** The verified local file of `target`, downloading it when the cache has no good copy. */
  private async fileFor(target: ProductionRef): Promise<string> {
    const path = join(this.deps.modelsDir, `${target.sha256}.onnx`);
    const cached = await stat(path).catch(() => null);
    if (cached?.isFile()) {
      if ((await sha256OfFile(path)) === target.sha256) return path;
      this.log('warn', `the cached ${path} is corrupt; downloading it again`);
      await rm(path, { force: true });
    }
    await mkdir(this.deps.modelsDir, { recursive: true });
    this.log('info', `downloading model ${target.version} (${target.sha256.slice(0, 12)}…)`);
    await this.deps.source.downloadArtifact(
      target.version,
      target.sha256,
      path,
      this.stopping.signal,
    );
    return path;
  }

  /** Keeps the running model and the previous one; deletes older files and stray downloads. */
  private async prune(runningSha: string): Promise<void> {
    const keep = new Set([`${runningSha}.onnx`]);
    if (this.previousSha !== null) keep.add(`${this.previousSha}.onnx`);
    let names: string[];
    try {
      names = await readdir(this.deps.modelsDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (keep.has(name) || !(name.endsWith('.onnx') || name.endsWith('.tmp'))) continue;
      await rm(join(this.deps.modelsDir, name), { force: true }).catch(() => undefined);
    }
  }

  private async followEvents(): Promise<void> {
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      const agentId = this.deps.agentId();
      if (agentId === null) {
        await abortableSleep(250, signal);
        continue;
      }
      try {
        for await (const event of this.deps.source.modelEvents(agentId, signal)) {
          if (!this.current.eventStreamConnected) {
            this.current.eventStreamConnected = true;
            failures = 0;
          }
          if (event.alias !== 'production' || event.toVersion === null || event.sha256 === null) {
            continue;
          }
          this.offer({ version: event.toVersion, sha256: event.sha256 });
        }
      } catch (error) {
        if (signal.aborted) break;
        if (failures === 0 || failures % 10 === 0) {
          const notFound = isUplinkError(error) && error.status === 404;
          this.log(
            notFound ? 'info' : 'warn',
            notFound
              ? 'the server has no model events; following production through heartbeats only'
              : `model events: ${messageOf(error)}; reconnecting`,
          );
        }
      }
      this.current.eventStreamConnected = false;
      failures++;
      await abortableSleep(
        Math.max(
          this.reconnectBaseMs / 2,
          backoffDelay(failures, this.random, this.reconnectBaseMs, this.reconnectCapMs),
        ),
        signal,
      );
    }
  }
}
