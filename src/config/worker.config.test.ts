import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from './worker.config.js';

describe('loadWorkerConfig', () => {
  it('defaults: one job at a time, 30 s leases, schedules on, every job name', () => {
    const config = loadWorkerConfig({}, {}, '/srv');
    expect(config).toMatchObject({
      concurrency: 1,
      leaseMs: 30_000,
      pollMaxMs: 5_000,
      schedules: true,
      jobNames: null,
    });
    expect(config.server.databaseUrl).toBe(`sqlite://${resolve('/srv/data/visionloop.db')}`);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes the environment, and flags over it', () => {
    const env = {
      VISIONLOOP_WORKER_CONCURRENCY: '4',
      VISIONLOOP_JOB_LEASE_SECONDS: '2.5',
      VISIONLOOP_WORKER_SCHEDULES: 'false',
      VISIONLOOP_WORKER_JOBS: 'drift.check, system.probe,',
      DATABASE_URL: 'postgres://vl@db/vl',
    };
    expect(loadWorkerConfig(env, {}, '/srv')).toMatchObject({
      concurrency: 4,
      leaseMs: 2_500,
      schedules: false,
      jobNames: ['drift.check', 'system.probe'],
      server: { databaseUrl: 'postgres://vl@db/vl' },
    });
    expect(
      loadWorkerConfig(env, { concurrency: 2, leaseSeconds: 10, schedules: true, jobs: 'x.y' }),
    ).toMatchObject({ concurrency: 2, leaseMs: 10_000, schedules: true, jobNames: ['x.y'] });
  });

  it('lists every bad value at once', () => {
    expect(() =>
      loadWorkerConfig({
        VISIONLOOP_WORKER_CONCURRENCY: '0',
        VISIONLOOP_JOB_LEASE_SECONDS: 'soon',
      }),
    ).toThrow(/VISIONLOOP_WORKER_CONCURRENCY[\s\S]*VISIONLOOP_JOB_LEASE_SECONDS/);
  });
});
