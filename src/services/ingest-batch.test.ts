import { describe, expect, it } from 'vitest';
import { makeFrameResults } from '../../bench/ingest-rows.js';
import type { FrameResult } from '../shared/domain.js';
import { summarizeLatencies, withoutRepeatedIds } from './ingest-batch.js';

const results = makeFrameResults(40, { seed: 3, cameras: ['line-1', 'line-2'] });

describe('summarizeLatencies', () => {
  it('groups by camera in order of appearance; inference times only of inferred results', () => {
    const summary = summarizeLatencies(results);
    expect(summary.map((c) => [c.camera, c.results])).toEqual([
      ['line-1', 20],
      ['line-2', 20],
    ]);
    const line2 = results.filter((r) => r.camera === 'line-2');
    const second = summary[1];
    expect([...(second?.totalMs ?? [])]).toEqual(line2.map((r) => r.latencies.totalMs));
    expect([...(second?.inferenceMs ?? [])]).toEqual(
      line2.filter((r) => r.inferred).map((r) => r.latencies.inferenceMs),
    );
    // The seeded rows carry some frames forward (no inference), so the two counts differ.
    expect(second?.inferenceMs.length).toBeLessThan(20);
    expect(summarizeLatencies([])).toEqual([]);
  });
});

describe('withoutRepeatedIds', () => {
  it('keeps the first occurrence of each id, in order, and the same array when none repeat', () => {
    const unique = results.slice(0, 2);
    expect(withoutRepeatedIds(unique)).toBe(unique);
    const [a, b, c] = results as [FrameResult, FrameResult, FrameResult];
    expect(withoutRepeatedIds([a, b, a, c, b]).map((r) => r.id)).toEqual([a.id, b.id, c.id]);
  });
});
