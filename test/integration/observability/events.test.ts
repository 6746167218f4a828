/**
 * `/api/events` over a real HTTP server on 127.0.0.1: a client (fetch, or node:http for the
 * slow reader) reads the stream while the test publishes on the event bus.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeFrameResults } from '../../../bench/ingest-rows.js';
import { InProcessEventBus, type SystemEvent } from '../../../src/services/event-bus.js';
import { LineStatsService } from '../../../src/services/line-stats.service.js';
import { PrometheusExporter } from '../../../src/services/prometheus-exporter.js';
import { liveEventSchema } from '../../../src/shared/api/events.js';
import { buildObservabilityApp, type ObservabilityApp } from './observability-app.js';
import { SseReader } from './sse-client.js';

const VIEWER = { authorization: 'Bearer viewer' };
const emptyRepository = {
  newest: () => Promise.resolve([]),
  countByCamera: () => Promise.resolve([]),
};

function frameEvent(camera: string, index: number): SystemEvent {
  const [result] = makeFrameResults(1, { seed: index, cameras: [camera], idPrefix: `e${index}` });
  if (!result) throw new Error('no result');
  return { type: 'frame', at: 1000 + index, agentId: 'agent-1', result };
}

function systemEvent(message: string): SystemEvent {
  return { type: 'system', at: 5, level: 'info', message };
}

async function startApp(
  bus: InProcessEventBus,
  options: Parameters<typeof buildObservabilityApp>[1] = {},
): Promise<{ built: ObservabilityApp; base: string }> {
  const built = await buildObservabilityApp(
    {
      lineStats: new LineStatsService(emptyRepository),
      prometheus: new PrometheusExporter({ defaultMetrics: false }),
      events: bus,
    },
    options,
  );
  const address = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { built, base: address };
}

/** Opens a stream and waits until it is subscribed (the `connected` comment arrived). */
async function connect(base: string, query = ''): Promise<SseReader> {
  const reader = await SseReader.open(`${base}/api/events${query}`, VIEWER);
  expect(reader.response.status).toBe(200);
  const first = await reader.next();
  expect(first?.comments).toContain('connected');
  return reader;
}

/** A stream read through node:http (no spare connections, explicit pause/resume). */
async function openRaw(base: string, query: string): Promise<IncomingMessage> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = httpRequest(
      new URL(`${base}/api/events${query}`),
      { headers: VIEWER },
      resolve,
    );
    request.on('error', reject);
    request.end();
  });
  expect(response.statusCode).toBe(200);
  response.setEncoding('utf8');
  return response;
}

