/**
 * The agent's send loop: moves what the outbox holds to the server, in order, and deletes it
 * only after the server acknowledged it.
 *
 * Just over 500 lines: one send loop and its failure handling, which are read together
 * (the retry timing is apart, in backoff.ts).
 *
 * - One loop, one request in flight: a batch is never sent twice at the same time. A batch
 *   whose answer was lost is sent again later; the server stores a result id once, so a
 *   retried batch comes back as duplicates, never as a second copy.
 * - Batches: up to `batchSize` results, or whatever is waiting once the oldest result is
 *   `batchDelayMs` old. Frames are uploaded one at a time after their result was acknowledged,
 *   whenever no batch is due.
 * - Failures (see server-client.ts): transient ones are retried with exponential backoff and
 *   full jitter (delay = random × min(cap, base × 2^attempt), Retry-After respected); a result
 *   the server refuses for good is isolated by splitting the batch in halves and then counted
 *   as rejected, so one bad result cannot hold up the others; 401/403 stop all sending (the data
 *   stays in the outbox) and the token is retried only every `authRetryMs`.
 * - It registers before sending, and again whenever the server no longer knows the agent
 *   (404 on heartbeat or ingest: a server whose database was reset). Settings from the
 *   registration and heartbeat answers are applied when their revision differs from the
 *   current one, and kept in the outbox for the next start.
 * - It resumes after a restart from whatever the outbox holds; nothing is kept only in memory.
 *
 * It never reads the pipeline directly: it gets health numbers through a callback.
 */
import type {
  AgentSettings,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
} from '../../shared/api/agents.js';
import {
  MAX_INGEST_BATCH,
  type FrameUploadResponse,
  type IngestBatchResponse,
} from '../../shared/api/ingest.js';
import type { Outbox, PendingResult } from '../outbox.js';
import { abortableSleep, backoffDelay } from './backoff.js';
import { UplinkError, isUplinkError } from './server-client.js';

/** The client calls the sender makes (ServerClient implements them). */
export interface UplinkClient {
  register(request: RegisterAgentRequest, signal?: AbortSignal): Promise<RegisterAgentResponse>;
  heartbeat(
    agentId: string,
    request: HeartbeatRequest,
    signal?: AbortSignal,
  ): Promise<HeartbeatResponse>;
  ingestRaw(body: string, signal?: AbortSignal): Promise<IngestBatchResponse>;
  uploadFrame(
    resultId: string,
    jpeg: Uint8Array,
    signal?: AbortSignal,
  ): Promise<FrameUploadResponse>;
}

/** The pipeline's part of a heartbeat; the sender adds the outbox's. */
export type AgentHealth = Omit<HeartbeatRequest, 'outboxDepth' | 'outboxBytes' | 'shedCount'>;

export interface SenderOptions {
  /** Most results per ingest request. Default 200 (the server takes up to 1000). */
  batchSize?: number;
  /** Send a partial batch once its oldest result waited this long, ms. Default 1000. */
  batchDelayMs?: number;
  /** Default 5000. */
  heartbeatIntervalMs?: number;
  /** Backoff base and cap, ms. Defaults 250 and 30 000. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** After a 401/403, how often the token is tried again, ms. Default 60 000. */
  authRetryMs?: number;
}

export const DEFAULT_SENDER_OPTIONS: Required<SenderOptions> = {
  batchSize: 200,
  batchDelayMs: 1000,
  heartbeatIntervalMs: 5000,
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
  authRetryMs: 60_000,
};

export type LogLevel = 'info' | 'warn' | 'error';

export interface SenderDeps {
  outbox: Outbox;
  client: UplinkClient;
  /** What the agent registers as (modelVersion is taken from `health` at each registration). */
  registration: RegisterAgentRequest;
  health: () => AgentHealth;
  /** The settings in force at start (the outbox's last known ones, or the defaults). */
  settings: AgentSettings;
  onSettings?: (settings: AgentSettings) => void;
  /** Every heartbeat answer (the model updater reads `production` from it). Must not throw. */
  onHeartbeat?: (answer: HeartbeatResponse) => void;
  /** Uniform in [0, 1); inject a seeded one in tests. Default Math.random. */
  random?: () => number;
  /** Backoff waits go through this; tests inject one that records the delays. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  log?: (level: LogLevel, message: string) => void;
  now?: () => number;
}

export type SenderState =
  'starting' | 'registering' | 'sending' | 'idle' | 'backing-off' | 'auth-failed' | 'stopped';

export interface SenderStats {
  state: SenderState;
  agentId: string | null;
  settings: AgentSettings;
  registrations: number;
  batchesSent: number;
  /** Results the server acknowledged in this run (stored now or already before). */
  resultsAcknowledged: number;
  accepted: number;
  duplicates: number;
  /** Results the server refused for good in this run. */
  resultsRejected: number;
  framesUploaded: number;
  framesRejected: number;
  /** Transient failures in this run, and in a row right now. */
  failures: number;
  consecutiveFailures: number;
  lastError: string | null;
  authFailed: boolean;
}

