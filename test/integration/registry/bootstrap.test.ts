/**
 * Server start with the model registry: an empty registry registers the shipped seed model
 * (here a fixture in its place, with weights.pt beside it) under its metadata version and
 * points production at it as `bootstrap`, and the server serves it; a later start leaves the
 * registry alone; a missing seed file is skipped with a log line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../../src/config/server.config.js';
import { startServer } from '../../../src/main/server.main.js';
import { fixtureDetectorModel } from '../../helpers/registry-fixtures.js';
import { testJpeg } from '../server/fixtures.js';

let dir: string;
let lines: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-bootstrap-'));
  lines = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function start(seedModel: string) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').trim().split('\n'));
      done();
    },
  });
  return startServer(loadServerConfig({ VISIONLOOP_DATA_DIR: join(dir, 'data'), PORT: '0' }), {
    logger: { level: 'info', stream },
    processMetrics: false,
    seedModel,
    onAdminToken: () => undefined,
  });
}

function messages(): string[] {
  return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe('seed model bootstrap', () => {
  it('registers the seed as production on an empty registry, once', async () => {
    const seedDir = join(dir, 'models', 'seed');
    mkdirSync(seedDir, { recursive: true });
    writeFileSync(join(seedDir, 'model.onnx'), fixtureDetectorModel({ version: 'seed-v1' }));
    writeFileSync(join(seedDir, 'weights.pt'), 'torch weights');
    const seedMetrics = {
      testSets: { nominal: { map50: 0.939, perClass: { scratch: 0.859, crack: 0.94 } } },
    };
    writeFileSync(join(seedDir, 'metrics.json'), JSON.stringify(seedMetrics));
    const server = await start(join(seedDir, 'model.onnx'));
    try {
      const seed = await server.services.models.get('seed-v1');
      expect(seed).toMatchObject({
        source: 'seed',
        hasWeights: true,
        createdBy: 'bootstrap',
        aliases: ['production'],
      });
      expect((await server.services.models.readWeights('seed-v1'))?.toString()).toBe(
        'torch weights',
      );
      // metrics.json beside the seed becomes its registry metrics (the models page shows them).
      expect((await server.services.models.detail('seed-v1')).model.metrics).toEqual(seedMetrics);
      const history = await server.services.models.history('production', 5);
      expect(history.history).toEqual([
        expect.objectContaining({
          action: 'promote',
          fromVersion: null,
          toVersion: 'seed-v1',
          actor: 'bootstrap',
        }),
      ]);
      expect(server.services.modelServing.status().version).toBe('seed-v1');
      const prediction = await server.services.modelServing.predict(await testJpeg());
      expect(prediction.modelVersion).toBe('seed-v1');
      expect(messages()).toContain('registered the seed model seed-v1 and set production to it');
    } finally {
      await server.close();
    }

    // A new seed on the next start changes nothing: the registry is not empty.
    writeFileSync(join(seedDir, 'model.onnx'), fixtureDetectorModel({ version: 'seed-v2' }));
    const again = await start(join(seedDir, 'model.onnx'));
    try {
      const list = await again.services.models.list({ limit: 10, offset: 0 });
      expect(list.models.map((m) => m.version)).toEqual(['seed-v1']);
      expect(again.services.modelServing.status().version).toBe('seed-v1');
    } finally {
      await again.close();
    }
  });

  it('starts with an empty registry when the seed file is missing', async () => {
    const server = await start(join(dir, 'nowhere', 'model.onnx'));
    try {
      expect((await server.services.models.list({ limit: 10, offset: 0 })).total).toBe(0);
      expect(server.services.modelServing.status().version).toBeNull();
      expect(messages()).toContain(
        `no seed model at ${join(dir, 'nowhere', 'model.onnx')}; the registry starts empty (upload one with \`visionloop models upload\`)`,
      );
    } finally {
      await server.close();
    }
  });
});
