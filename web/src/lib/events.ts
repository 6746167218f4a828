/**
 * The dashboard's one live channel: an EventSource on `/api/events` (the token goes as
 * `?access_token=`, since EventSource cannot send headers). Events are parsed with the shared
 * schema, queued, and handed to subscribers in one batch per animation frame — a page renders
 * once per frame however many events arrived, never once per event.
 *
 * The connection state is observable (`connecting`, `open`, `reconnecting`, `closed`): the
 * layout shows it. When the stream drops, the browser's own retry is used; when the server
 * closes it for good (EventSource gives up on a non-200 answer, e.g. a revoked token), the hub
 * reconnects itself with backoff (1 s doubling to 15 s) and asks `onGiveUp` to check the
 * session first, so a revoked token returns the user to sign-in instead of retrying forever.
 */
import type { EventType, LiveEvent } from '../../../src/shared/api/events.js';
import { EVENT_TYPES, liveEventSchema } from '../../../src/shared/api/events.js';
import type { BootEvents } from '../app/boot.js';
import { DASHBOARD_EVENTS_MAX_FPS } from '../app/boot.js';
import { PARSE_OPTIONS } from './api.js';

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type EventBatchHandler = (events: readonly LiveEvent[]) => void;

interface Subscriber {
  types: ReadonlySet<EventType> | null;
  handler: EventBatchHandler;
}

/** Frame events per second per camera the dashboard asks for (the server thins to this). */
export { DASHBOARD_EVENTS_MAX_FPS } from '../app/boot.js';

/** How old a kept frame event may be to be replayed to a new subscriber (ms). */
export const RECENT_FRAMES_MS = 5000;
/** How many frame events the hub keeps for new subscribers. */
export const RECENT_FRAMES_KEPT = 24;

/**
 * Runs `fn` at the next animation frame, or after 500 ms in a hidden tab, where
 * requestAnimationFrame does not run.
 */
function nextPaint(fn: () => void): void {
  if (document.visibilityState === 'hidden') setTimeout(fn, 500);
  else requestAnimationFrame(fn);
}

export class EventsHub {
  private source: EventSource | null = null;
  private token: string | null = null;
  private state: ConnectionState = 'idle';
  private readonly stateListeners = new Set<() => void>();
  private readonly subscribers = new Set<Subscriber>();
  private queue: LiveEvent[] = [];
  /** The latest frame events and when they arrived (performance.now()), oldest first. */
  private recentFrames: { at: number; event: LiveEvent }[] = [];
  private flushScheduled = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryDelayMs = 1000;
  /** Events received since connecting (for tests and the status tooltip). */
  received = 0;
  /** Events the server dropped for this client (system notices with `dropped`). */
  dropped = 0;
  /** Called before reconnecting after the server refused the stream; may sign the user out. */
  onGiveUp: (() => Promise<void>) | null = null;

  /** Opens the stream with `token` (closes any previous one; keeps one open with `token`). */
  start(token: string): void {
    if (this.token === token && this.source !== null) return;
    this.stop();
    this.token = token;
    this.open();
  }

  /** Closes the stream; subscribers stay (they get events again after `start`). */
  stop(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.source?.close();
    this.source = null;
    this.token = null;
    this.queue = [];
    this.recentFrames = [];
    this.setState('idle');
  }

  getState = (): ConnectionState => this.state;

  onStateChange = (listener: () => void): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  /**
   * `handler` gets batches of events of `types` (all when null); returns the unsubscribe. A
   * new subscriber to `frame` first gets the frame events of the last RECENT_FRAMES_MS (at
   * most RECENT_FRAMES_KEPT), in one batch at the next paint (nextPaint): a page opened while
   * the line runs shows its latest frames at once, including those that came while its code
   * was loading (index.html's stream keeps them, app/boot.ts), not after the next one.
   */
  subscribe(types: readonly EventType[] | null, handler: EventBatchHandler): () => void {
    const subscriber: Subscriber = { types: types === null ? null : new Set(types), handler };
    this.subscribers.add(subscriber);
    if (subscriber.types === null || subscriber.types.has('frame')) {
      const since = performance.now() - RECENT_FRAMES_MS;
      // Not those still queued: the next flush brings them.
      const replay = this.recentFrames
        .filter((kept) => kept.at >= since && !this.queue.includes(kept.event))
        .map((kept) => kept.event);
      if (replay.length > 0) {
        nextPaint(() => {
          if (this.subscribers.has(subscriber)) subscriber.handler(replay);
        });
      }
    }
    return () => this.subscribers.delete(subscriber);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener();
  }

  /**
   * The stream index.html opened for `token` before the app loaded (app/boot.ts), taken once;
   * null when there is none, it was for another token, or the server already closed it.
   */
  private adoptEarly(token: string): BootEvents | null {
    const early = globalThis.window?.__visionloopEvents;
    if (early === undefined) return null;
    delete window.__visionloopEvents;
    if (early.token === token && early.source.readyState !== EventSource.CLOSED) return early;
    early.stopBuffering();
    early.source.close();
    return null;
  }

  private open(): void {
    if (this.token === null) return;
    const params = new URLSearchParams({
      access_token: this.token,
      maxFps: String(DASHBOARD_EVENTS_MAX_FPS),
    });
    const early = this.adoptEarly(this.token);
    const source = early?.source ?? new EventSource(`/api/events?${params.toString()}`);
    this.source = source;
    if (source.readyState === EventSource.OPEN) this.setState('open');
    else this.setState(this.state === 'idle' ? 'connecting' : 'reconnecting');
    source.onopen = () => {
      this.retryDelayMs = 1000;
      this.setState('open');
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.setState('reconnecting');
        return;
      }
      // CLOSED: the browser will not retry (non-200 answer); check the session, then retry.
      source.close();
      this.source = null;
      this.setState('reconnecting');
      this.scheduleReconnect();
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message: MessageEvent<string>) => this.receive(message));
    }
    // What the early stream received before now, oldest first (all in this one task: no
    // message can arrive between the replay and the listeners above).
    if (early !== null) {
      early.stopBuffering();
      for (const message of early.buffered.splice(0)) this.receive(message);
    }
  }

  private scheduleReconnect(): void {
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 15_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const check = this.onGiveUp?.() ?? Promise.resolve();
      check.then(
        () => this.open(),
        () => this.open(),
      );
    }, delay);
  }

  private receive(message: MessageEvent<string>): void {
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    const parsed = liveEventSchema.safeParse(data, PARSE_OPTIONS);
    if (!parsed.success) return;
    this.received += 1;
    if (parsed.data.type === 'system' && parsed.data.dropped !== undefined) {
      this.dropped += parsed.data.dropped;
    }
    this.queue.push(parsed.data);
    if (parsed.data.type === 'frame') {
      this.recentFrames.push({ at: performance.now(), event: parsed.data });
      if (this.recentFrames.length > RECENT_FRAMES_KEPT) this.recentFrames.shift();
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    nextPaint(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    for (const subscriber of this.subscribers) {
      const types = subscriber.types;
      const mine = types === null ? batch : batch.filter((event) => types.has(event.type));
      if (mine.length > 0) subscriber.handler(mine);
    }
  }
}

/** The dashboard's hub; the auth state starts and stops it. */
export const events = new EventsHub();
