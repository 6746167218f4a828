/**
 * Hot swap of the server's inference under load, over real HTTP: steady /api/predict requests
 * from several clients while production moves back and forth. Not one request fails; each
 * answer names the old or the new version; once a promotion has answered, every request
 * started after it gets the new version. A model that cannot be loaded is refused and the old
 * one keeps serving. (SQLite: the swap does not depend on the dialect.)
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../src/repositories/blob-store.js';
import type { AliasMoveResponse, PredictResponse } from '../../../src/shared/api/models.js';
import { databaseTargets } from '../../helpers/database.js';
import { fixtureDetectorModel } from '../../helpers/registry-fixtures.js';
import { openTestServer, testJpeg } from '../server/fixtures.js';
import type { TestServer } from '../server/fixtures.js';

interface Answer {
  startedAt: number;
  status: number;
  version: string | null;
  className: string | null;
}

const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite')!;

describe('hot swap of /api/predict under load', () => {
  let server: TestServer;
  let url: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    server = await openTestServer(sqlite);
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    jpeg = await testJpeg();
    for (const [version, classId] of [
      ['v1', 0],
      ['v2', 1],
    ] as const) {
      await server.services.models.register({
        artifact: fixtureDetectorModel({ version, classId }),
        source: 'uploaded',
        actor: 'test',
      });
    }
    await server.services.models.promote('v1', 'production', { actor: 'test' });
  });
  afterAll(async () => {
    await server.services.modelServing.close();
    await server.close();
  });

  async function promote(version: string): Promise<AliasMoveResponse> {
    const response = await fetch(`${url}/api/models/${version}/promote`, {
      method: 'POST',
      headers: { ...server.auth('admin'), 'content-type': 'application/json' },
      body: JSON.stringify({ alias: 'production', reason: 'swap under load' }),
    });
    return (await response.json()) as AliasMoveResponse;
  }

  /** `clients` loops of back-to-back requests until `stop` resolves. */
  async function load(clients: number, stop: Promise<void>): Promise<Answer[]> {
    let stopped = false;
    void stop.then(() => (stopped = true));
    const answers: Answer[] = [];
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (!stopped) {
          const startedAt = performance.now();
          const response = await fetch(`${url}/api/predict`, {
            method: 'POST',
            headers: { ...server.auth('viewer'), 'content-type': 'image/jpeg' },
            body: new Uint8Array(jpeg),
          });
          const body = (await response.json()) as PredictResponse;
          answers.push({
            startedAt,
            status: response.status,
            version: response.ok ? body.modelVersion : null,
            className: response.ok ? (body.detections[0]?.className ?? null) : null,
          });
        }
      }),
    );
    return answers;
  }

  it('answers every request, each wholly from the old or the new model', async () => {
    let finish!: () => void;
    const stop = new Promise<void>((resolve) => (finish = resolve));
    const running = load(2, stop);
    const swaps: { version: string; answeredAt: number }[] = [];
    for (const version of ['v2', 'v1', 'v2']) {
      // Let some requests run on the current model first.
      await new Promise((resolve) => setTimeout(resolve, 150));
      const move = await promote(version);
      expect(move.serving).toMatchObject({ swapped: true, version, error: null });
      swaps.push({ version, answeredAt: performance.now() });
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    finish();
    const answers = await running;

    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers.length).toBeGreaterThan(40);
    // The version a response names is the model that produced it (v1 finds scratches, v2 cracks).
    for (const answer of answers) {
      expect([answer.version, answer.className]).toEqual(
        answer.version === 'v1' ? ['v1', 'scratch'] : ['v2', 'crack'],
      );
    }
    // After a promotion answered, requests started later get the new model until the next one.
    swaps.forEach((swap, k) => {
      const until = swaps[k + 1]?.answeredAt ?? Infinity;
      const after = answers.filter((a) => a.startedAt > swap.answeredAt && a.startedAt < until);
      // The next promotion may have switched while they ran: only requests that started before
      // it began (its predecessor answered + the 150 ms pause) are certain.
      const certain = after.filter((a) => a.startedAt < swap.answeredAt + 100);
      expect(certain.length, `requests after swap ${k}`).toBeGreaterThan(0);
      expect(new Set(certain.map((a) => a.version))).toEqual(new Set([swap.version]));
    });
    const versionsSeen = new Set(answers.map((a) => a.version));
    expect(versionsSeen).toEqual(new Set(['v1', 'v2']));
    await server.services.modelServing.settled();
    expect(server.services.modelServing.status()).toMatchObject({
      version: 'v2',
      swaps: 4,
      inFlight: 0,
    });
  });

  it('refuses a model that cannot load and keeps serving the old one', async () => {
    const v3 = fixtureDetectorModel({ version: 'v3', classId: 2 });
    const { model } = await server.services.models.register({
      artifact: v3,
      source: 'uploaded',
      actor: 'test',
    });
    // The stored file is damaged after registration (a bad disk, a partial restore).
    writeFileSync(new LocalBlobStore(server.blobDir).pathOf(model.sha256), v3.subarray(0, 40));

    let finish!: () => void;
    const stop = new Promise<void>((resolve) => (finish = resolve));
    const running = load(1, stop);
    const move = await promote('v3');
    expect(move).toMatchObject({ changed: true, toVersion: 'v3' });
    expect(move.serving).toMatchObject({
      swapped: false,
      version: 'v2',
      error: { code: 'MODEL_NOT_ONNX' },
    });
    const reload = await fetch(`${url}/api/reload`, {
      method: 'POST',
      headers: server.auth('admin'),
    });
    expect(reload.status).toBe(422);
    const error = ((await reload.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('MODEL_NOT_ONNX');
    expect(error.message).toMatch(
      /^version v3 could not be put into service: .*\(still serving v2\)$/,
    );
    finish();
    const answers = await running;
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 200 && a.version === 'v2')).toBe(true);
    expect(server.services.modelServing.status()).toMatchObject({
      version: 'v2',
      lastError: { version: 'v3', code: 'MODEL_NOT_ONNX' },
    });
  });
});
