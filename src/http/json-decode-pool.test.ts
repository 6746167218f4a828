import { afterAll, describe, expect, it } from 'vitest';
import { makeFrameResults } from '../../bench/ingest-rows.js';
import { ingestBatchRequestSchema } from '../shared/api/ingest.js';
import { JsonDecodePool } from './json-decode-pool.js';
import { describeIssues } from './validation-message.js';

const pool = new JsonDecodePool(1);
afterAll(() => pool.close());

const results = makeFrameResults(50, { seed: 7 });

describe('JsonDecodePool', () => {
  it('parses and validates in the worker, giving what the schema gives on this thread', async () => {
    const body = Buffer.from(JSON.stringify({ agentId: 'agt-1', results }));
    const decoded = await pool.decode('ingest-batch', body);
    expect(decoded).toEqual(ingestBatchRequestSchema.parse({ agentId: 'agt-1', results }));
  });

  it('answers concurrent bodies each with its own value', async () => {
    const bodies = [3, 1, 2].map((n) =>
      Buffer.from(JSON.stringify({ results: results.slice(0, n) })),
    );
    const decoded = await Promise.all(bodies.map((body) => pool.decode('ingest-batch', body)));
    expect(decoded.map((d) => d.results.length)).toEqual([3, 1, 2]);
  });

  it('answers with the contract value only: repeats and all, nothing encoded for a table', async () => {
    const batch = { agentId: 'agt-1', results: [...results.slice(0, 5), results[0]] };
    const decoded = await pool.decode('ingest-batch', Buffer.from(JSON.stringify(batch)));
    expect(decoded).toEqual(batch);
    await expect(pool.decode('ingest-batch', Buffer.from('{"results": []}'))).rejects.toMatchObject(
      { code: 'VALIDATION_FAILED' },
    );
  });

  it('names a body that is not JSON', async () => {
    await expect(pool.decode('ingest-batch', Buffer.from('{"results": ['))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/^the body is not valid JSON: /) as unknown,
    });
    await expect(pool.decode('ingest-batch', Buffer.alloc(0))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('names the first problems of an invalid body and counts the rest', async () => {
    const bad = results.slice(0, 7).map((r) => ({ ...r, frameIndex: -1 }));
    const error = await pool
      .decode('ingest-batch', Buffer.from(JSON.stringify({ results: bad, extra: 1 })))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    const message = (error as Error).message;
    expect(message).toContain('body.results.0.frameIndex: ');
    expect(message).toContain('(and 3 more)');
    expect(message.split('; ')).toHaveLength(5);
  });

  it('copies a body that is a slice of a shared buffer instead of detaching it', async () => {
    const shared = Buffer.from(`xx${JSON.stringify({ results: results.slice(0, 1) })}yy`);
    const slice = shared.subarray(2, shared.length - 2);
    await expect(pool.decode('ingest-batch', slice)).resolves.toMatchObject({
      results: [{ id: results[0]?.id }],
    });
    expect(shared.toString('utf8', 0, 2)).toBe('xx');
    expect(slice.length).toBeGreaterThan(0);
  });

  it('refuses work once closed', async () => {
    const closed = new JsonDecodePool(1);
    await closed.close();
    await expect(closed.decode('ingest-batch', Buffer.from('{}'))).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });
});

describe('describeIssues', () => {
  it('joins path and message under the context, at most five, with the count of the rest', () => {
    const issues = Array.from({ length: 7 }, (_, i) => ({ path: `a.${i}`, message: `m${i}` }));
    expect(describeIssues('body', issues.slice(0, 2))).toBe('body.a.0: m0; body.a.1: m1');
    expect(describeIssues('body', [{ path: '', message: 'bad' }])).toBe('body: bad');
    expect(describeIssues('body', issues.slice(0, 5), 7)).toBe(
      'body.a.0: m0; body.a.1: m1; body.a.2: m2; body.a.3: m3; body.a.4: m4 (and 2 more)',
    );
  });
});
