/**
 * `GET /api/events`: server-sent events from the in-process event bus (frame results as they
 * are ingested, agents, system events), one long-lived response per client. The contract and
 * the wire format are in src/shared/api/events.ts.
 *
 * A dashboard must never be able to hurt the server, so each connection:
 * - gets frame events thinned per camera by a token bucket (`maxFps` per second, bursts up to
 *   `maxFps`), since one ingest batch publishes hundreds of frames at once;
 * - is never buffered without bound: while more than `maxBufferedBytes` wait to be sent (the
 *   client reads too slowly), new events are dropped and counted, and once the buffer drains
 *   the client gets one `system` event with `dropped: n`; a client that reads nothing for
 *   `stallTimeoutMs` (60 s) while congested is disconnected;
 * - unsubscribes from the bus as soon as the client goes away, and is ended when the server
 *   closes (an open stream would otherwise keep `close()` waiting forever).
 *
 * Auth: readers only. Browsers' EventSource cannot send an Authorization header, so the route
 * declares `tokenInQuery` and the auth plugin also accepts `?access_token=` (the query schema
 * lists it, so validation lets it through).
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api/common.js';
import {
  EVENTS_HEARTBEAT_SECONDS,
  EVENT_TYPES,
  eventsQuerySchema,
  type EventType,
  type EventsQuery,
  type SystemNotice,
} from '../../shared/api/events.js';
import type { EventBus, SystemEvent } from '../../services/event-bus.js';
import type {} from '../auth.plugin.js';
import { READERS } from '../route-access.js';

/** Bytes a connection may have waiting before its events are dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;
/** A connection that has read nothing for this long while congested is closed, ms. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export interface EventsRoutesOptions {
  services: { events: Pick<EventBus, 'subscribe'> };
  /** Milliseconds between heartbeat comments. Default 15 s. */
  heartbeatMs?: number;
  /** Bytes a slow client may have waiting before events are dropped. Default 256 KiB. */
  maxBufferedBytes?: number;
  /** Close a connection congested for this long (a client that stopped reading), ms. 60 s. */
  stallTimeoutMs?: number;
  /** The clock for throttling, epoch ms (tests pin it). */
  now?: () => number;
}

interface StreamSettings {
  heartbeatMs: number;
  maxBufferedBytes: number;
  stallTimeoutMs: number;
  now: () => number;
  encode: (event: SystemEvent) => string;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** One client's stream: filtering, throttling, backpressure, heartbeat and clean-up. */
class LiveEventStream {
  private sequence = 0;
  private dropped = 0;
  private closed = false;
  /** performance.now() when the buffer last went over budget; null while it is not. */
  private congestedSince: number | null = null;
  private readonly types: ReadonlySet<EventType>;
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly response: ServerResponse,
    private readonly query: EventsQuery,
    private readonly settings: StreamSettings,
    bus: Pick<EventBus, 'subscribe'>,
    private readonly onClosed: (stream: LiveEventStream) => void,
  ) {
    this.types = new Set(query.types ?? EVENT_TYPES);
    this.capacity = Math.max(1, query.maxFps);
    response.on('close', () => this.close());
    response.on('error', () => this.close());
    response.on('drain', () => this.reportDrops());
    this.heartbeat = setInterval(() => this.beat(), settings.heartbeatMs);
    // Reconnect after 3 s; the comment makes proxies pass the headers on at once.
    response.write('retry: 3000\n: connected\n\n');
    this.unsubscribe = bus.subscribe((event) => this.offer(event), [...this.types]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.heartbeat);
    if (!this.response.writableEnded) this.response.end();
    this.onClosed(this);
  }

  /** Heartbeat comment; also where a client that stopped reading is given up on. */
  private beat(): void {
    if (!this.congested()) {
      this.response.write(': heartbeat\n\n');
      return;
    }
    const since = this.congestedSince ?? performance.now();
    this.congestedSince = since;
    // A peer that vanished without closing (power cut, cable) would otherwise hold the socket
    // and its buffer until TCP gives up, many minutes later.
    if (performance.now() - since >= this.settings.stallTimeoutMs) this.response.destroy();
  }

