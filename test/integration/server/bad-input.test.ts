/**
 * Bad input, on each dialect: malformed JSON, wrong types, unknown fields, oversized bodies,
 * files that are not (whole) JPEGs, a decompression bomb, path-like ids. Each gets a 4xx with a
 * catalogue code; the server keeps serving and nothing already stored changes.
 */
import type { InjectOptions } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INGEST_BATCH } from '../../../src/shared/api/ingest.js';
import type { ErrorCode } from '../../../src/shared/errors.js';
import { databaseTargets } from '../../helpers/database.js';
import { frameResult, frameResults, openTestServer, testJpeg } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const BODY_LIMIT = 512 * 1024;
const FRAME_LIMIT = 64 * 1024;

/** A small valid JPEG whose frame header claims `width`×`height` pixels. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(
    await sharp({
      create: { width: 16, height: 16, channels: 3, background: { r: 1, g: 2, b: 3 } },
    })
      .jpeg()
      .toBuffer(),
  );
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

interface Case {
  name: string;
  request: InjectOptions;
  status: number;
  code: ErrorCode;
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`bad input on ${target.dialect}`, () => {
    let server: TestServer;
    let storedBefore: unknown;
    const stored = frameResults(0, 20);

    beforeAll(async () => {
      server = await openTestServer(target, {
        bodyLimitBytes: BODY_LIMIT,
        frameLimitBytes: FRAME_LIMIT,
      });
      const ingest = await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results: stored },
      });
      expect(ingest.json()).toMatchObject({ accepted: 20 });
      const frame = await server.app.inject({
        method: 'PUT',
        url: `/api/frames/${stored[0]?.id ?? ''}`,
        headers: { ...server.auth('agent'), 'content-type': 'image/jpeg' },
        payload: await testJpeg(),
      });
      expect(frame.statusCode).toBe(200);
      storedBefore = await snapshot();
    });
    afterAll(() => server.close());

    async function snapshot(): Promise<unknown> {
      const logs = await server.database.db
        .selectFrom('prediction_logs')
        .selectAll()
        .orderBy('id')
        .execute();
      const classes = await server.database.db
        .selectFrom('prediction_classes')
        .selectAll()
        .orderBy('prediction_id')
        .orderBy('class_name')
        .execute();
      return { logs, classes };
    }

    function json(url: string, payload: string, method: 'POST' | 'PUT' = 'POST'): InjectOptions {
      return {
        method,
        url,
        headers: { ...server.auth('admin'), 'content-type': 'application/json' },
        payload,
      };
    }
    function ingest(body: unknown): InjectOptions {
      return json('/api/ingest', JSON.stringify(body));
    }
    function frame(
      id: string,
      payload: Buffer | string,
      contentType = 'image/jpeg',
    ): InjectOptions {
      return {
        method: 'PUT',
        url: `/api/frames/${id}`,
        headers: { ...server.auth('admin'), 'content-type': contentType },
        payload,
      };
    }

    it('answers every bad request with a 4xx and a catalogue code', async () => {
      const valid = frameResult(100);
      const id = stored[1]?.id ?? '';
      const jpeg = await testJpeg();
      const big = await sharp({
        create: {
          width: 600,
          height: 600,
          channels: 3,
          background: { r: 0, g: 0, b: 0 },
          noise: { type: 'gaussian', mean: 128, sigma: 60 },
        },
      })
        .jpeg({ quality: 100 })
        .toBuffer();
      expect(big.length).toBeGreaterThan(FRAME_LIMIT);
      const cases: Case[] = [
        {
          name: 'malformed JSON',
          request: json('/api/ingest', '{"results": [}'),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'empty JSON body',
          request: json('/api/ingest', ''),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'JSON null',
          request: json('/api/ingest', 'null'),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'ingest without a body or a content type',
          request: { method: 'POST', url: '/api/ingest', headers: server.auth('admin') },
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'ingest batch sent as text/plain',
          request: {
            method: 'POST',
            url: '/api/ingest',
            headers: { ...server.auth('admin'), 'content-type': 'text/plain' },
            payload: JSON.stringify({ results: [valid] }),
          },
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'ingest batch sent as application/octet-stream',
          request: {
            method: 'POST',
            url: '/api/ingest',
            headers: { ...server.auth('admin'), 'content-type': 'application/octet-stream' },
            payload: Buffer.from(JSON.stringify({ results: [valid] })),
          },
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'prototype pollution',
          request: json(
            '/api/ingest',
            `{"results":[${JSON.stringify(valid)}],"__proto__":{"admin":true}}`,
          ),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'results not an array',
          request: ingest({ results: 'many' }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'empty batch',
          request: ingest({ results: [] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'wrong field type',
          request: ingest({ results: [{ ...valid, capturedAt: 'yesterday' }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'huge number',
          request: json(
            '/api/ingest',
            JSON.stringify({ results: [valid] }).replace('"frameIndex":100', '"frameIndex":1e400'),
          ),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'confidence above 1',
          request: ingest({
            results: [{ ...valid, detections: [{ ...valid.detections[0], confidence: 1.5 }] }],
          }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'unknown top-level field',
          request: ingest({ results: [valid], extra: 1 }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'unknown result field',
          request: ingest({ results: [{ ...valid, sneaky: true }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'unknown nested field',
          request: ingest({ results: [{ ...valid, features: { ...valid.features, gamma: 1 } }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'NUL in a class name (PostgreSQL text cannot hold it)',
          request: ingest({
            results: [
              { ...valid, detections: [{ ...valid.detections[0], className: 'cr\u0000ack' }] },
            ],
          }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'unpaired surrogate in a model version',
          request: ingest({ results: [{ ...valid, modelVersion: 'v\ud800' }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'NUL in an agent host name',
          request: json(
            '/api/agents/register',
            JSON.stringify({ camera: 'cam-x', version: '1', hostname: 'h\u0000' }),
          ),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'path-like result id',
          request: ingest({ results: [{ ...valid, id: '../../etc/passwd' }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'id too long',
          request: ingest({ results: [{ ...valid, id: 'a'.repeat(129) }] }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'too many results',
          request: ingest({
            results: frameResults(1000, MAX_INGEST_BATCH + 1).map((r) => ({
              ...r,
              detections: [],
            })),
          }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'a valid batch and a bad result: nothing stored',
          request: ingest({
            results: [frameResult(200), { ...frameResult(201), decision: 'MAYBE' }],
          }),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'body over the limit',
          request: json(
            '/api/ingest',
            JSON.stringify({ results: [valid], pad: 'x'.repeat(BODY_LIMIT) }),
          ),
          status: 413,
          code: 'PAYLOAD_TOO_LARGE',
        },
        {
          name: 'unsupported content type',
          request: {
            method: 'POST',
            url: '/api/ingest',
            headers: { ...server.auth('admin'), 'content-type': 'application/xml' },
            payload: '<results/>',
          },
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'frame: not an image',
          request: frame(id, Buffer.from('hello, I am text')),
          status: 422,
          code: 'IMAGE_INVALID',
        },
        {
          name: 'frame: truncated JPEG',
          request: frame(id, jpeg.subarray(0, Math.floor(jpeg.length / 2))),
          status: 422,
          code: 'IMAGE_INVALID',
        },
        {
          name: 'frame: a PNG sent as JPEG',
          request: frame(
            id,
            await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
              .png()
              .toBuffer(),
          ),
          status: 422,
          code: 'IMAGE_INVALID',
        },
        {
          name: 'frame: 20000×20000 bomb',
          request: frame(id, await jpegClaiming(20_000, 20_000)),
          status: 422,
          code: 'IMAGE_INVALID',
        },
        {
          name: 'frame: empty body',
          request: frame(id, Buffer.alloc(0)),
          status: 422,
          code: 'IMAGE_INVALID',
        },
        {
          name: 'frame: JSON instead of JPEG',
          request: frame(id, '{"a":1}', 'application/json'),
          status: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'frame: over the frame limit',
          request: frame(id, big),
          status: 413,
          code: 'PAYLOAD_TOO_LARGE',
        },
        {
          name: 'frame id with ../',
          request: frame('..%2F..%2Fetc%2Fpasswd', jpeg),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'frame id a/b',
          request: frame('a%2Fb', jpeg),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        // URL parsing turns a whole %2e%2e segment into '..' and resolves it: no such route.
        { name: 'frame id %2e%2e', request: frame('%2e%2e', jpeg), status: 404, code: 'NOT_FOUND' },
        {
          name: 'frame id x%2e%2e%2fy',
          request: frame('x%2e%2e%2fy', jpeg),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'frame id .hidden',
          request: frame('.hidden', jpeg),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'raw ../ in the path',
          request: {
            method: 'GET',
            url: '/api/frames/../../etc/passwd',
            headers: server.auth('admin'),
          },
          status: 404,
          code: 'NOT_FOUND',
        },
        {
          name: 'bad percent-encoding',
          request: { method: 'GET', url: '/api/frames/%E0%A4%A', headers: server.auth('admin') },
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'path-like agent id',
          request: json('/api/agents/..%2F..%2Fx/heartbeat', '{}'),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'path-like token id',
          request: {
            method: 'DELETE',
            url: '/api/tokens/%2e%2e%2fadmin',
            headers: server.auth('admin'),
          },
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'camera with a slash',
          request: json('/api/agents/register', JSON.stringify({ camera: 'a/b', version: '1' })),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'settings out of range',
          request: json('/api/settings/agent', JSON.stringify({ jpegQuality: 5 }), 'PUT'),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'token with an unknown scope',
          request: json('/api/tokens', JSON.stringify({ name: 'x', scope: 'root' })),
          status: 400,
          code: 'VALIDATION_FAILED',
        },
        {
          name: 'unknown route',
          request: { method: 'GET', url: '/api/nothing-here', headers: server.auth('admin') },
          status: 404,
          code: 'NOT_FOUND',
        },
      ];
      const failures: string[] = [];
      for (const testCase of cases) {
        const response = await server.app.inject(testCase.request);
        let code = '';
        try {
          code = response.json<{ error: { code: string } }>().error.code;
        } catch {
          code = `(not an error body: ${response.body.slice(0, 80)})`;
        }
        if (response.statusCode !== testCase.status || code !== testCase.code) {
          failures.push(`${testCase.name}: got ${response.statusCode} ${code}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it('keeps serving, with everything stored before intact', async () => {
      const health = await server.app.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(200);
      expect(await snapshot()).toEqual(storedBefore);
      const frame = await server.app.inject({
        method: 'GET',
        url: `/api/frames/${stored[0]?.id ?? ''}`,
        headers: server.auth('viewer'),
      });
      expect(frame.rawPayload.equals(await testJpeg())).toBe(true);
    });
  });
}
