import { describe, expect, it } from 'vitest';
import { makeFrameResults } from '../../bench/ingest-rows.js';
import { encodePostgresRows } from '../repositories/prediction-rows.js';
import type { FrameResult } from '../shared/domain.js';
import {
  prepareIngestBatch,
  preparedResults,
  summarizeLatencies,
  withoutRepeatedIds,
} from './ingest-batch.js';

const results = makeFrameResults(40, { seed: 3, cameras: ['line-1', 'line-2'] });

describe('prepareIngestBatch', () => {
  it('keeps the distinct results themselves for a repository that takes results', () => {
    const batch = { agentId: 'agt-1', results: [...results, results[0] as FrameResult] };
    const prepared = prepareIngestBatch(batch, 'results');
    expect(prepared).toMatchObject({ agentId: 'agt-1', received: 41, distinct: 40, body: null });
    expect(prepared.rows).toEqual({ format: 'results', results });
    expect(prepared.results).toBe(prepared.rows.format === 'results' && prepared.rows.results);
  });

  it('encodes PostgreSQL rows and keeps the body instead of the results when given one', () => {
    const batch = { results };
    const body = new TextEncoder().encode(JSON.stringify(batch));
    const prepared = prepareIngestBatch(batch, 'postgres', body);
    expect(prepared).toMatchObject({ agentId: null, received: 40, distinct: 40, results: null });
    expect(prepared.body).toBe(body);
    expect(prepared.rows).toEqual(encodePostgresRows(results));
    expect(preparedResults(prepared)).toEqual(results);
    // Without a body the results stay (an in-process caller).
    expect(prepareIngestBatch(batch, 'postgres').results).toBe(results);
  });

  it('parses repeated ids out of a kept body too', () => {
    const batch = { results: [results[1], results[2], results[1]] as FrameResult[] };
    const body = new TextEncoder().encode(JSON.stringify(batch));
    const prepared = prepareIngestBatch(batch, 'postgres', body);
    expect(prepared.distinct).toBe(2);
    expect(preparedResults(prepared).map((r) => r.id)).toEqual([results[1]?.id, results[2]?.id]);
  });
});

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
