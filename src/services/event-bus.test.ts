import { describe, expect, it } from 'vitest';
import { InProcessEventBus, type SystemEvent } from './event-bus.js';

const system: SystemEvent = { type: 'system', at: 1, level: 'info', message: 'hello' };
const drift: SystemEvent = {
  type: 'drift',
  at: 2,
  camera: 'cam',
  level: 'red',
  previousLevel: 'green',
  status: 'drift',
  driftShare: 0.5,
  driftedFeatures: ['brightness'],
  reportId: 'r1',
  reason: 'night',
};

describe('InProcessEventBus', () => {
  it('delivers every event to a plain subscriber, and only its types to a typed one', () => {
    const bus = new InProcessEventBus();
    const all: string[] = [];
    const driftOnly: string[] = [];
    bus.subscribe((event) => all.push(event.type));
    bus.subscribe((event) => driftOnly.push(event.type), ['drift']);
    bus.publish(system);
    bus.publish(drift);
    expect(all).toEqual(['system', 'drift']);
    expect(driftOnly).toEqual(['drift']);
  });

  it('knows per type whether anyone listens, through subscribe and unsubscribe', () => {
    const bus = new InProcessEventBus();
    expect(bus.hasListeners('frame')).toBe(false);
    const stopModel = bus.subscribe(() => undefined, ['model']);
    const stopModelToo = bus.subscribe(() => undefined, ['model', 'drift']);
    expect(bus.hasListeners('frame')).toBe(false);
    expect(bus.hasListeners('model')).toBe(true);
    stopModel();
    stopModel(); // a second call changes nothing
    expect(bus.hasListeners('model')).toBe(true);
    stopModelToo();
    expect(bus.hasListeners('model')).toBe(false);
    expect(bus.hasListeners('drift')).toBe(false);
    const stopAll = bus.subscribe(() => undefined);
    expect(bus.hasListeners('frame')).toBe(true);
    expect(bus.listenerCount).toBe(1);
    stopAll();
    expect(bus.hasListeners('frame')).toBe(false);
    expect(bus.listenerCount).toBe(0);
  });

  it('keeps delivering to the others when a subscriber throws', () => {
    const bus = new InProcessEventBus();
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error('closed stream');
    });
    bus.subscribe((event) => seen.push(event.type));
    bus.publish(system);
    expect(seen).toEqual(['system']);
  });
});
