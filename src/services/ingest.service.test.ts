import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../shared/domain.js';
import { InProcessEventBus } from './event-bus.js';
import type { SystemEvent } from './event-bus.js';
import { IngestService } from './ingest.service.js';

/** A result whose end-to-end latency is the char code of its id's first letter. */
function result(id: string, camera = 'cam'): FrameResult {
  return {
    id,
    camera,
    frameIndex: 0,
    capturedAt: 1,
    width: 1,
    height: 1,
    detections: [],
    uncertain: false,
    decision: 'PASS',
    features: {
      brightness: 0,
      contrast: 0,
      sharpness: 0,
      saturation: 0,
      noise: 0,
      colorCast: 0,
      edgeDensity: 0,
    },
    latencies: {
      queueMs: 0,
      preprocessMs: 0,
      inferenceMs: 1,
      postprocessMs: 0,
      totalMs: id.charCodeAt(0),
    },
    modelVersion: 'v',
    inferred: true,
  };
}

/** A repository that has already stored `existing` and records what it was asked to insert. */
function fakeRepository(existing: string[]) {
  const stored = new Set(existing);
  const calls: { ids: string[]; agentId: string | null; receivedAt: number }[] = [];
  const repository = {
    insertResults(results: readonly FrameResult[], agentId: string | null, receivedAt: number) {
      const ids = results.map((r) => r.id);
      calls.push({ ids, agentId, receivedAt });
      const inserted = new Set<string>();
      for (const id of ids) {
        if (!stored.has(id)) {
          stored.add(id);
          inserted.add(id);
        }
      }
      return Promise.resolve(inserted);
    },
  };
  return { repository, calls };
}

describe('IngestService', () => {
  it('counts accepted and duplicate results and publishes only the new ones', async () => {
    const { repository, calls } = fakeRepository(['a']);
    const bus = new InProcessEventBus();
    const events: SystemEvent[] = [];
    bus.subscribe((event) => events.push(event));
    const observed: unknown[] = [];
    const service = new IngestService(repository, bus, {
      now: () => 777,
      observers: [
        (stored) => observed.push(stored.map((c) => [c.camera, c.results, [...c.totalMs]])),
      ],
    });
    const ack = await service.ingest({
      agentId: 'agt-1',
      results: [result('a'), result('b'), result('c', 'cam-2'), result('b')],
    });
    expect(ack).toEqual({ accepted: 2, duplicates: 2, committedAt: 777 });
    // The repeated 'b' never reaches the database.
    expect(calls).toEqual([{ ids: ['a', 'b', 'c'], agentId: 'agt-1', receivedAt: 777 }]);
    expect(events.map((e) => (e.type === 'frame' ? [e.result.id, e.agentId] : e.type))).toEqual([
      ['b', 'agt-1'],
      ['c', 'agt-1'],
    ]);
    // Latencies of the new results only ('b' = 98, 'c' = 99), per camera.
    expect(observed).toEqual([
      [
        ['cam', 1, [98]],
        ['cam-2', 1, [99]],
      ],
    ]);
  });

  it('publishes each newly stored result itself, and observes every camera it stored', async () => {
    const { repository, calls } = fakeRepository(['a']);
    const bus = new InProcessEventBus();
    const events: SystemEvent[] = [];
    bus.subscribe((event) => events.push(event));
    const observed: unknown[] = [];
    const service = new IngestService(repository, bus, {
      now: () => 5,
      observers: [(stored) => observed.push(stored.map((c) => [c.camera, [...c.totalMs]]))],
    });
    const batch = { results: [result('a'), result('b'), result('b'), result('c')] };
    expect(await service.ingest(batch)).toEqual({ accepted: 2, duplicates: 2, committedAt: 5 });
    expect(calls.map((c) => c.ids)).toEqual([['a', 'b', 'c']]);
    expect(events.map((e) => (e.type === 'frame' ? e.result : e.type))).toEqual([
      result('b'),
      result('c'),
    ]);
    expect(observed).toEqual([[['cam', [98, 99]]]]);
  });

  it('tells no observer about a batch that stored nothing, and survives a failing one', async () => {
    const { repository } = fakeRepository(['a']);
    const errors: unknown[] = [];
    const calls: number[] = [];
    const service = new IngestService(repository, new InProcessEventBus(), {
      onObserverError: (error) => errors.push(error),
    });
    service.onIngested(() => {
      throw new Error('metrics broke');
    });
    const remove = service.onIngested((stored) => calls.push(stored.length));
    expect((await service.ingest({ results: [result('a')] })).accepted).toBe(0);
    expect(calls).toEqual([]);
    expect((await service.ingest({ results: [result('z')] })).accepted).toBe(1);
    expect(calls).toEqual([1]);
    expect(errors).toHaveLength(1);
    remove();
    await service.ingest({ results: [result('y')] });
    expect(calls).toEqual([1]);
  });
});
