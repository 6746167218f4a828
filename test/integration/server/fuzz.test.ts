/**
 * Seeded fuzzing from the OpenAPI document, on each dialect: a few thousand generated
 * requests (valid-looking and mutated params, queries and bodies, with various credentials)
 * and not one 5xx. A failure prints the seed and the request, so it can be replayed.
 *
 * Then every route the app registered (its route catalogue, not the OpenAPI document, so a
 * route missing from the docs is reached too) gets no body and a body of every content type:
 * every answer is below 500, every 4xx is `{"error":{"code","message"}}` with a catalogue code
 * of that status, and what was stored before is still stored after.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../../src/shared/api/common.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../src/shared/errors.js';
import { databaseTargets } from '../../helpers/database.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import { frameResults, openTestServer, seededRandom, testJpeg } from './fixtures.js';
import type { TestServer } from './fixtures.js';
import { SchemaFuzzer, fuzzOperations } from './schema-fuzzer.js';
import type { OpenApiDocument } from './schema-fuzzer.js';

/** Bodies of every kind a client might send, each with the content type it claims. */
const BODIES: { contentType: string | null; payload: string | Buffer | null }[] = [
  { contentType: null, payload: null },
  { contentType: null, payload: '{"results": []}' },
  { contentType: 'application/json', payload: null },
  { contentType: 'application/json', payload: '' },
  { contentType: 'application/json', payload: 'null' },
  { contentType: 'application/json', payload: '"a string"' },
  { contentType: 'application/json', payload: '[1, 2]' },
  { contentType: 'application/json', payload: '{"results": [' },
  { contentType: 'application/json; charset=latin1', payload: '{}' },
  { contentType: 'text/plain', payload: null },
  { contentType: 'text/plain', payload: 'hello' },
  { contentType: 'text/plain', payload: '{"results": []}' },
  { contentType: 'application/octet-stream', payload: Buffer.from([0, 1, 2, 255]) },
  { contentType: 'application/octet-stream', payload: null },
  {
    contentType: 'multipart/form-data; boundary=x',
    payload: '--x\r\ncontent-disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
  },
  { contentType: 'multipart/form-data', payload: 'garbage' },
  { contentType: 'application/x-www-form-urlencoded', payload: 'a=1&b=2' },
  { contentType: 'application/xml', payload: '<a/>' },
  { contentType: 'image/jpeg', payload: Buffer.from([0xff, 0xd8, 0xff, 0x00]) },
  { contentType: 'image/jpeg', payload: null },
  { contentType: 'image/png', payload: Buffer.from([0x89, 0x50, 0x4e, 0x47]) },
  { contentType: 'text/event-stream', payload: 'data: x\n\n' },
  { contentType: 'nonsense', payload: 'x' },
  { contentType: '', payload: 'x' },
];

