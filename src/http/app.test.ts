import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { classifyError, enforceAccessDeclarations } from './app.js';

describe('classifyError', () => {
  it('keeps catalogue codes and their statuses', () => {
    expect(classifyError(new VisionLoopError('IMAGE_INVALID', 'bad jpeg'))).toEqual({
      status: 422,
      code: 'IMAGE_INVALID',
      message: 'bad jpeg',
    });
    expect(classifyError(new VisionLoopError('FORBIDDEN', 'no')).status).toBe(403);
  });

  it("maps Fastify's 4xx errors to catalogue codes", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      statusCode: 413,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    });
    expect(classifyError(tooLarge)).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const media = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415 });
    expect(classifyError(media)).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    const badJson = Object.assign(new SyntaxError('Unexpected token'), { statusCode: 400 });
    expect(classifyError(badJson)).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('not valid JSON') as string,
    });
  });

  it('hides the details of anything else behind a 500', () => {
    const classified = classifyError(new Error('secret detail'));
    expect(classified).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(classified.message).not.toContain('secret');
    expect(classifyError(Object.assign(new Error('x'), { statusCode: 503 })).status).toBe(500);
  });
});

describe('enforceAccessDeclarations', () => {
  it('refuses to start with a route that declares no access', async () => {
    const app = Fastify();
    enforceAccessDeclarations(app);
    app.get('/open', () => 'oops');
    void app.register((instance) => {
      instance.get('/hidden', () => 'oops');
      return Promise.resolve();
    });
    const failure = await app.ready().then(
      () => '',
      (error: unknown) => (error instanceof Error ? error.message : ''),
    );
    expect(failure).toMatch(/without config\.access/);
    expect(failure).toContain('GET /open');
    expect(failure).toContain('GET /hidden');
  });

  it('catalogues declared routes and makes the docs public', async () => {
    const app = Fastify();
    const catalogue = enforceAccessDeclarations(app);
    app.get('/api/x', { config: { access: { scopes: ['viewer'] } } }, () => 'x');
    app.get('/docs/json', () => '{}');
    await app.ready();
    expect(catalogue).toEqual([
      { method: 'GET', url: '/api/x', access: { scopes: ['viewer'] } },
      { method: 'GET', url: '/docs/json', access: { public: true } },
    ]);
    await app.close();
  });
});
