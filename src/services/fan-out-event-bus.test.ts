import { describe, expect, it } from 'vitest';
import type { SystemEvent } from './event-bus.js';
import { FanOutEventBus, type EventChannel } from './fan-out-event-bus.js';

/** An in-memory channel shared by several buses: what one sends, every listener receives. */
function memoryNetwork() {
  const listeners: ((payload: string) => void)[] = [];
  const sent: string[] = [];
  const channel = (): EventChannel => ({
    send(payload) {
      sent.push(payload);
      for (const listener of listeners) listener(payload);
      return Promise.resolve();
    },
    listen(onMessage) {
      listeners.push(onMessage);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
  return { channel, sent };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function system(message: string): SystemEvent {
  return { type: 'system', at: 1, level: 'info', message };
}

describe('FanOutEventBus', () => {
  it('delivers locally at once and to the other processes, never back to itself', async () => {
    const network = memoryNetwork();
    const a = new FanOutEventBus(network.channel(), { payloadLimitBytes: 7900 });
    const b = new FanOutEventBus(network.channel(), { payloadLimitBytes: 7900 });
    await a.listen();
    await b.listen();
    const onA: SystemEvent[] = [];
    const onB: SystemEvent[] = [];
    a.subscribe((event) => onA.push(event));
    b.subscribe((event) => onB.push(event));
    a.publish(system('one'));
    a.publish(system('two'));
    expect(onA).toHaveLength(2);
    expect(onB).toHaveLength(0);
    await a.close();
    // Two events of one tick travel in one message.
    expect(network.sent).toHaveLength(1);
    expect(onA).toHaveLength(2);
    expect(onB).toEqual([system('one'), system('two')]);
  });

  it('splits a tick into messages under the payload limit and drops an oversized event', async () => {
    const network = memoryNetwork();
    const errors: unknown[] = [];
    const a = new FanOutEventBus(network.channel(), {
      payloadLimitBytes: 400,
      onError: (error) => errors.push(error),
    });
    for (let i = 0; i < 10; i++) a.publish(system(`message ${i} ${'x'.repeat(60)}`));
    a.publish(system('y'.repeat(500)));
    await tick();
    await a.close();
    expect(network.sent.length).toBeGreaterThan(1);
    for (const payload of network.sent) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(400);
    const relayed = network.sent.flatMap((payload) => (JSON.parse(payload) as { e: unknown[] }).e);
    expect(relayed).toHaveLength(10);
    expect(a.counters).toMatchObject({ sentEvents: 10, dropped: 1 });
    expect(String(errors[0])).toContain('exceeds the fan-out message limit');
  });

  it('hands remote events of a handled type to the handler instead of the listeners', async () => {
    const network = memoryNetwork();
    const handled: SystemEvent[] = [];
    const a = new FanOutEventBus(network.channel(), { payloadLimitBytes: 7900 });
    const b = new FanOutEventBus(network.channel(), {
      payloadLimitBytes: 7900,
      remoteHandlers: { model: (event) => handled.push(event) },
    });
    await b.listen();
    const onB: SystemEvent[] = [];
    b.subscribe((event) => onB.push(event));
    const move: SystemEvent = {
      type: 'model',
      at: 2,
      action: 'alias-moved',
      alias: 'production',
      fromVersion: 'v1',
      toVersion: 'v2',
      sha256: 'a'.repeat(64),
      actor: 'admin',
      reason: null,
    };
    a.publish(move);
    a.publish(system('swap'));
    await a.close();
    expect(handled).toEqual([move]);
    expect(onB).toEqual([system('swap')]);
  });

  it('keeps frame events local when frame fan-out is off', async () => {
    const network = memoryNetwork();
    const a = new FanOutEventBus(network.channel(), {
      payloadLimitBytes: 7900,
      fanOutFrames: false,
    });
    expect(a.hasListeners('frame')).toBe(false);
    const on = new FanOutEventBus(network.channel(), { payloadLimitBytes: 7900 });
    // With fan-out on, frames are materialized for the other replicas' listeners.
    expect(on.hasListeners('frame')).toBe(true);
    expect(on.hasListeners('drift')).toBe(false);
    a.publish({
      type: 'frame',
      at: 1,
      agentId: null,
      result: {} as never,
    });
    await a.close();
    expect(network.sent).toHaveLength(0);
  });
});