const SEED = Number(process.env.VISIONLOOP_FUZZ_SEED ?? 20_260_101);
const REQUESTS = Number(process.env.VISIONLOOP_FUZZ_REQUESTS ?? 2000);

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`fuzzing on ${target.dialect}`, () => {
    let server: TestServer;
    let dashboardDir: string;

    beforeAll(async () => {
      // A dashboard build of one page, so `/*` answers as in a deployment whether or not
      // this checkout has built web/ (unbuilt, it is a 503 DASHBOARD_NOT_BUILT by design).
      dashboardDir = mkdtempSync(join(tmpdir(), 'visionloop-fuzz-web-'));
      writeFileSync(join(dashboardDir, 'index.html'), '<!doctype html><title>VisionLoop</title>');
      server = await openTestServer(target, {
        bodyLimitBytes: 1024 * 1024,
        frameLimitBytes: 256 * 1024,
        dashboardDir,
      });
      await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: server.auth('agent'),
        payload: { results: frameResults(0, 50) },
      });
      // A production model, so /api/predict and /api/reload reach their handlers.
      await installProductionFixture(server.services.models, 'fuzz-v1');
    });
    afterAll(async () => {
      await server.services.modelServing.close();
      await server.close();
      rmSync(dashboardDir, { recursive: true, force: true });
    });

    it(`answers ${REQUESTS} generated requests without a 5xx (seed ${SEED})`, async () => {
      const document = server.app.swagger() as unknown as OpenApiDocument;
      const operations = fuzzOperations(document);
      expect(operations.length).toBeGreaterThanOrEqual(15);
      const random = seededRandom(SEED);
      const fuzzer = new SchemaFuzzer(document, random);
      const jpegs = [await testJpeg(10), await testJpeg(200)];
      const callers: (Scope | null)[] = ['admin', 'admin', 'admin', 'agent', 'viewer', null];
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      for (let i = 0; i < REQUESTS; i++) {
        const operation = fuzzer.pick(operations);
        const request = fuzzer.request(operation, jpegs);
        const caller = fuzzer.pick(callers);
        const remoteAddress = fuzzer.chance(0.2) ? '198.51.100.9' : '127.0.0.1';
        const headers = {
          ...request.headers,
          ...(caller === null ? {} : server.auth(caller)),
        };
        const response = await server.app.inject({ ...request, headers, remoteAddress });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode >= 500) {
          const body =
            typeof request.payload === 'string'
              ? request.payload.slice(0, 300)
              : `<${request.payload?.length ?? 0} bytes>`;
          failures.push(
            `#${i} ${request.method} ${request.url} (${caller ?? 'no token'}) → ${response.statusCode} ${response.body.slice(0, 200)}; body ${body}`,
          );
        }
      }
      expect(failures, `seed ${SEED}`).toEqual([]);
      // The generator must reach handlers as well as validation: both kinds of answer occur.
      const ok = [...statuses]
        .filter(([status]) => status < 300)
        .reduce((sum, [, n]) => sum + n, 0);
      const refused = [...statuses]
        .filter(([status]) => status >= 400)
        .reduce((sum, [, n]) => sum + n, 0);
      expect(ok).toBeGreaterThan(REQUESTS * 0.1);
      expect(refused).toBeGreaterThan(REQUESTS * 0.3);
      const health = await server.app.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(200);
    });

    it('answers no body and every content type on every registered route with < 500 and a coded 4xx', async () => {
      const storedBefore = await storedIds(server);
      const aliasesBefore = await aliases(server);
      expect(storedBefore.length).toBeGreaterThanOrEqual(50);
      const routes = server.app.routeCatalogue;
      expect(routes.length).toBeGreaterThanOrEqual(30);
      const failures: string[] = [];
      let requests = 0;
      for (const route of routes) {
        // As admin, whom every route lets in, so each request reaches its body's parsing.
        const url = urlOf(route.url, storedBefore[0] ?? 'x');
        for (const { contentType, payload } of BODIES) {
          const headers: Record<string, string> = { ...server.auth('admin') };
          if (contentType !== null) headers['content-type'] = contentType;
          const request: InjectOptions = {
            method: route.method,
            url,
            headers,
            payloadAsStream: true,
            ...(payload === null ? {} : { payload }),
          };
          const response = await server.app.inject(request);
          requests++;
          const label = `${route.method} ${url} content-type ${JSON.stringify(contentType)}, ${payload === null ? 'no body' : `${payload.length}-byte body`} → ${response.statusCode}`;
          const stream = response.stream();
          if (String(response.headers['content-type']).startsWith('text/event-stream')) {
            stream.destroy();
            continue;
          }
          const body = await text(stream);
          const problem = answerProblem(response.statusCode, body);
          if (problem !== null) failures.push(`${label}: ${problem}: ${body.slice(0, 200)}`);
        }
      }
      expect(failures).toEqual([]);
      expect(requests).toBe(routes.length * BODIES.length);
      // Nothing stored before was lost (bodies here may add, never take away).
      const storedAfter = new Set(await storedIds(server));
      expect(storedBefore.filter((id) => !storedAfter.has(id))).toEqual([]);
      expect(await aliases(server)).toEqual(aliasesBefore);
    }, 180_000);
  });
}

/** The stored result ids, in order. */
async function storedIds(server: TestServer): Promise<string[]> {
  const rows = await server.database.db
    .selectFrom('prediction_logs')
    .select('id')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Each model alias and the version it points at. */
async function aliases(server: TestServer): Promise<unknown[]> {
  return server.database.db.selectFrom('model_aliases').selectAll().orderBy('alias').execute();
}

/** A route's URL with its parameters filled in with a stored result's id. */
function urlOf(pattern: string, storedId: string): string {
  return pattern.replace(/:[A-Za-z]+/g, storedId).replace(/\*$/, 'index.html');
}

/** Why an answer breaks the rules (null when it keeps them). */
function answerProblem(status: number, body: string): string | null {
  if (status >= 500) return 'a 5xx';
  if (status < 400) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'a 4xx whose body is not JSON';
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
    return 'a 4xx without {error:{code,message}}';
  }
  if (!(error.code in ERROR_CATALOGUE)) return `unknown code ${error.code}`;
  const expected = ERROR_CATALOGUE[error.code as ErrorCode];
  if (expected !== status) return `code ${error.code} is a ${expected}, answered ${status}`;
  return null;
}