describe('GET /api/events', () => {
  const bus = new InProcessEventBus();
  let clock = 1_000_000;
  let base = '';
  let built: ObservabilityApp;

  beforeAll(async () => {
    ({ built, base } = await startApp(bus, { events: { now: () => clock, heartbeatMs: 100 } }));
  });

  afterAll(async () => {
    await built.app.close();
  });

  it('streams a published frame result as an SSE message', async () => {
    const reader = await connect(base);
    expect(reader.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(reader.response.headers.get('cache-control')).toBe('no-cache, no-transform');
    const event = frameEvent('line-1', 1);
    bus.publish(event);
    bus.publish(systemEvent('hello'));

    const first = await reader.nextEvent();
    expect(first?.id).toBe('1');
    expect(first?.event).toBe('frame');
    expect(liveEventSchema.parse(JSON.parse(first?.data ?? ''))).toEqual(event);
    const second = await reader.nextEvent();
    expect(second?.id).toBe('2');
    expect(JSON.parse(second?.data ?? '')).toEqual(systemEvent('hello'));
    reader.close();
  });

  it('sends heartbeat comments', async () => {
    const reader = await connect(base);
    let message = await reader.next();
    while (message !== null && !message.comments.includes('heartbeat')) {
      message = await reader.next();
    }
    expect(message?.comments).toEqual(['heartbeat']);
    reader.close();
  });

  it('filters by event type and camera; system events pass the camera filter', async () => {
    const framesOfA = await connect(base, '?types=frame&camera=a');
    const allOfA = await connect(base, '?camera=a');
    const agentsOnly = await connect(base, '?types=agent,system');

    bus.publish({ type: 'agent', at: 1, action: 'online', agentId: 'agent-b', camera: 'b' });
    bus.publish(frameEvent('b', 2));
    bus.publish(systemEvent('drift'));
    bus.publish({ type: 'agent', at: 2, action: 'online', agentId: 'agent-a', camera: 'a' });
    bus.publish(frameEvent('a', 3));

    const onlyFrame = await framesOfA.nextEvent();
    expect([onlyFrame?.id, onlyFrame?.event]).toEqual(['1', 'frame']);
    expect(JSON.parse(onlyFrame?.data ?? '')).toMatchObject({ result: { camera: 'a' } });

    const received: string[] = [];
    for (let i = 0; i < 3; i++) {
      const message = await allOfA.nextEvent();
      const data = JSON.parse(message?.data ?? '') as { type: string; camera?: string };
      received.push(`${message?.event}:${data.camera ?? ''}`);
    }
    expect(received).toEqual(['system:', 'agent:a', 'frame:']);

    const agents: string[] = [];
    for (let i = 0; i < 3; i++) agents.push((await agentsOnly.nextEvent())?.event ?? '');
    expect(agents).toEqual(['agent', 'system', 'agent']);

    for (const reader of [framesOfA, allOfA, agentsOnly]) reader.close();
  });

  it('thins frame events to maxFps per camera', async () => {
    const reader = await connect(base, '?types=frame,system&maxFps=5');
    const countUntilSentinel = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (;;) {
        const message = await reader.nextEvent();
        if (message === null) throw new Error('stream ended');
        if (message.event === 'system') return counts;
        const camera = (JSON.parse(message.data ?? '') as { result: { camera: string } }).result
          .camera;
        counts[camera] = (counts[camera] ?? 0) + 1;
      }
    };

    for (let i = 0; i < 20; i++) bus.publish(frameEvent('a', i));
    for (let i = 0; i < 20; i++) bus.publish(frameEvent('b', i));
    bus.publish(systemEvent('sentinel'));
    // A burst gets the bucket's capacity: 5 per camera.
    expect(await countUntilSentinel()).toEqual({ a: 5, b: 5 });

    clock += 400; // 2 new tokens per camera
    for (let i = 0; i < 20; i++) bus.publish(frameEvent('a', i));
    bus.publish(systemEvent('sentinel'));
    expect(await countUntilSentinel()).toEqual({ a: 2 });

    clock += 10_000; // the bucket refills only up to its capacity
    for (let i = 0; i < 20; i++) bus.publish(frameEvent('b', i));
    bus.publish(systemEvent('sentinel'));
    expect(await countUntilSentinel()).toEqual({ b: 5 });
    reader.close();
  });

  it('unsubscribes when the client disconnects', async () => {
    await vi.waitFor(() => expect(bus.listenerCount).toBe(0));
    const first = await connect(base);
    const second = await connect(base);
    expect(bus.listenerCount).toBe(2);
    first.close();
    await vi.waitFor(() => expect(bus.listenerCount).toBe(1));
    // Publishing to the remaining client still works after the other left.
    bus.publish(systemEvent('still here'));
    expect(JSON.parse((await second.nextEvent())?.data ?? '')).toMatchObject({
      message: 'still here',
    });
    second.close();
    await vi.waitFor(() => expect(bus.listenerCount).toBe(0));
  });

  it('needs a reader token and a valid query', async () => {
    const anonymous = await fetch(`${base}/api/events`);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
    const agent = await fetch(`${base}/api/events`, { headers: { authorization: 'Bearer agent' } });
    expect(agent.status).toBe(403);
    await agent.body?.cancel();
    for (const query of ['types=frame,nope', 'types=', 'maxFps=0', 'maxFps=101', 'camera=a/b']) {
      const response = await fetch(`${base}/api/events?${query}`, { headers: VIEWER });
      expect(response.status, query).toBe(400);
      await response.body?.cancel();
    }
    expect(bus.listenerCount).toBe(0);
  });

  it('accepts the token as ?access_token= for EventSource clients', async () => {
    const reader = await SseReader.open(`${base}/api/events?access_token=viewer`);
    expect(reader.response.status).toBe(200);
    expect((await reader.next())?.comments).toContain('connected');
    reader.close();
    await vi.waitFor(() => expect(bus.listenerCount).toBe(0));
  });
});

