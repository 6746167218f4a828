/**
 * The job claim under real concurrency, on every available dialect: two claimers racing for one
 * job, many claimers draining a queue, and (PostgreSQL) SKIP LOCKED letting a claimer pass a
 * row another transaction holds. On SQLite the racers are separate connections in worker
 * threads running the exact SQL `claimNextJobQuery` compiles.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/database.js';
import type { DatabaseHandle } from '../../../src/db/database.js';
import { claimNextJob, claimNextJobQuery } from '../../../src/db/job-claim.js';
import type { JobRow, NewJob } from '../../../src/db/schema.js';
import { databaseTargets } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';

const NOW = 1_767_225_600_000;
const LEASE = 60_000;

function jobs(count: number, prefix = 'job'): NewJob[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(4, '0')}`,
    name: 'drift.check',
    priority: i % 3,
    run_at: NOW - 1000,
    created_at: NOW - 1000,
    updated_at: NOW - 1000,
  }));
}

function claimAs(handle: DatabaseHandle, owner: string): Promise<JobRow | undefined> {
  return claimNextJob(handle, { owner, now: NOW, leaseMs: LEASE });
}

/** Claims until the queue is empty; returns the ids this claimer got. */
async function drain(handle: DatabaseHandle, owner: string): Promise<string[]> {
  const ids: string[] = [];
  for (let job = await claimAs(handle, owner); job; job = await claimAs(handle, owner)) {
    ids.push(job.id);
  }
  return ids;
}

/** Worker-thread body (CommonJS, eval'd): its own connection, waits for the start signal. */
const SQLITE_CLAIMER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.path, { timeout: 5000 });
const claim = db.prepare(workerData.sql);
const start = new Int32Array(workerData.start);
parentPort.postMessage({ ready: true });
Atomics.wait(start, 0, 0);
const ids = [];
for (;;) {
  const rows = claim.all(...workerData.parameters);
  if (rows.length === 0) break;
  ids.push(rows[0].id);
}
db.close();
parentPort.postMessage({ ids });
`;

async function drainInThreads(handle: TestDatabase, owners: string[]): Promise<string[][]> {
  const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
  const start = new SharedArrayBuffer(4);
  const workers = owners.map((owner) => {
    const { sql: text, parameters } = claimNextJobQuery(handle, {
      owner,
      now: NOW,
      leaseMs: LEASE,
    }).compile();
    return new Worker(SQLITE_CLAIMER, {
      eval: true,
      workerData: { driverPath, path: handle.location, sql: text, parameters, start },
    });
  });
  const ready = workers.map(
    (worker) => new Promise<void>((resolve) => worker.once('message', () => resolve())),
  );
  await Promise.all(ready);
  const results = workers.map(
    (worker) =>
      new Promise<string[]>((resolve, reject) => {
        worker.once('message', (message: { ids: string[] }) => resolve(message.ids));
        worker.once('error', reject);
      }),
  );
  const flag = new Int32Array(start);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  try {
    return await Promise.all(results);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`job claim on ${target.dialect}`, () => {
    let handle: TestDatabase;
    let others: DatabaseHandle[];
    beforeAll(async () => {
      handle = await target.open();
      // Separate connections (pools on PostgreSQL) to the same database: real rivals.
      others = await Promise.all([1, 2, 3].map(() => openDatabase(handle.url, { poolMax: 2 })));
    });
    afterAll(async () => {
      await Promise.all((others ?? []).map((other) => other.close()));
      await handle?.cleanup();
    });
    beforeEach(async () => {
      await handle.db.deleteFrom('jobs').execute();
    });

    it('gives one job to exactly one of two concurrent claimers, every time', async () => {
      const [a, b] = [handle, others[0]];
      if (b === undefined) throw new Error('no second connection');
      for (let round = 0; round < 20; round += 1) {
        await handle.db.deleteFrom('jobs').execute();
        await handle.db
          .insertInto('jobs')
          .values(jobs(1, `round-${round}`))
          .execute();
        const [fromA, fromB] = await Promise.all([claimAs(a, 'a'), claimAs(b, 'b')]);
        const winners = [fromA, fromB].filter((job) => job !== undefined);
        expect(winners, `round ${round}`).toHaveLength(1);
        const stored = await handle.db
          .selectFrom('jobs')
          .select(['lease_owner', 'attempts', 'status'])
          .executeTakeFirstOrThrow();
        expect(stored).toEqual({
          lease_owner: fromA ? 'a' : 'b',
          attempts: 1,
          status: 'running',
        });
      }
    });

    it('lets concurrent claimers drain a queue with every job claimed exactly once', async () => {
      const queue = jobs(target.dialect === 'postgres' ? 60 : 200);
      await handle.db.insertInto('jobs').values(queue).execute();
      const owners = ['w0', 'w1', 'w2', 'w3'];
      const claimed =
        target.dialect === 'postgres'
          ? await Promise.all([handle, ...others].map((h, i) => drain(h, owners[i] ?? `w${i}`)))
          : await drainInThreads(handle, owners.slice(0, 2));

      const all = claimed.flat();
      expect(all).toHaveLength(queue.length);
      expect(new Set(all).size).toBe(queue.length);
      const stored = await handle.db.selectFrom('jobs').select(['id', 'lease_owner']).execute();
      const ownerOf = new Map(stored.map((row) => [row.id, row.lease_owner]));
      claimed.forEach((ids, i) => {
        for (const id of ids) expect(ownerOf.get(id)).toBe(owners[i]);
      });
      const attempts = await handle.db
        .selectFrom('jobs')
        .select((eb) => eb.fn.max('attempts').as('max'))
        .executeTakeFirstOrThrow();
      expect(attempts.max).toBe(1);
    });

    // Only PostgreSQL has row locks to skip; SQLite serialises writers (tested above).
    if (target.dialect === 'postgres') {
      it('skips a job another transaction holds instead of waiting for it (SKIP LOCKED)', async () => {
        const rival = others[0];
        if (rival === undefined) throw new Error('no second connection');
        await handle.db
          .insertInto('jobs')
          .values(jobs(2).map((job, i) => ({ ...job, priority: 10 - i })))
          .execute();

        let release = (): void => undefined;
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let heldJob: JobRow | undefined;
        let signalClaimed = (): void => undefined;
        const claimedInTransaction = new Promise<void>((resolve) => {
          signalClaimed = resolve;
        });
        const transaction = handle.db.transaction().execute(async (trx) => {
          heldJob = await claimNextJob(
            { db: trx, dialect: handle.dialect },
            { owner: 'holder', now: NOW, leaseMs: LEASE },
          );
          signalClaimed();
          await held;
        });
        await claimedInTransaction;

        // Without SKIP LOCKED this claim would wait for the holder; lock_timeout turns a
        // regression into a failure instead of a hang.
        const passed = await rival.db.transaction().execute(async (trx) => {
          await sql`set local lock_timeout = '2s'`.execute(trx);
          return claimNextJob(
            { db: trx, dialect: rival.dialect },
            { owner: 'rival', now: NOW, leaseMs: LEASE },
          );
        });
        release();
        await transaction;

        expect(heldJob?.id).toBe('job-0000');
        expect(passed?.id).toBe('job-0001');
        const owners = await handle.db
          .selectFrom('jobs')
          .select(['id', 'lease_owner'])
          .orderBy('id')
          .execute();
        expect(owners).toEqual([
          { id: 'job-0000', lease_owner: 'holder' },
          { id: 'job-0001', lease_owner: 'rival' },
        ]);
      });
    }
  });
}
