import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/database.js';
import { migrateDown, migrateToLatest, migrationStatus } from '../db/migrate.js';
import type { DriftStatusResponse } from '../shared/api/drift.js';
import { formatDriftStatus, registerDriftCommands } from './drift.command.js';

const STATUS: DriftStatusResponse = {
  generatedAt: 1_767_225_600_000,
  overall: { level: 'red', driftShare: 0.82, drifting: ['line-1'], cameras: 2 },
  thresholds: { alpha: 0.05, driftShareThreshold: 0.3, redShareThreshold: 0.7, correction: 'none' },
  baseline: { since: 0, reason: null, actor: null, cameras: {} },
  cameras: [
    {
      camera: 'line-1',
      reportId: 'drp_1',
      jobId: 'job_1',
      checkedAt: 1_767_225_600_000,
      modelVersion: 'seed-1',
      status: 'drift',
      level: 'red',
      drifted: true,
      driftShare: 0.8181818,
      driftedFeatures: ['brightness', 'noise'],
      testedFeatures: 11,
      pValues: { brightness: 1e-9, noise: 2e-5 },
      features: [],
      reference: null,
      window: { startMs: 1, endMs: 2, framesSeen: 100, samples: 50 },
      baseline: { state: 'ready', samples: 200, needed: 200, since: 0 },
      reason: 'drift (red): 9 of 11 features drifted',
    },
    {
      camera: 'line-2',
      reportId: 'drp_2',
      jobId: null,
      checkedAt: 1_767_225_600_000,
      modelVersion: 'seed-1',
      status: 'no_reference',
      level: 'unknown',
      drifted: false,
      driftShare: null,
      driftedFeatures: [],
      testedFeatures: 0,
      pValues: {},
      features: [],
      reference: null,
      window: { startMs: null, endMs: null, framesSeen: null, samples: 0 },
      baseline: { state: 'collecting', samples: 37, needed: 200, since: 0 },
      reason: "no reference for camera 'line-2' yet",
    },
  ],
  trainingReferences: [],
};

describe('visionloop drift status', () => {
  it('prints the overall level, one row per camera and each reason', () => {
    const text = formatDriftStatus(STATUS);
    expect(text.split('\n')[0]).toBe(
      'drift: red (highest share 0.82; 1 of 2 cameras drifting; thresholds p < 0.05, share > 0.3 yellow, > 0.7 red)',
    );
    expect(text).toMatch(/^line-1 +red +drift +0\.82 +brightness,noise +50 +200\/200 +seed-1 /m);
    expect(text).toMatch(/^line-2 +unknown +no_reference +- +- +0 +37\/200 +seed-1 /m);
    expect(text).toContain('line-2: no reference for camera');
  });

  it('asks the server with the token when given --server', async () => {
    const calls: { url: string; auth: string | null }[] = [];
    const fetchStub: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      calls.push({
        url: input instanceof URL ? input.href : typeof input === 'string' ? input : input.url,
        auth: headers.get('authorization'),
      });
      return Promise.resolve(Response.json(STATUS));
    };
    let out = '';
    const program = new Command().exitOverride();
    registerDriftCommands(program, {
      env: { VISIONLOOP_TOKEN: 'vl_secret' },
      fetch: fetchStub,
      stdout: { write: (text: string) => (out += text) },
    });
    await program.parseAsync(
      ['drift', 'status', '--server', 'http://vl.example:8080/', '--camera', 'line-1', '--json'],
      { from: 'user' },
    );
    expect(calls).toEqual([
      { url: 'http://vl.example:8080/api/metrics/drift?camera=line-1', auth: 'Bearer vl_secret' },
    ]);
    expect(JSON.parse(out)).toEqual(STATUS);
  });

  it('turns an error answer into its catalogue code', async () => {
    const program = new Command().exitOverride();
    registerDriftCommands(program, {
      env: {},
      fetch: () =>
        Promise.resolve(
          Response.json({ error: { code: 'FORBIDDEN', message: 'no' } }, { status: 403 }),
        ),
      stdout: { write: () => true },
    });
    await expect(
      program.parseAsync(['drift', 'status', '--server', 'http://x'], { from: 'user' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  describe('on the database directly', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    /** `drift status` on `file`, its output and error. */
    async function localStatus(dir: string, file: string) {
      let out = '';
      const program = new Command().exitOverride();
      registerDriftCommands(program, {
        env: {},
        stdout: { write: (text: string) => (out += text) },
      });
      const error: unknown = await program
        .parseAsync(['drift', 'status', '--data-dir', dir, '--database-url', file], {
          from: 'user',
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      return { out, error };
    }

    async function statusOf(file: string) {
      const database = await openDatabase(file);
      try {
        return await migrationStatus(database);
      } finally {
        await database.close();
      }
    }

    it('reads a migrated database', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'visionloop-drift-cli-'));
      dirs.push(dir);
      const file = join(dir, 'visionloop.db');
      const database = await openDatabase(file);
      await migrateToLatest(database);
      await database.close();
      const { out, error } = await localStatus(dir, file);
      expect(error).toBeNull();
      expect(out).toContain('no drift reports yet');
    });

    it('never migrates: a database at an older migration stays as it is, and says so', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'visionloop-drift-cli-'));
      dirs.push(dir);
      const file = join(dir, 'visionloop.db');
      const database = await openDatabase(file);
      await migrateToLatest(database);
      const undone = await migrateDown(database, 2);
      await database.close();
      expect(undone).toHaveLength(2);
      const before = await statusOf(file);
      expect(before.filter((m) => m.appliedAt === null)).toHaveLength(2);

      const { error } = await localStatus(dir, file);
      expect(error).toMatchObject({ code: 'DATABASE_NOT_MIGRATED' });
      expect((error as Error).message).toContain('visionloop db migrate');
      expect(await statusOf(file)).toEqual(before);
    });

    it('creates no database where there is none', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'visionloop-drift-cli-'));
      dirs.push(dir);
      const file = join(dir, 'missing.db');
      const { error } = await localStatus(dir, file);
      expect(error).toMatchObject({ code: 'DATABASE_NOT_MIGRATED' });
      expect(existsSync(file)).toBe(false);
    });
  });
});
