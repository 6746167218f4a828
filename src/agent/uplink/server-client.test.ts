import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFakeUplinkServer,
  type Behavior,
  type FakeUplinkServer,
} from '../../../test/helpers/fake-uplink-server.js';
import { makeResult } from '../../../test/helpers/frame-results.js';
import { isVisionLoopError } from '../../shared/errors.js';
import {
  ServerClient,
  UplinkError,
  classifyStatus,
  normalizeServerUrl,
  type UplinkFailureKind,
} from './server-client.js';

let server: FakeUplinkServer;
let client: ServerClient;

beforeEach(async () => {
  server = await startFakeUplinkServer();
  client = new ServerClient({ baseUrl: server.url, token: 'tok-123', timeoutMs: 2000 });
});

afterEach(async () => {
  await server.close();
});

function batch(...ids: number[]): string {
  return JSON.stringify({ agentId: 'agent-1', results: ids.map((i) => makeResult(i)) });
}

async function failureOf(promise: Promise<unknown>): Promise<UplinkError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UplinkError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('ServerClient', () => {
  it('speaks the contracts: bearer token, JSON in, parsed JSON out', async () => {
    const registration = await client.register({ camera: 'cam-1', version: '0.1.0' });
    expect(registration.agentId).toBe('agent-1');
    expect(registration.settings).toEqual(server.settings);
    const ack = await client.ingestRaw(batch(1, 2));
    expect(ack).toMatchObject({ accepted: 2, duplicates: 0 });
    const again = await client.ingestRaw(batch(2, 3));
    expect(again).toMatchObject({ accepted: 1, duplicates: 1 });
    const jpeg = new Uint8Array([0xff, 0xd8, 9, 8, 7, 0xff, 0xd9]);
    const upload = await client.uploadFrame('r-001', jpeg);
    expect(upload.bytes).toBe(7);
    expect([...(server.frames.get('r-001') ?? [])]).toEqual([...jpeg]);
    expect(server.frameContentTypes).toEqual(['image/jpeg']);
    expect(new Set(server.authorizations)).toEqual(new Set(['Bearer tok-123']));
  });

  const cases: [Behavior, UplinkFailureKind, number, string][] = [
    [{ status: 500, code: 'INTERNAL' }, 'transient', 500, 'INTERNAL'],
    [{ status: 503 }, 'transient', 503, 'STATUS_503'],
    [{ status: 408 }, 'transient', 408, 'STATUS_408'],
    [{ status: 429, code: 'RATE_LIMITED' }, 'transient', 429, 'RATE_LIMITED'],
    [{ status: 401, code: 'UNAUTHORIZED' }, 'auth', 401, 'UNAUTHORIZED'],
    [{ status: 403, code: 'FORBIDDEN' }, 'auth', 403, 'FORBIDDEN'],
    [{ status: 400, code: 'VALIDATION_FAILED' }, 'permanent', 400, 'VALIDATION_FAILED'],
    [{ status: 413, code: 'PAYLOAD_TOO_LARGE' }, 'permanent', 413, 'PAYLOAD_TOO_LARGE'],
    [{ status: 422, body: 'not json' }, 'permanent', 422, 'HTTP_422'],
    ['reset', 'transient', 0, 'NETWORK'],
    ['ack-lost', 'transient', 0, 'NETWORK'],
    [{ status: 200, body: '{"accepted":"two"}' }, 'transient', 200, 'BAD_RESPONSE'],
  ];
  it.each(cases)('maps %j to %s', async (behavior, kind, status, code) => {
    server.plans.ingest.push(behavior);
    const error = await failureOf(client.ingestRaw(batch(1)));
    expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({
      kind,
      status,
      code,
    });
  });

  it('reads Retry-After in seconds', async () => {
    server.plans.ingest.push({ status: 429, retryAfter: '3' });
    expect((await failureOf(client.ingestRaw(batch(1)))).retryAfterMs).toBe(3000);
  });

  it('gives up on a server that does not answer in time (transient)', async () => {
    const slow = new ServerClient({ baseUrl: server.url, token: 't', timeoutMs: 150 });
    server.plans.ingest.push('hang');
    const error = await failureOf(slow.ingestRaw(batch(1)));
    expect([error.kind, error.code]).toEqual(['transient', 'TIMEOUT']);
  });

  it('reports a refused connection as transient', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const nobody = new ServerClient({ baseUrl: `http://127.0.0.1:${port}`, token: 't' });
    const error = await failureOf(nobody.register({ camera: 'c', version: '1' }));
    expect([error.kind, error.status, error.code]).toEqual(['transient', 0, 'NETWORK']);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('classifies every status class', () => {
    expect([400, 404, 409, 413, 422].map(classifyStatus)).toEqual(Array(5).fill('permanent'));
    expect([408, 429, 500, 502, 503, 504].map(classifyStatus)).toEqual(Array(6).fill('transient'));
    expect([401, 403].map(classifyStatus)).toEqual(['auth', 'auth']);
  });

  it('keeps a path prefix and refuses what is not an http(s) URL', () => {
    expect(normalizeServerUrl('http://h:8080/visionloop')).toBe('http://h:8080/visionloop/');
    expect(normalizeServerUrl('https://h/?x=1')).toBe('https://h/');
    for (const bad of ['ftp://h/', 'h:8080', '']) {
      let caught: unknown;
      try {
        normalizeServerUrl(bad);
      } catch (error) {
        caught = error;
      }
      expect(isVisionLoopError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    }
  });
});