  private offer(event: SystemEvent): void {
    if (this.closed || !this.wants(event)) return;
    if (event.type === 'frame' && !this.takeToken(event.result.camera)) return;
    if (this.congested()) {
      this.congestedSince ??= performance.now();
      this.dropped++;
      return;
    }
    this.send(event.type, this.settings.encode(event));
  }

  private wants(event: SystemEvent): boolean {
    if (!this.types.has(event.type)) return false;
    const camera = this.query.camera;
    if (camera === undefined) return true;
    switch (event.type) {
      case 'frame':
        return event.result.camera === camera;
      case 'agent':
      case 'labeling':
      case 'drift':
        return event.camera === camera;
      case 'chain':
        return event.camera === null || event.camera === camera;
      case 'system':
      case 'model':
      case 'rollout':
        return true;
    }
  }

  /** Token bucket per camera: `maxFps` tokens per second, at most `maxFps` banked. */
  private takeToken(camera: string): boolean {
    const now = this.settings.now();
    const rate = this.query.maxFps;
    let bucket = this.buckets.get(camera);
    if (bucket === undefined) {
      bucket = { tokens: this.capacity, at: now };
      this.buckets.set(camera, bucket);
    } else {
      const elapsed = Math.max(0, now - bucket.at) / 1000;
      bucket.tokens = Math.min(this.capacity, bucket.tokens + elapsed * rate);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private congested(): boolean {
    return this.response.writableLength > this.settings.maxBufferedBytes;
  }

  private reportDrops(): void {
    if (this.congested()) return;
    this.congestedSince = null;
    if (this.closed || this.dropped === 0) return;
    const notice: SystemNotice = {
      type: 'system',
      at: Date.now(),
      level: 'warning',
      message: `${this.dropped} events dropped: the client read too slowly`,
      dropped: this.dropped,
    };
    this.dropped = 0;
    this.send('system', JSON.stringify(notice));
  }

  private send(type: EventType, data: string): void {
    this.sequence++;
    this.response.write(`id: ${this.sequence}\nevent: ${type}\ndata: ${data}\n\n`);
  }
}

export const eventsRoutes: FastifyPluginAsyncZod<EventsRoutesOptions> = (app, options) => {
  const bus = options.services.events;
  const streams = new Set<LiveEventStream>();
  // Every connection sends the same event; serialize it once.
  const encoded = new WeakMap<SystemEvent, string>();
  const settings: StreamSettings = {
    heartbeatMs: options.heartbeatMs ?? EVENTS_HEARTBEAT_SECONDS * 1000,
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    stallTimeoutMs: options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    now: options.now ?? Date.now,
    encode(event) {
      let text = encoded.get(event);
      if (text === undefined) {
        text = JSON.stringify(event);
        encoded.set(event, text);
      }
      return text;
    },
  };

  app.addHook('preClose', (done) => {
    for (const stream of [...streams]) stream.close();
    done();
  });

  app.get(
    '/api/events',
    {
      // EventSource cannot send headers: the auth plugin also reads `?access_token=` here.
      config: { access: { scopes: READERS }, tokenInQuery: true },
      schema: {
        tags: ['events'],
        summary: 'Live frame results, agent and system events (server-sent events)',
        querystring: eventsQuerySchema,
        response: {
          200: {
            description:
              'text/event-stream: `event: <type>` and `data: <JSON LiveEvent>` per event',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          400: errorBodySchema,
        },
      },
    },
    (request, reply) => {
      reply.hijack();
      const headers: OutgoingHttpHeaders = {};
      // Keep what earlier hooks set (request id, CORS) on the hijacked response.
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) headers[name] = value;
      }
      headers['content-type'] = 'text/event-stream; charset=utf-8';
      headers['cache-control'] = 'no-cache, no-transform';
      headers['connection'] = 'keep-alive';
      // nginx would otherwise buffer the stream.
      headers['x-accel-buffering'] = 'no';
      reply.raw.writeHead(200, headers);
      const stream = new LiveEventStream(reply.raw, request.query, settings, bus, (closed) =>
        streams.delete(closed),
      );
      streams.add(stream);
      // The client may have gone before we subscribed; 'close' would never fire again.
      const socket = reply.raw.socket;
      if (socket === null || socket.destroyed) stream.close();
    },
  );
  return Promise.resolve();
};