/** A wake-up call that is not lost when it comes before the wait. */
class Wakeup {
  private pending = false;
  private waiter: (() => void) | null = null;

  notify(): void {
    if (this.waiter) this.waiter();
    else this.pending = true;
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiter = null;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done, { once: true });
      this.waiter = done;
    });
  }
}

/** Joins stored result JSON into an ingest request body without parsing it again. */
export function ingestBody(agentId: string | null, batch: readonly PendingResult[]): string {
  const head = agentId === null ? '{' : `{"agentId":${JSON.stringify(agentId)},`;
  return `${head}"results":[${batch.map((item) => item.body).join(',')}]}`;
}

export class Sender {
  private readonly options: Required<SenderOptions>;
  private readonly outbox: Outbox;
  private readonly client: UplinkClient;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private readonly wakeup = new Wakeup();
  private loops: Promise<void> | null = null;
  private draining = false;
  private lastAuthLogAt = -Infinity;
  private current: SenderStats;

  constructor(
    private readonly deps: SenderDeps,
    options: SenderOptions = {},
  ) {
    this.options = { ...DEFAULT_SENDER_OPTIONS, ...options };
    this.options.batchSize = Math.max(1, Math.min(MAX_INGEST_BATCH, this.options.batchSize));
    this.outbox = deps.outbox;
    this.client = deps.client;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? abortableSleep;
    this.log = deps.log ?? (() => undefined);
    this.now = deps.now ?? Date.now;
    this.current = {
      state: 'starting',
      agentId: null,
      settings: deps.settings,
      registrations: 0,
      batchesSent: 0,
      resultsAcknowledged: 0,
      accepted: 0,
      duplicates: 0,
      resultsRejected: 0,
      framesUploaded: 0,
      framesRejected: 0,
      failures: 0,
      consecutiveFailures: 0,
      lastError: null,
      authFailed: false,
    };
  }

  get settings(): AgentSettings {
    return this.current.settings;
  }

  stats(): SenderStats {
    return { ...this.current };
  }

  /** Starts the send and heartbeat loops. */
  start(): void {
    if (this.loops) return;
    this.loops = Promise.all([this.sendLoop(), this.heartbeatLoop()]).then(() => undefined);
  }

  /** New data is in the outbox. */
  wake(): void {
    this.wakeup.notify();
  }

  /**
   * Sends everything without waiting for full batches until the outbox is empty (results and
   * frames), the token is refused, or `timeoutMs` passes. Resolves true when it emptied.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.wakeup.notify();
    const deadline = this.now() + timeoutMs;
    while (!this.isEmpty() && !this.current.authFailed && !this.stopping.signal.aborted) {
      const left = deadline - this.now();
      if (left <= 0) break;
      await abortableSleep(Math.min(50, left), this.stopping.signal);
    }
    return this.isEmpty();
  }

  /** Stops both loops; a request in flight is abandoned (its results stay in the outbox). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loops;
    this.current.state = 'stopped';
  }

  private isEmpty(): boolean {
    const stats = this.outbox.stats();
    return stats.pendingResults === 0 && stats.pendingFrames === 0;
  }

  private get signal(): AbortSignal {
    return this.stopping.signal;
  }

  private async sendLoop(): Promise<void> {
    while (!this.signal.aborted) {
      try {
        if (this.current.authFailed) {
          await this.retryAuth();
          continue;
        }
        if (this.current.agentId === null) {
          this.current.state = 'registering';
          await this.register();
          continue;
        }
        if (!(await this.step())) {
          this.current.state = 'idle';
          await this.wakeup.wait(1000, this.signal);
        }
      } catch (error) {
        if (this.signal.aborted) break;
        await this.onFailure(error);
      }
    }
  }

  /** Does one unit of work; false when there was nothing to do. */
  private async step(): Promise<boolean> {
    const pending = this.outbox.stats().pendingResults;
    if (pending > 0) {
      const oldest = this.outbox.peekResults(1)[0];
      const dueAt = (oldest?.storedAt ?? 0) + this.options.batchDelayMs;
      if (this.draining || pending >= this.options.batchSize || this.now() >= dueAt) {
        this.current.state = 'sending';
        await this.sendResults(this.outbox.peekResults(this.options.batchSize));
        return true;
      }
      if (await this.uploadOneFrame()) return true;
      this.current.state = 'idle';
      await this.wakeup.wait(dueAt - this.now(), this.signal);
      return true;
    }
    return this.uploadOneFrame();
  }

