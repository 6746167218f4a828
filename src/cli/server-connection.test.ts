import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VisionLoopError } from '../shared/errors.js';
import {
  callServer,
  connect,
  explicitToken,
  fetchServerBytes,
  isErrorCode,
  requestServer,
  type Connection,
} from './server-connection.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-connection-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'vl_from_file\n');

describe('explicitToken', () => {
  it('takes --token, then --token-file (trimmed), then $VISIONLOOP_TOKEN', () => {
    const env = { VISIONLOOP_TOKEN: 'vl_from_env' };
    expect(explicitToken({ token: 'vl_flag', tokenFile }, env)).toBe('vl_flag');
    expect(explicitToken({ tokenFile }, env)).toBe('vl_from_file');
    expect(explicitToken({}, env)).toBe('vl_from_env');
  });

  it('is null when none is given; an empty variable counts as unset', () => {
    expect(explicitToken({}, {})).toBeNull();
    expect(explicitToken({}, { VISIONLOOP_TOKEN: '' })).toBeNull();
  });

  it('names a token file it cannot read', () => {
    const missing = join(dir, 'missing');
    expect(() => explicitToken({ tokenFile: missing }, {})).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: `cannot read --token-file ${missing}`,
      }) as Error,
    );
  });
});

describe('connect', () => {
  it('uses --server without its trailing slash, else the environment, else the default', () => {
    const env = { VISIONLOOP_TOKEN: 't' };
    expect(connect({ server: 'http://h:1/' }, { env }).base).toBe('http://h:1');
    expect(connect({}, { env: { ...env, VISIONLOOP_SERVER_URL: 'http://e:2' } }).base).toBe(
      'http://e:2',
    );
    expect(connect({}, { env }).base).toBe('http://127.0.0.1:8080');
    expect(connect({}, { env }).token).toBe('t');
  });
});

describe('isErrorCode', () => {
  it('knows the catalogue and nothing else', () => {
    expect(isErrorCode('VALIDATION_FAILED')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('NOPE')).toBe(false);
  });
});

interface Sent {
  url: string;
  method: string | undefined;
  headers: Record<string, string>;
  body: unknown;
}

/** A connection whose fetch records each request and answers `answer`. */
function connection(answer: () => Response | Promise<Response>, token: string | null = 'vl_t') {
  const sent: Sent[] = [];
  const fetchStub: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => {
      headers[key] = value;
    });
    sent.push({
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: init?.method,
      headers,
      body: init?.body,
    });
    return answer();
  };
  const value: Connection = { base: 'http://vl.test:8080', token, fetch: fetchStub };
  return { connection: value, sent };
}

const pageSchema = z.object({ items: z.array(z.string()), total: z.number() });

describe('callServer', () => {
  it('sends the token and a JSON body, and returns the parsed answer', async () => {
    const { connection: c, sent } = connection(() => Response.json({ items: ['a'], total: 1 }));
    const page = await callServer(c, 'POST', '/api/x?limit=2', pageSchema, {
      json: { reason: 'night' },
    });
    expect(page).toEqual({ items: ['a'], total: 1 });
    expect(sent).toEqual([
      {
        url: 'http://vl.test:8080/api/x?limit=2',
        method: 'POST',
        headers: { authorization: 'Bearer vl_t', 'content-type': 'application/json' },
        body: '{"reason":"night"}',
      },
    ]);
  });

  it('sends raw bytes with their type, and no credential without a token', async () => {
    const { connection: c, sent } = connection(() => Response.json({ items: [], total: 0 }), null);
    const bytes = new Uint8Array([1, 2, 3]);
    await callServer(c, 'PUT', '/api/blob', pageSchema, {
      data: bytes,
      type: 'application/octet-stream',
    });
    expect(sent[0]?.headers).toEqual({ 'content-type': 'application/octet-stream' });
    expect(sent[0]?.body).toBe(bytes);
  });

  it("throws an error answer as the catalogue's error, message and all", async () => {
    const { connection: c } = connection(() =>
      Response.json({ error: { code: 'NOT_FOUND', message: 'no item lq-1' } }, { status: 404 }),
    );
    const error = await callServer(c, 'GET', '/api/x', pageSchema).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VisionLoopError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: 'no item lq-1', httpStatus: 404 });
  });

  it('names the HTTP status when the error body is not ours', async () => {
    for (const body of ['<html>bad gateway</html>', '{"error":{"code":"TEAPOT","message":"x"}}']) {
      const { connection: c } = connection(() => new Response(body, { status: 502 }));
      await expect(callServer(c, 'GET', '/api/x', pageSchema)).rejects.toMatchObject({
        code: 'INTERNAL',
        message: 'the server answered HTTP 502',
      });
    }
  });

  it('names the server it cannot reach, and the URL whose answer does not fit', async () => {
    const down = connection(() => Promise.reject(new TypeError('fetch failed')));
    await expect(callServer(down.connection, 'GET', '/api/x', pageSchema)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'cannot reach the server at http://vl.test:8080',
    });
    const other = connection(() => Response.json({ items: 'nope' }));
    await expect(callServer(other.connection, 'GET', '/api/x', pageSchema)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'unexpected answer from http://vl.test:8080/api/x',
    });
  });
});

describe('requestServer and fetchServerBytes', () => {
  it('returns a binary answer byte for byte', async () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0xff, 0xd9]);
    const { connection: c, sent } = connection(
      () => new Response(jpeg, { headers: { 'content-type': 'image/jpeg' } }),
    );
    const bytes = await fetchServerBytes(c, '/api/frames/res-1');
    expect([...bytes]).toEqual([...jpeg]);
    expect(sent[0]).toMatchObject({ url: 'http://vl.test:8080/api/frames/res-1', method: 'GET' });
  });

  it('hands a 2xx answer back unread and throws an error answer', async () => {
    const ok = connection(() => new Response('streamed', { status: 200 }));
    expect(await (await requestServer(ok.connection, 'GET', '/a')).text()).toBe('streamed');
    const forbidden = connection(() =>
      Response.json({ error: { code: 'FORBIDDEN', message: 'admins only' } }, { status: 403 }),
    );
    await expect(fetchServerBytes(forbidden.connection, '/a')).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: 'admins only',
    });
  });
});
