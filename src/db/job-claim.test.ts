import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import type { DatabaseHandle } from './database.js';
import { claimNextJob } from './job-claim.js';
import { migrateToLatest } from './migrate.js';
import type { NewJob } from './schema.js';

const NOW = 1_767_225_600_000;
const LEASE = 30_000;

/**
 * Every defaulted column is given: in a multi-row insert Kysely writes NULL (not DEFAULT) on
 * SQLite for a column some rows omit.
 */
function job(id: string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    id,
    name: 'drift.check',
    status: 'queued',
    priority: 0,
    attempts: 0,
    max_attempts: 3,
    cancel_requested: 0,
    run_at: NOW - 1000,
    created_at: NOW - 1000,
    updated_at: NOW - 1000,
    ...overrides,
  };
}

describe('claimNextJob (SQLite)', () => {
  let dir: string;
  let handle: DatabaseHandle;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-claim-'));
    handle = await openDatabase(join(dir, 'vl.db'));
    await migrateToLatest(handle);
  });
  afterEach(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const claim = (owner = 'worker-a', now = NOW, names?: string[]) =>
    claimNextJob(handle, { owner, now, leaseMs: LEASE, names });

  it('returns undefined when nothing is queued', async () => {
    expect(await claim()).toBeUndefined();
  });

  it('leases the job and records who, until when, and the attempt', async () => {
    await handle.db.insertInto('jobs').values(job('j1')).execute();
    const claimed = await claim();
    expect(claimed).toMatchObject({
      id: 'j1',
      status: 'running',
      lease_owner: 'worker-a',
      lease_expires_at: NOW + LEASE,
      attempts: 1,
      started_at: NOW,
      updated_at: NOW,
      finished_at: null,
    });
    expect(await claim('worker-b')).toBeUndefined();
  });

  it('takes higher priority first, then earlier run_at, then earlier creation, then id', async () => {
    await handle.db
      .insertInto('jobs')
      .values([
        job('late-low', { priority: 0, run_at: NOW - 10 }),
        job('early-low', { priority: 0, run_at: NOW - 500 }),
        job('high', { priority: 5, run_at: NOW - 1 }),
        job('tie-b', { priority: 0, run_at: NOW - 500, created_at: NOW - 2000 }),
        job('tie-a', { priority: 0, run_at: NOW - 500, created_at: NOW - 2000 }),
      ])
      .execute();
    const order: string[] = [];
    for (let claimed = await claim(); claimed; claimed = await claim()) order.push(claimed.id);
    expect(order).toEqual(['high', 'tie-a', 'tie-b', 'early-low', 'late-low']);
  });

  it('skips jobs not yet due, cancel-requested, out of attempts, finished or leased', async () => {
    await handle.db
      .insertInto('jobs')
      .values([
        job('future', { run_at: NOW + 1 }),
        job('cancel', { cancel_requested: 1 }),
        job('spent', { attempts: 3, max_attempts: 3 }),
        job('done', { status: 'succeeded' }),
        job('failed', { status: 'failed' }),
        job('cancelled', { status: 'cancelled' }),
        job('leased', { status: 'running', lease_owner: 'w', lease_expires_at: NOW + 1 }),
      ])
      .execute();
    expect(await claim()).toBeUndefined();
    // At exactly run_at the job is due.
    expect((await claim('worker-a', NOW + 1))?.id).toBe('future');
  });

  it('takes back a running job whose lease expired, as its next attempt', async () => {
    await handle.db
      .insertInto('jobs')
      .values(
        job('orphan', {
          status: 'running',
          attempts: 1,
          lease_owner: 'dead-worker',
          lease_expires_at: NOW - 1,
          started_at: NOW - 60_000,
        }),
      )
      .execute();
    expect(await claim('worker-b')).toMatchObject({
      id: 'orphan',
      lease_owner: 'worker-b',
      attempts: 2,
      started_at: NOW - 60_000,
      lease_expires_at: NOW + LEASE,
    });
  });

  it('claims only the named jobs when given names', async () => {
    await handle.db
      .insertInto('jobs')
      .values([job('t', { name: 'training.run', priority: 9 }), job('d', { name: 'drift.check' })])
      .execute();
    expect(await claim('w', NOW, [])).toBeUndefined();
    expect((await claim('w', NOW, ['drift.check']))?.id).toBe('d');
    expect(await claim('w', NOW, ['drift.check'])).toBeUndefined();
    expect((await claim('w', NOW, ['training.run', 'drift.check']))?.id).toBe('t');
  });
});
