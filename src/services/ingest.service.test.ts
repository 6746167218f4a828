import { describe, expect, it } from 'vitest';
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { FrameResult } from '../shared/domain.js';
import { InProcessEventBus } from './event-bus.js';
import type { SystemEvent } from './event-bus.js';
import { IngestService, withoutRepeatedIds } from './ingest.service.js';

function result(id: string): FrameResult {
  return {
    id,
    camera: 'cam',
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
    latencies: { queueMs: 0, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, totalMs: 0 },
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
      calls.push({ ids: results.map((r) => r.id), agentId, receivedAt });
      const inserted = new Set<string>();
      for (const r of results) {
        if (!stored.has(r.id)) {
          stored.add(r.id);
          inserted.add(r.id);
        }
      }
      return Promise.resolve(inserted);
    },
  };
  return { repository: repository as unknown as PredictionRepository, calls };
}

describe('IngestService', () => {
  it('counts accepted and duplicate results and publishes only the new ones', async () => {
    const { repository, calls } = fakeRepository(['a']);
    const bus = new InProcessEventBus();
    const events: SystemEvent[] = [];
    bus.subscribe((event) => events.push(event));
    const observed: string[][] = [];
    const service = new IngestService(repository, bus, {
      now: () => 777,
      observers: [(stored) => observed.push(stored.map((r) => r.id))],
    });
    const ack = await service.ingest({
      agentId: 'agt-1',
      results: [result('a'), result('b'), result('c'), result('b')],
    });
    expect(ack).toEqual({ accepted: 2, duplicates: 2, committedAt: 777 });
    // The repeated 'b' never reaches the database.
    expect(calls).toEqual([{ ids: ['a', 'b', 'c'], agentId: 'agt-1', receivedAt: 777 }]);
    expect(events.map((e) => (e.type === 'frame' ? [e.result.id, e.agentId] : e.type))).toEqual([
      ['b', 'agt-1'],
      ['c', 'agt-1'],
    ]);
    expect(observed).toEqual([['b', 'c']]);
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

describe('withoutRepeatedIds', () => {
  it('keeps the first occurrence of each id, in order, and the same array when none repeat', () => {
    const unique = [result('a'), result('b')];
    expect(withoutRepeatedIds(unique)).toBe(unique);
    const repeated = [result('a'), result('b'), result('a'), result('c'), result('b')];
    expect(withoutRepeatedIds(repeated).map((r) => r.id)).toEqual(['a', 'b', 'c']);
  });
});
