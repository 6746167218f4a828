/**
 * The dashboard's settings forms and the server agree: on seeded random edits of every field of
 * every section, a form that finds no problem yields a body the server stores as it is (read
 * back through the API), and a form that finds one would have sent something the server
 * refuses with a 4xx and its code. Plus the scopes: only admins change settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../../src/shared/api/common.js';
import type { ErrorBody } from '../../../src/shared/api/common.js';
import {
  DRIFT_SECTION,
  INSPECTION_SECTION,
  LABELING_SECTION,
  RETRAINING_SECTION,
  SAMPLING_SECTION,
  checkSection,
  fieldsOf,
  formValuesOf,
  getPath,
  type FieldSpec,
  type FormValue,
  type SectionSpec,
} from '../../../web/src/pages/settings/settings-form.js';
import { databaseTargets } from '../../helpers/database.js';
import { openTestServer, seededRandom } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const SECTIONS = [
  INSPECTION_SECTION,
  SAMPLING_SECTION,
  DRIFT_SECTION,
  RETRAINING_SECTION,
  LABELING_SECTION,
] as const;

/** Text a person might type in a number box: in range, out of range, not numbers. */
const NUMBER_TEXTS = [
  '0',
  '1',
  '0.05',
  '0.3',
  '0.4',
  '0.5',
  '0.7',
  '0.99',
  '1.5',
  '2',
  '5',
  '10',
  '20',
  '32',
  '33',
  '50',
  '64',
  '65',
  '100',
  '320',
  '1000',
  '86400',
  '-1',
  '-0.2',
  '1e3',
  '',
  ' ',
  'abc',
  '0x10',
  '.5',
  '7.5',
  '1000001',
];

function randomEdit(field: FieldSpec, current: FormValue, random: () => number): FormValue {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  switch (field.kind.type) {
    case 'boolean':
      return current !== true;
    case 'choice':
      return pick(field.kind.options);
    case 'list':
      return pick(['', 'scratch', 'scratch, crack', ' dent ,stain,']);
    case 'number':
      return pick(NUMBER_TEXTS);
  }
}

async function read(server: TestServer, url: string): Promise<object> {
  const answer = await server.app.inject({ method: 'GET', url, headers: server.auth('viewer') });
  expect(answer.statusCode).toBe(200);
  return answer.json<object>();
}

function put(server: TestServer, url: string, scope: Scope, payload: object) {
  return server.app.inject({ method: 'PUT', url, headers: server.auth(scope), payload });
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(
    `settings forms against the server on ${target.dialect}`,
    () => {
      let server: TestServer;

      beforeAll(async () => {
        server = await openTestServer(target);
      });
      afterAll(() => server.close());

      for (const section of SECTIONS) {
        it(`${section.title}: the form sends only what the server stores, and shows the rest`, async () => {
          const spec = section as unknown as SectionSpec<object>;
          const random = seededRandom(0x5e7 + section.id.length);
          const fields = fieldsOf(spec);
          let accepted = 0;
          let refused = 0;
          // A section of few fields gets more rounds, so both outcomes still come up often.
          const rounds = fields.length < 5 ? 120 : 40;
          for (let round = 0; round < rounds; round++) {
            const current = await read(server, spec.url);
            const values = { ...formValuesOf(spec, current) };
            // One to three fields edited per round, as a person would.
            const edits = 1 + Math.floor(random() * 3);
            for (let e = 0; e < edits; e++) {
              const field = fields[Math.floor(random() * fields.length)]!;
              values[field.path] = randomEdit(field, values[field.path] ?? '', random);
            }
            const check = checkSection(spec, current, values);
            if (check.body !== null) {
              const answer = await put(server, spec.url, 'admin', check.body);
              expect(answer.statusCode, `${JSON.stringify(check.body)} → ${answer.body}`).toBe(200);
              const stored = await read(server, spec.url);
              const before = spec.normalize(current);
              for (const field of fields) {
                const sent = getPath(check.body, field.path);
                expect(getPath(stored, field.path), field.path).toEqual(
                  sent === undefined ? getPath(before, field.path) : sent,
                );
              }
              accepted++;
            } else {
              expect(Object.keys(check.errors).length).toBeGreaterThan(0);
              const answer = await put(server, spec.url, 'admin', check.draft);
              expect(
                answer.statusCode,
                `${JSON.stringify(check.draft)} was stored`,
              ).toBeGreaterThanOrEqual(400);
              expect(answer.statusCode).toBeLessThan(500);
              expect(['VALIDATION_FAILED', 'INVALID_ARGUMENT']).toContain(
                answer.json<ErrorBody>().error.code,
              );
              // Nothing changed on the server.
              expect(await read(server, spec.url)).toEqual(current);
              refused++;
            }
          }
          // The seeded edits exercise both outcomes.
          expect(accepted).toBeGreaterThan(3);
          expect(refused).toBeGreaterThan(3);
        });
      }

      it('shows the band’s low ≥ high, a negative number and a drift share above 1 at their fields', async () => {
        const sampling = await read(server, SAMPLING_SECTION.url);
        const band = checkSection(SAMPLING_SECTION as unknown as SectionSpec<object>, sampling, {
          ...formValuesOf(SAMPLING_SECTION as unknown as SectionSpec<object>, sampling),
          'sampling.strategies.uncertainty.low': '0.8',
          'sampling.strategies.uncertainty.high': '0.6',
        });
        expect(band.body).toBeNull();
        expect(band.errors).toEqual({
          'sampling.strategies.uncertainty.high': 'low (0.8) must be below high (0.6)',
        });

        const drift = await read(server, DRIFT_SECTION.url);
        const driftSpec = DRIFT_SECTION as unknown as SectionSpec<object>;
        const bad = checkSection(driftSpec, drift, {
          ...formValuesOf(driftSpec, drift),
          driftShareThreshold: '1.2',
          windowSamples: '-5',
        });
        expect(bad.errors).toEqual({
          driftShareThreshold: 'Must be < 1',
          windowSamples: 'Must be ≥ 5',
        });
        const redBelowYellow = checkSection(driftSpec, drift, {
          ...formValuesOf(driftSpec, drift),
          driftShareThreshold: '0.6',
          redShareThreshold: '0.5',
        });
        expect(redBelowYellow.errors).toEqual({
          redShareThreshold: 'redShareThreshold must be ≥ driftShareThreshold',
        });
        const answer = await put(server, DRIFT_SECTION.url, 'admin', redBelowYellow.draft);
        expect(answer.statusCode).toBe(400);
        expect(answer.json<ErrorBody>().error).toEqual({
          code: 'INVALID_ARGUMENT',
          message: 'invalid drift settings: redShareThreshold must be ≥ driftShareThreshold',
        });
      });

      it('lets only admins change settings; every reader reads them', async () => {
        for (const section of SECTIONS) {
          for (const scope of ['viewer', 'labeler', 'agent'] as const) {
            const answer = await put(server, section.url, scope, {});
            expect(answer.statusCode, `${scope} PUT ${section.url}`).toBe(403);
            expect(answer.json<ErrorBody>().error.code).toBe('FORBIDDEN');
          }
          for (const scope of ['viewer', 'labeler', 'admin'] as const) {
            const answer = await server.app.inject({
              method: 'GET',
              url: section.url,
              headers: server.auth(scope),
            });
            expect(answer.statusCode, `${scope} GET ${section.url}`).toBe(200);
          }
        }
      });
    },
  );
}
