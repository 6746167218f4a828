/**
 * Seeded fuzzing from the OpenAPI document, on each dialect: a few thousand generated
 * requests (valid-looking and mutated params, queries and bodies, with various credentials)
 * and not one 5xx. A failure prints the seed and the request, so it can be replayed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../../src/shared/api/common.js';
import { databaseTargets } from '../../helpers/database.js';
import { installProductionFixture } from '../../helpers/registry-fixtures.js';
import { frameResults, openTestServer, seededRandom, testJpeg } from './fixtures.js';
import type { TestServer } from './fixtures.js';
import { SchemaFuzzer, fuzzOperations } from './schema-fuzzer.js';
import type { OpenApiDocument } from './schema-fuzzer.js';

const SEED = Number(process.env.VISIONLOOP_FUZZ_SEED ?? 20_260_101);
const REQUESTS = Number(process.env.VISIONLOOP_FUZZ_REQUESTS ?? 2000);

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`fuzzing on ${target.dialect}`, () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await openTestServer(target, {
        bodyLimitBytes: 1024 * 1024,
        frameLimitBytes: 256 * 1024,
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
  });
}
