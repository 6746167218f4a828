/**
 * End to end: `visionloop up` — what `npm start` runs — as a real process on 127.0.0.1 with the
 * shipped seed model (models/seed) and its defaults, in a fresh data directory. A first start
 * with two cameras must print the URL and the admin token once, answer the API, register the
 * seed as `production`, store the demo's settings, create the simulated reviewer's identities,
 * print the live line per camera (rates over a recent window, the model version), and store
 * every frame each agent detected exactly once, each carrying the seed's version. A second
 * start on the same directory resumes: no new admin token, the same tokens, the data kept.
 * (The whole loop — drift, labels, retraining, promotion, swap — is the loop e2e test's.)
 *
 * Runs the compiled CLI (dist/): `npm test` builds it first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'visionloop.js');
const SEED = join(ROOT, 'models', 'seed', 'model.onnx');

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface UpResult {
  code: number | null;
  stderr: string;
}

async function runUp(
  dataDir: string,
  args: string[],
  whileRunning?: (url: string, stderr: () => string) => Promise<void>,
): Promise<UpResult> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'up', '--port', String(port), '--data-dir', dataDir, ...args],
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
  const url = `http://127.0.0.1:${port}`;
  // A first start renders the seed's training set and the gate's nominal holdout first.
  const deadline = Date.now() + 180_000;
  while (!stderr.includes('Press Ctrl-C to stop')) {
    if (child.exitCode !== null) throw new Error(`up exited early:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`up printed no banner:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(stderr).toContain(`VisionLoop is running at ${url}`);
  try {
    await whileRunning?.(url, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { code: await exited, stderr };
}

function stoppedLines(
  stderr: string,
): Map<string, { frames: number; stored: number; left: number }> {
  const out = new Map<string, { frames: number; stored: number; left: number }>();
  for (const m of stderr.matchAll(
    /stopped (\S+): (\d+) frames, (\d+) results stored, (\d+) left in the outbox/g,
  )) {
    out.set(m[1]!, { frames: Number(m[2]), stored: Number(m[3]), left: Number(m[4]) });
  }
  return out;
}

describe('visionloop up', () => {
  it('runs server, worker, two agents and the simulated reviewer; a second start resumes', async () => {
    expect(existsSync(SEED), 'models/seed/model.onnx is shipped').toBe(true);
    const dataDir = mkdtempSync(join(tmpdir(), 'visionloop-up-'));
    dirs.push(dataDir);
    const tokenFile = join(dataDir, 'admin-token');

    const first = await runUp(
      dataDir,
      ['--cameras', '2', '--duration', '25', '--fps', '5'],
      async (url) => {
        const token = readFileSync(tokenFile, 'utf8').trim();
        const auth = { headers: { authorization: `Bearer ${token}` } };
        const health = await fetch(`${url}/api/health`);
        expect(health.status).toBe(200);
        const models = await (await fetch(`${url}/api/models`, auth)).text();
        expect(models).toContain('seed-v1');
        // The demo's settings (a first start): a drift baseline that fits the nominal phase,
        // a retraining that waits for 100 new labels and promotes by itself, sampling caps of 60.
        const drift = (await (await fetch(`${url}/api/settings/drift`, auth)).json()) as object;
        expect(drift).toMatchObject({
          baselineSamples: 20,
          windowSamples: 20,
          minSamples: 20,
          minSpacingSeconds: 3,
          checkEverySeconds: 15,
          driftShareThreshold: 0.3,
        });
        const retraining = (await (
          await fetch(`${url}/api/settings/retraining`, auth)
        ).json()) as object;
        expect(retraining).toMatchObject({ autoPromote: true, driftMinNewLabels: 200 });
        const agent = (await (await fetch(`${url}/api/settings/agent`, auth)).json()) as {
          sampling?: { caps?: object; strategies?: { novelty?: object } };
        };
        expect(agent.sampling?.caps).toMatchObject({ perMinute: 60, perHour: 1200 });
        expect(agent.sampling?.strategies?.novelty).toMatchObject({
          enabled: true,
          minNovelty: 0.1,
        });
      },
    );
    expect(first.code, first.stderr).toBe(0);
    const adminToken = readFileSync(tokenFile, 'utf8').trim();
    // The admin token is shown once: as the dashboard's sign-in link, or on its own line.
    const shown = first.stderr.includes(`/#token=${adminToken}`)
      ? 'link'
      : first.stderr.includes(`admin token   ${adminToken}`)
        ? 'token'
        : null;
    expect(shown, first.stderr).not.toBeNull();
    expect(first.stderr.split(adminToken)).toHaveLength(2);
    expect(first.stderr).toContain(
      'camera        synth-line-1: synth:drift-demo (seed 1) at 5 fps',
    );
    expect(first.stderr).toContain(
      'camera        synth-line-2: synth:drift-demo (seed 2) at 5 fps',
    );
    expect(first.stderr).toContain('reviewer      simulated');
    // The live line (every 10 s off a terminal): the model, the camera rate split into detected
    // and unchanged frames, and rates over a recent window that says which.
    expect(first.stderr).toMatch(
      /synth-line-2 seed-v1 \| camera [\d.]+ fps: detected [\d.]+ \+ unchanged [\d.]+ \(motion gate\) \| last \d+ s: defects \d+%, uncertain \d+% of \d+ frames/,
    );
    const stopped = stoppedLines(first.stderr);
    expect([...stopped.keys()].sort()).toEqual(['synth-line-1', 'synth-line-2']);

    const db = new BetterSqlite3(join(dataDir, 'visionloop.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          'select camera, model_version, count(*) as n, count(distinct frame_index) as frames from prediction_logs group by camera, model_version order by camera',
        )
        .all() as { camera: string; model_version: string; n: number; frames: number }[];
      expect(rows.map((r) => [r.camera, r.model_version])).toEqual([
        ['synth-line-1', 'seed-v1'],
        ['synth-line-2', 'seed-v1'],
      ]);
      for (const row of rows) {
        const stop = stopped.get(row.camera);
        expect(stop?.left).toBe(0);
        // Every result each agent produced is stored, once (5 frames/s for ~20 s).
        expect(row.n).toBeGreaterThan(20);
        expect(row.n).toBe(stop?.stored);
        expect(row.frames).toBe(row.n);
      }
      const tokens = db.prepare('select name, scope from api_tokens order by name').all() as {
        name: string;
        scope: string;
      }[];
      expect(tokens).toEqual(
        expect.arrayContaining([
          { name: 'simulated-approver', scope: 'labeler' },
          { name: 'simulated-reviewer', scope: 'labeler' },
          { name: 'up: demo agent', scope: 'agent' },
        ]),
      );
      expect(tokens).toHaveLength(4);
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

    // A second start resumes: no new admin token (none shown), the same tokens, the data kept.
    const second = await runUp(dataDir, [
      '--duration',
      '8',
      '--fps',
      '5',
      '--no-simulated-reviewer',
    ]);
    expect(second.code, second.stderr).toBe(0);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(adminToken);
    expect(second.stderr).not.toContain(adminToken);
    expect(second.stderr).toContain(tokenFile);
    expect(second.stderr).toContain('reviewer      you');
    const again = new BetterSqlite3(join(dataDir, 'visionloop.db'), { readonly: true });
    try {
      const count = (camera: string) =>
        (
          again
            .prepare('select count(*) as n from prediction_logs where camera = ?')
            .get(camera) as { n: number }
        ).n;
      const resumed = stoppedLines(second.stderr).get('synth-line-1');
      expect(count('synth-line-1')).toBe(
        (stopped.get('synth-line-1')?.stored ?? 0) + (resumed?.stored ?? 0),
      );
      expect(count('synth-line-2')).toBe(stopped.get('synth-line-2')?.stored);
      expect((again.prepare('select count(*) as n from api_tokens').get() as { n: number }).n).toBe(
        4,
      );
    } finally {
      again.close();
    }
  }, 240_000);
});