describe('GET /api/events with a slow client', () => {
  it('drops events instead of buffering them, then reports how many', async () => {
    const bus = new InProcessEventBus();
    const { built, base } = await startApp(bus, { events: { maxBufferedBytes: 64 * 1024 } });
    try {
      const response = await openRaw(base, '?types=system');
      let text = '';
      const connected = new Promise<void>((resolve) => {
        response.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(': connected')) resolve();
        });
      });
      await connected;
      response.pause();

      // 3000 events of ~8 KB (24 MB): far more than the socket buffers and the 64 KiB budget.
      const total = 3000;
      const padding = 'x'.repeat(8000);
      for (let i = 0; i < total; i++) bus.publish(systemEvent(`burst ${i} ${padding}`));

      let delivered = 0;
      let dropped = 0;
      let notices = 0;
      let parsedUpTo = 0;
      const accounted = new Promise<void>((resolve) => {
        const scan = (): void => {
          for (;;) {
            const end = text.indexOf('\n\n', parsedUpTo);
            if (end < 0) break;
            const block = text.slice(parsedUpTo, end);
            parsedUpTo = end + 2;
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (data === undefined) continue;
            const event = JSON.parse(data) as { message: string; dropped?: number };
            if (event.dropped !== undefined) {
              notices++;
              dropped += event.dropped;
            } else if (event.message.startsWith('burst ')) {
              delivered++;
            }
          }
          if (delivered + dropped === total) resolve();
        };
        response.on('data', scan);
      });
      response.resume();
      await accounted;

      expect(dropped).toBeGreaterThan(0);
      expect(delivered).toBeGreaterThan(0);
      expect(notices).toBeGreaterThanOrEqual(1);
      response.destroy();
      await vi.waitFor(() => expect(bus.listenerCount).toBe(0));
    } finally {
      await built.app.close();
    }
  });
});

describe('GET /api/events with a client that stopped reading', () => {
  it('disconnects it once it has been congested for the stall timeout', async () => {
    const bus = new InProcessEventBus();
    const { built, base } = await startApp(bus, {
      events: { maxBufferedBytes: 16 * 1024, heartbeatMs: 20, stallTimeoutMs: 200 },
    });
    try {
      const response = await openRaw(base, '?types=system');
      const closed = new Promise<void>((resolve) => response.on('close', resolve));
      await vi.waitFor(() => expect(bus.listenerCount).toBe(1));
      response.pause();
      // Keep publishing across event-loop turns until the kernel's socket buffers are full and
      // the server's own buffer stays over budget; then the stall timer runs out.
      const padding = 'y'.repeat(8000);
      for (let i = 0; i < 20_000 && bus.listenerCount > 0; i++) {
        bus.publish(systemEvent(`stuck ${i} ${padding}`));
        if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await vi.waitFor(() => expect(bus.listenerCount).toBe(0), { timeout: 10_000 });
      response.destroy();
      await closed;
    } finally {
      await built.app.close();
    }
  });
});

describe('closing the server', () => {
  it('ends open streams so close() does not hang', async () => {
    const bus = new InProcessEventBus();
    // Without forceCloseConnections: only the plugin's preClose hook can end the stream.
    const { built, base } = await startApp(bus, { forceCloseConnections: false });
    const response = await openRaw(base, '');
    let text = '';
    response.on('data', (chunk: string) => (text += chunk));
    const ended = new Promise<void>((resolve) => response.on('end', resolve));
    await vi.waitFor(() => expect(bus.listenerCount).toBe(1));
    await built.app.close();
    expect(bus.listenerCount).toBe(0);
    await ended;
    expect(text).toContain(': connected');
  });
});