  private async sendResults(batch: readonly PendingResult[]): Promise<void> {
    if (batch.length === 0) return;
    let ack: IngestBatchResponse;
    try {
      ack = await this.client.ingestRaw(ingestBody(this.current.agentId, batch), this.signal);
    } catch (error) {
      if (!isUplinkError(error) || error.kind !== 'permanent') throw error;
      if (error.status === 404) throw this.forgetRegistration(error);
      if (batch.length > 1) {
        // Find the result(s) the server refuses: each half is sent on its own.
        const middle = Math.ceil(batch.length / 2);
        await this.sendResults(batch.slice(0, middle));
        await this.sendResults(batch.slice(middle));
        return;
      }
      const [only] = batch;
      if (only) {
        this.outbox.rejectResults([only.seq]);
        this.current.resultsRejected++;
        this.log(
          'error',
          `the server refused result ${only.id} for good; dropped: ${error.message}`,
        );
      }
      return;
    }
    const removed = this.outbox.acknowledgeResults(batch.map((item) => item.seq));
    this.succeeded();
    this.current.batchesSent++;
    this.current.resultsAcknowledged += batch.length;
    this.current.accepted += ack.accepted;
    this.current.duplicates += ack.duplicates;
    if (ack.accepted + ack.duplicates !== batch.length) {
      this.log(
        'warn',
        `the server acknowledged ${ack.accepted} + ${ack.duplicates} duplicates of a batch of ${batch.length}`,
      );
    }
    if (removed < batch.length) {
      // Shed while in flight: delivered anyway.
      this.log(
        'info',
        `${batch.length - removed} results were shed while their batch was in flight`,
      );
    }
  }

  private async uploadOneFrame(): Promise<boolean> {
    const [frame] = this.outbox.peekFrames(1);
    if (!frame) return false;
    this.current.state = 'sending';
    try {
      await this.client.uploadFrame(frame.resultId, frame.jpeg, this.signal);
    } catch (error) {
      if (!isUplinkError(error) || error.kind !== 'permanent') throw error;
      this.outbox.removeFrame(frame.seq, 'rejected');
      this.current.framesRejected++;
      this.log(
        'warn',
        `the server refused the frame of ${frame.resultId}; dropped: ${error.message}`,
      );
      return true;
    }
    this.outbox.removeFrame(frame.seq, 'uploaded');
    this.current.framesUploaded++;
    this.succeeded();
    return true;
  }

  private async register(): Promise<void> {
    const answer = await this.client.register(
      { ...this.deps.registration, modelVersion: this.deps.health().modelVersion },
      this.signal,
    );
    this.current.agentId = answer.agentId;
    this.current.registrations++;
    this.applySettings(answer.settings);
    this.log(
      'info',
      `registered as agent ${answer.agentId} (settings revision ${answer.settings.revision}, ${this.outbox.stats().pendingResults} results in the outbox)`,
    );
  }

  private forgetRegistration(error: UplinkError): UplinkError {
    this.current.agentId = null;
    return new UplinkError(
      'transient',
      error.status,
      error.code,
      `the server no longer knows this agent; registering again (${error.message})`,
    );
  }

