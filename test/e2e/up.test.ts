/**
 * End to end: `visionloop up` — what `npm start` runs — as a real process on 127.0.0.1 with the
 * shipped seed model (models/seed) and its defaults, in a fresh data directory. It must print
 * the URL and the admin-token file, answer the API, register the seed as `production`, and
 * store every frame the demo agent detected, each carrying the seed's version.
 *
 * Runs the compiled CLI (dist/): `npm test` builds it first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'visionloop.js');
const SEED = join(ROOT, 'models', 'seed', 'model.onnx');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('visionloop up', () => {
  it('runs the server, the worker and the demo agent on the seed model, storing every frame', async () => {
    expect(existsSync(SEED), 'models/seed/model.onnx is shipped').toBe(true);
    const dataDir = mkdtempSync(join(tmpdir(), 'visionloop-up-'));
    dirs.push(dataDir);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, 'up', '--port', String(port), '--data-dir', dataDir, '--duration', '20', '--fps', '10'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          VISIONLOOP_THREADS: '1',
          VISIONLOOP_LOG_LEVEL: 'warn',
          VISIONLOOP_MODEL: '',
          DATABASE_URL: '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    // While it runs: the printed URL answers, and the seed model is production.
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (!stderr.includes(`VisionLoop is running at ${url}`)) {
      if (child.exitCode !== null) throw new Error(`up exited early:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`up printed no URL:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const tokenFile = join(dataDir, 'admin-token');
    expect(stderr).toContain(tokenFile);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    const models = (await (
      await fetch(`${url}/api/models`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { aliases?: Record<string, string | null>; items?: { version: string }[] };
    expect(JSON.stringify(models)).toContain('seed-v1');
    // The drift demo's settings (a first start): a baseline that fits its nominal phase.
    const drift = (await (
      await fetch(`${url}/api/settings/drift`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as Record<string, unknown>;
    expect(drift).toMatchObject({
      baselineSamples: 20,
      windowSamples: 20,
      minSamples: 20,
      minSpacingSeconds: 3,
      checkEverySeconds: 15,
      driftShareThreshold: 0.3,
    });

    expect(await exited).toBe(0);
    const summary = /stopped: (\d+) frames, (\d+) results stored, (\d+) left in the outbox/.exec(
      stderr,
    );
    expect(summary, stderr).not.toBeNull();
    const stored = Number(summary?.[2]);
    expect(Number(summary?.[3])).toBe(0);
    const db = new BetterSqlite3(join(dataDir, 'visionloop.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          'select camera, model_version, count(*) as n from prediction_logs group by camera, model_version',
        )
        .all() as { camera: string; model_version: string; n: number }[];
      expect(rows).toHaveLength(1);
      const [only] = rows;
      expect(only?.camera).toBe('synth-line-1');
      expect(only?.model_version).toBe('seed-v1');
      // Every result the agent produced is stored, once (about 10 frames/s for ~15 s).
      expect(only?.n).toBeGreaterThan(20);
      expect(only?.n).toBe(stored);
      const distinct = db
        .prepare('select count(distinct frame_index) as n from prediction_logs')
        .get() as { n: number };
      expect(distinct.n).toBe(stored);
      const alias = db
        .prepare("select version from model_aliases where alias = 'production'")
        .get() as { version: string } | undefined;
      expect(alias?.version).toBe('seed-v1');
      // The drift monitor's training reference: the features of 500 of the seed's training images.
      const reference = db
        .prepare("select model_version, sample_count from drift_references where kind = 'training'")
        .all();
      expect(reference).toEqual([{ model_version: 'seed-v1', sample_count: 500 }]);
    } finally {
      db.close();
    }
  }, 120_000);
});
