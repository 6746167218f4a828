/**
 * The event bus of server replicas: local delivery as InProcessEventBus, plus every event sent
 * to the other processes on the same database through a notify channel (PostgreSQL
 * LISTEN/NOTIFY, src/repositories/pg-notify-channel.ts), so an SSE client or agent connected
 * to replica B sees what happened on replica A (or in a worker: drift levels, training).
 *
 * - Events published in one tick go out together, packed into as few messages as the channel's
 *   payload limit allows; each message names the process it came from, which ignores its own.
 * - An event type listed in `remoteHandlers` is not delivered as received: its handler runs
 *   instead (the server re-reads model aliases from the database, so an alias move is announced
 *   once, with the receiving replica's serving state, and the periodic sync finds nothing new).
 * - Delivery across processes is best-effort, like SSE itself: a message sent while a
 *   listener reconnects is not seen (alias moves are still found by the periodic sync).
 *
 * It never throws from publish(): transport failures go to `onError`.
 */
import { randomBytes } from 'node:crypto';
import {
  InProcessEventBus,
  type EventBus,
  type EventListener,
  type SystemEvent,
  type SystemEventType,
} from './event-bus.js';

/** The transport (PgNotifyChannel implements it). */
export interface EventChannel {
  send(payload: string): Promise<void>;
  listen(onMessage: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

export interface FanOutEventBusOptions {
  /** Largest message, bytes (PostgreSQL: under 8000). */
  payloadLimitBytes: number;
  /** Event types handled instead of delivered when they come from another process. */
  remoteHandlers?: Partial<Record<SystemEventType, (event: SystemEvent) => void>>;
  /**
   * Whether `frame` events go to other processes (one per ingested result: the heaviest
   * traffic). Default true.
   */
  fanOutFrames?: boolean;
  onError?: (error: unknown) => void;
}

interface Message {
  /** The sending process. */
  o: string;
  e: SystemEvent[];
}

export class FanOutEventBus implements EventBus {
  private readonly local = new InProcessEventBus();
  readonly origin = randomBytes(8).toString('hex');
  private pending: SystemEvent[] = [];
  private flushing = false;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly fanOutFrames: boolean;
  /** Messages and events sent and received (tests, diagnostics). */
  readonly counters = { sentMessages: 0, sentEvents: 0, receivedEvents: 0, dropped: 0 };

  constructor(
    private readonly channel: EventChannel,
    private readonly options: FanOutEventBusOptions,
  ) {
    this.fanOutFrames = options.fanOutFrames ?? true;
  }

  /** Starts receiving the other processes' events. */
  async listen(): Promise<void> {
    await this.channel.listen((payload) => this.receive(payload));
  }

  publish(event: SystemEvent): void {
    this.local.publish(event);
    if (this.closed || (event.type === 'frame' && !this.fanOutFrames)) return;
    this.pending.push(event);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  subscribe(listener: EventListener, types?: readonly SystemEventType[]): () => void {
    return this.local.subscribe(listener, types);
  }

  get listenerCount(): number {
    return this.local.listenerCount;
  }

  /**
   * Frame results are materialized for other replicas' listeners too (this process cannot
   * see them), unless frame fan-out is off.
   */
  hasListeners(type: SystemEventType): boolean {
    return (type === 'frame' && this.fanOutFrames) || this.local.hasListeners(type);
  }

  /** Sends what is pending, then stops sending and receiving. */
  async close(): Promise<void> {
    if (this.pending.length > 0) this.flush();
    this.closed = true;
    await this.sending;
    await this.channel.close();
  }

  private flush(): void {
    this.flushing = false;
    const events = this.pending;
    this.pending = [];
    const messages = this.pack(events);
    for (const message of messages) {
      this.sending = this.sending
        .then(() => this.channel.send(message.text))
        .then(
          () => {
            this.counters.sentMessages++;
            this.counters.sentEvents += message.count;
          },
          (error: unknown) => this.options.onError?.(error),
        );
    }
  }

  /** Packs events into messages under the payload limit, in order. */
  private pack(events: readonly SystemEvent[]): { text: string; count: number }[] {
    const limit = this.options.payloadLimitBytes;
    const head = `{"o":"${this.origin}","e":[`;
    const overhead = Buffer.byteLength(head) + 2;
    const messages: { text: string; count: number }[] = [];
    let parts: string[] = [];
    let bytes = overhead;
    const close = (): void => {
      if (parts.length === 0) return;
      messages.push({ text: `${head}${parts.join(',')}]}`, count: parts.length });
      parts = [];
      bytes = overhead;
    };
    for (const event of events) {
      const json = JSON.stringify(event);
      const size = Buffer.byteLength(json) + 1;
      if (overhead + size > limit) {
        this.counters.dropped++;
        this.options.onError?.(
          new Error(`a ${event.type} event of ${size} bytes exceeds the fan-out message limit`),
        );
        continue;
      }
      if (bytes + size > limit) close();
      parts.push(json);
      bytes += size;
    }
    close();
    return messages;
  }

  private receive(payload: string): void {
    let message: Message;
    try {
      message = JSON.parse(payload) as Message;
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    if (message.o === this.origin || !Array.isArray(message.e)) return;
    for (const event of message.e) {
      this.counters.receivedEvents++;
      const handler = this.options.remoteHandlers?.[event.type];
      if (handler !== undefined) {
        try {
          handler(event);
        } catch (error) {
          this.options.onError?.(error);
        }
      } else {
        this.local.publish(event);
      }
    }
  }
}