  private applySettings(settings: AgentSettings): void {
    const before = this.current.settings;
    if (JSON.stringify(settings) === JSON.stringify(before)) return;
    this.current.settings = settings;
    this.outbox.saveSettings(settings);
    this.deps.onSettings?.(settings);
    const sampling = settings.sampling;
    const samplingText = sampling === undefined ? 'default' : sampling.enabled ? 'on' : 'off';
    this.log(
      'info',
      `settings revision ${settings.revision}: upload frames ${settings.uploadFrames}, JPEG quality ${settings.jpegQuality}, sampling ${samplingText}${settings.driftActive === true ? ' (drift boost)' : ''}`,
    );
  }

  private succeeded(): void {
    if (this.current.consecutiveFailures > 0) {
      this.log(
        'info',
        `the server answers again after ${this.current.consecutiveFailures} failed attempts; ${this.outbox.stats().pendingResults} results still to send`,
      );
    }
    this.current.consecutiveFailures = 0;
    this.current.lastError = null;
  }

  private async onFailure(error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    this.current.lastError = message;
    if (isUplinkError(error) && error.kind === 'auth') {
      this.markAuthFailed(error);
      return;
    }
    if (!isUplinkError(error)) {
      this.log('error', `send loop: ${message}`);
    } else if (error.kind === 'permanent') {
      // Only registration ends up here (a wrong URL, a refused camera name): keep trying slowly.
      this.log('error', `cannot register: ${message}`);
    }
    const attempt = this.current.consecutiveFailures;
    this.current.consecutiveFailures++;
    this.current.failures++;
    let delay = backoffDelay(
      attempt,
      this.random,
      this.options.backoffBaseMs,
      this.options.backoffCapMs,
    );
    const retryAfter = isUplinkError(error) ? error.retryAfterMs : null;
    if (retryAfter !== null)
      delay = Math.min(this.options.backoffCapMs, Math.max(delay, retryAfter));
    if (attempt === 0 || attempt % 10 === 0) {
      this.log(
        'warn',
        `${message}; ${this.outbox.stats().pendingResults} results kept in the outbox, retrying (attempt ${attempt + 1}, next in ${Math.round(delay)} ms)`,
      );
    }
    this.current.state = 'backing-off';
    await this.sleep(delay, this.signal);
  }

  private markAuthFailed(error: UplinkError): void {
    if (!this.current.authFailed || this.now() - this.lastAuthLogAt >= this.options.authRetryMs) {
      this.lastAuthLogAt = this.now();
      this.log(
        'error',
        `THE SERVER REFUSES THIS AGENT'S TOKEN (${error.status} ${error.code}): sending stopped; ` +
          `${this.outbox.stats().pendingResults} results are kept in the outbox and will be sent ` +
          `once a valid token is accepted (restart with a new --token). ${error.message}`,
      );
    }
    this.current.authFailed = true;
    this.current.state = 'auth-failed';
  }

  private async retryAuth(): Promise<void> {
    this.current.state = 'auth-failed';
    await this.sleep(this.options.authRetryMs, this.signal);
    if (this.signal.aborted) return;
    await this.register();
    this.current.authFailed = false;
    this.log('info', 'the server accepts the token again; sending resumes');
  }

  private async heartbeatLoop(): Promise<void> {
    while (!this.signal.aborted) {
      await abortableSleep(this.options.heartbeatIntervalMs, this.signal);
      const agentId = this.current.agentId;
      if (this.signal.aborted || agentId === null || this.current.authFailed) continue;
      try {
        const answer = await this.client.heartbeat(agentId, this.heartbeatBody(), this.signal);
        this.applySettings(answer.settings);
        this.deps.onHeartbeat?.(answer);
      } catch (error) {
        if (this.signal.aborted) continue;
        if (!isUplinkError(error)) {
          this.log('warn', `heartbeat: ${error instanceof Error ? error.message : String(error)}`);
        } else if (error.kind === 'auth') this.markAuthFailed(error);
        else if (error.kind === 'permanent' && error.status === 404) {
          this.current.agentId = null;
          this.wakeup.notify();
        } else if (error.kind === 'permanent') {
          this.log('warn', `the server refused a heartbeat: ${error.message}`);
        }
        // Transient heartbeat failures are covered by the send loop's own retries.
      }
    }
  }

  /** The heartbeat the agent would send now. */
  heartbeatBody(): HeartbeatRequest {
    const outbox = this.outbox.stats();
    return {
      ...this.deps.health(),
      outboxDepth: outbox.pendingResults,
      outboxBytes: outbox.bytes,
      shedCount: outbox.shedResults + outbox.shedFrames,
    };
  }
}
