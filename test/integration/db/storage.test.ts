/**
 * The storage contract on every available dialect (SQLite always; PostgreSQL when a server is
 * given, see test/helpers/database.ts): migrations up → down → up, exact round trips for every
 * table, defaults, constraints, idempotent ingest, the dedupe key, numeric types, and the
 * inspection-logs access path (keyset cursor + class filter).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest, migrationStatus } from '../../../src/db/migrate.js';
import type { SchemaMigration } from '../../../src/db/migrations/migration.js';
import { MIGRATIONS } from '../../../src/db/migrations/registry.js';
import type { NewJob, NewPredictionLog, TableName } from '../../../src/db/schema.js';
import { VisionLoopError } from '../../../src/shared/errors.js';
import { databaseTargets, listIndexes, listTables } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';
import * as rows from './fixture-rows.js';

const KYSELY_TABLES = ['kysely_migration', 'kysely_migration_lock'];

const TABLES_BY_MIGRATION: Record<string, string[]> = {
  '0001_core_ingest': ['agents', 'api_tokens', 'prediction_classes', 'prediction_logs', 'settings'],
  '0002_labeling': ['datasets', 'labeling_queue', 'reviewed_labels'],
  '0003_drift': ['drift_references', 'drift_reports'],
  '0004_registry_jobs': ['alias_history', 'jobs', 'model_aliases', 'models', 'retraining_events'],
  '0005_sampling': [],
  '0006_labeling_review': [],
  '0007_jobs_drift': ['job_schedules', 'job_workers'],
  '0008_model_registry': [],
  '0009_labeling_strategy': [],
  '0010_inspection_chain_rollouts': ['rollouts', 'shadow_predictions'],
};

const ALL_TABLES = Object.values(TABLES_BY_MIGRATION).flat();

const EXPECTED_INDEXES = [
  'agents_camera_idx',
  'agents_last_seen_at_idx',
  'alias_history_alias_created_at_idx',
  'alias_history_created_at_idx',
  'datasets_created_at_idx',
  'datasets_parent_id_idx',
  'drift_references_camera_kind_created_at_idx',
  'drift_references_model_version_created_at_idx',
  'drift_reports_camera_created_at_idx',
  'drift_reports_created_at_idx',
  'jobs_created_at_idx',
  'jobs_dedupe_key_active_key',
  'jobs_name_created_at_idx',
  'jobs_status_lease_expires_at_idx',
  'jobs_status_priority_run_at_idx',
  'labeling_queue_camera_created_at_idx',
  'labeling_queue_created_at_idx',
  'labeling_queue_labeled_at_idx',
  'labeling_queue_labeled_by_labeled_at_idx',
  'labeling_queue_prediction_id_key',
  'labeling_queue_reviewed_at_idx',
  'labeling_queue_reviewed_by_reviewed_at_idx',
  'labeling_queue_status_lease_expires_at_idx',
  'labeling_queue_status_priority_created_at_idx',
  'model_aliases_version_idx',
  'models_created_at_idx',
  'prediction_classes_class_name_captured_at_prediction_id_idx',
  'prediction_logs_camera_captured_at_id_idx',
  'prediction_logs_captured_at_id_idx',
  'prediction_logs_decision_captured_at_id_idx',
  'prediction_logs_model_version_captured_at_id_idx',
  'prediction_logs_uncertain_captured_at_id_idx',
  'retraining_events_created_at_idx',
  'retraining_events_job_id_created_at_idx',
  'reviewed_labels_created_at_idx',
  'reviewed_labels_image_blob_idx',
  'reviewed_labels_used_for_training_created_at_idx',
  'rollouts_started_at_idx',
  'rollouts_state_started_at_idx',
  'shadow_predictions_camera_captured_at_idx',
  'shadow_predictions_captured_at_idx',
  'shadow_predictions_rollout_id_captured_at_idx',
];

/** Children before parents, so deletes satisfy the foreign keys. */
const DELETE_ORDER: TableName[] = [
  'prediction_classes',
  'prediction_logs',
  'model_aliases',
  ...ALL_TABLES.filter(
    (t): t is TableName => !['prediction_classes', 'prediction_logs', 'model_aliases'].includes(t),
  ),
];

function prediction(id: string, capturedAt: number, overrides: Partial<NewPredictionLog> = {}) {
  return {
    ...rows.predictionLog,
    id,
    captured_at: capturedAt,
    received_at: capturedAt + 5,
    frame_blob: null,
    ...overrides,
  } satisfies NewPredictionLog;
}

function queuedJob(id: string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    id,
    name: 'drift.check',
    run_at: rows.T0,
    created_at: rows.T0,
    updated_at: rows.T0,
    ...overrides,
  };
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`storage on ${target.dialect}`, () => {
    describe('migrations', () => {
      let handle: TestDatabase;
      beforeAll(async () => {
        handle = await target.open({ migrate: false });
      });
      afterAll(async () => {
        await handle?.cleanup();
      });

      it('run up, down and up again, leaving exactly the designed tables and indexes', async () => {
        expect(await listTables(handle)).toEqual([]);

        expect(await migrateToLatest(handle)).toEqual(MIGRATIONS.map((m) => m.name));
        expect(await listTables(handle)).toEqual([...ALL_TABLES, ...KYSELY_TABLES].sort());
        expect(await listIndexes(handle)).toEqual(EXPECTED_INDEXES);
        expect(await migrateToLatest(handle)).toEqual([]);

        // Stepping down past 0007 removes exactly its and 0010's tables; 0008 and 0009 only
        // added columns.
        expect(await migrateDown(handle, 4)).toEqual([
          '0010_inspection_chain_rollouts',
          '0009_labeling_strategy',
          '0008_model_registry',
          '0007_jobs_drift',
        ]);
        const without0007 = ALL_TABLES.filter(
          (t) =>
            !TABLES_BY_MIGRATION['0007_jobs_drift']?.includes(t) &&
            !TABLES_BY_MIGRATION['0010_inspection_chain_rollouts']?.includes(t),
        );
        expect(await listTables(handle)).toEqual([...without0007, ...KYSELY_TABLES].sort());
        const status = await migrationStatus(handle);
        expect(status.map((s) => [s.name, s.appliedAt === null])).toEqual(
          MIGRATIONS.map((m) => [
            m.name,
            [
              '0007_jobs_drift',
              '0008_model_registry',
              '0009_labeling_strategy',
              '0010_inspection_chain_rollouts',
            ].includes(m.name),
          ]),
        );

        expect(await migrateDown(handle, 10)).toEqual([
          '0006_labeling_review',
          '0005_sampling',
          '0004_registry_jobs',
          '0003_drift',
          '0002_labeling',
          '0001_core_ingest',
        ]);
        expect(await listTables(handle)).toEqual(KYSELY_TABLES);
        expect(await listIndexes(handle)).toEqual([]);

        expect(await migrateToLatest(handle)).toEqual(MIGRATIONS.map((m) => m.name));
        expect(await listTables(handle)).toEqual([...ALL_TABLES, ...KYSELY_TABLES].sort());
        expect(await listIndexes(handle)).toEqual(EXPECTED_INDEXES);
      });

      it('leave no trace of a failing migration, so the fixed registry applies cleanly', async () => {
        const fresh = await target.open({ migrate: false });
        try {
          const broken: SchemaMigration = {
            name: '0002_broken',
            async up(db) {
              await db.schema.createTable('half_done').addColumn('id', 'text').execute();
              throw new Error('disk on fire');
            },
            async down() {},
          };
          const registry = [MIGRATIONS[0], broken].filter((m) => m !== undefined);
          await expect(migrateToLatest(fresh, registry)).rejects.toThrow(
            'migration 0002_broken (up) failed: disk on fire',
          );
          expect(await listTables(fresh)).not.toContain('half_done');
          // (PostgreSQL also rolls back 0001, applied in the same batch; SQLite keeps it.)
          const applied = await migrateToLatest(fresh);
          expect([...(await migrationStatus(fresh))].every((s) => s.appliedAt !== null)).toBe(true);
          expect(applied.at(-1)).toBe(MIGRATIONS.at(-1)?.name);
          expect(await listTables(fresh)).toEqual([...ALL_TABLES, ...KYSELY_TABLES].sort());
        } finally {
          await fresh.cleanup();
        }
      });

      it('migrate one database while another on the same server is already migrated', async () => {
        // On PostgreSQL both are schemas of one database: Kysely's own table check looks at
        // every schema, so this fails unless the migrator is pinned to the current schema.
        const first = await target.open();
        const second = await target.open({ migrate: false });
        try {
          expect(await migrateToLatest(second)).toEqual(MIGRATIONS.map((m) => m.name));
          expect(await listTables(second)).toEqual([...ALL_TABLES, ...KYSELY_TABLES].sort());
        } finally {
          await second.cleanup();
          await first.cleanup();
        }
      });
    });

    describe('tables', () => {
      let handle: TestDatabase;
      beforeAll(async () => {
        handle = await target.open();
      });
      afterAll(async () => {
        await handle?.cleanup();
      });
      beforeEach(async () => {
        for (const table of DELETE_ORDER) await handle.db.deleteFrom(table).execute();
      });

      it('store and return a fully specified row in every table, value for value', async () => {
        const { db } = handle;
        await db.insertInto('prediction_logs').values(rows.predictionLog).execute();
        await db.insertInto('prediction_classes').values(rows.predictionClass).execute();
        await db.insertInto('agents').values(rows.agent).execute();
        await db.insertInto('api_tokens').values(rows.apiToken).execute();
        await db.insertInto('settings').values(rows.setting).execute();
        await db.insertInto('labeling_queue').values(rows.labelingQueueItem).execute();
        await db.insertInto('reviewed_labels').values(rows.reviewedLabel).execute();
        await db.insertInto('datasets').values(rows.dataset).execute();
        await db.insertInto('drift_references').values(rows.driftReference).execute();
        await db.insertInto('drift_reports').values(rows.driftReport).execute();
        await db.insertInto('models').values(rows.model).execute();
        await db.insertInto('model_aliases').values(rows.modelAlias).execute();
        await db.insertInto('alias_history').values(rows.aliasHistory).execute();
        await db.insertInto('retraining_events').values(rows.retrainingEvent).execute();
        await db.insertInto('jobs').values(rows.job).execute();
        await db.insertInto('job_schedules').values(rows.jobSchedule).execute();
        await db.insertInto('job_workers').values(rows.jobWorker).execute();
        await db.insertInto('shadow_predictions').values(rows.shadowPrediction).execute();
        await db.insertInto('rollouts').values(rows.rollout).execute();

        expect(rows.ROW_INSERT_ORDER.map(([table]) => table).sort()).toEqual(
          [...ALL_TABLES].sort(),
        );
        for (const [table, row] of rows.ROW_INSERT_ORDER) {
          const stored = await db.selectFrom(table).selectAll().execute();
          expect(stored, table).toEqual([row]);
        }
        const log = await db
          .selectFrom('prediction_logs')
          .select(['captured_at', 'frame_index', 'uncertain', 'features'])
          .executeTakeFirstOrThrow();
        expect(typeof log.captured_at).toBe('number');
        expect(log.frame_index).toBe(2 ** 40 + 3);
        expect(log.uncertain).toBe(1);
        expect(JSON.parse(log.features)).toEqual({
          brightness: 0.1 + 0.2,
          contrast: 1e-9,
          note: 'défaut "ü" ✓',
        });
        const token = await db.selectFrom('api_tokens').select('expires_at').executeTakeFirst();
        expect(token?.expires_at).toBe(Number.MAX_SAFE_INTEGER);
      });

      it('fill the documented defaults', async () => {
        const { db } = handle;
        await db
          .insertInto('prediction_logs')
          .values(prediction('p-default', rows.T0, { inferred: undefined }))
          .execute();
        await db
          .insertInto('labeling_queue')
          .values({ id: 'lq-d', camera: 'c', reason: 'random', created_at: 1, updated_at: 1 })
          .execute();
        await db
          .insertInto('reviewed_labels')
          .values({
            id: 'rl-d',
            source: 'import',
            image_blob: 'x',
            width: 1,
            height: 1,
            labels: '[]',
            created_at: 1,
          })
          .execute();
        await db.insertInto('jobs').values(queuedJob('job-d')).execute();
        await db
          .insertInto('agents')
          .values({ id: 'a-d', camera: 'c', name: 'n', registered_at: 1 })
          .execute();
        await db.insertInto('settings').values({ key: 'k', value: '1', updated_at: 1 }).execute();
        await db
          .insertInto('retraining_events')
          .values({ id: 'e', kind: 'queued', created_at: 1 })
          .execute();
        await db
          .insertInto('drift_references')
          .values({ id: 'r', kind: 'baseline', sample_count: 0, samples_blob: 'x', created_at: 1 })
          .execute();

        const log = await db.selectFrom('prediction_logs').select('inferred').executeTakeFirst();
        expect(log).toEqual({ inferred: 1 });
        const item = await db
          .selectFrom('labeling_queue')
          .select(['status', 'priority', 'pre_labels', 'labels'])
          .executeTakeFirst();
        expect(item).toEqual({ status: 'pending', priority: 0, pre_labels: '[]', labels: null });
        const label = await db
          .selectFrom('reviewed_labels')
          .select(['used_for_training', 'queue_item_id'])
          .executeTakeFirst();
        expect(label).toEqual({ used_for_training: 0, queue_item_id: null });
        const job = await db
          .selectFrom('jobs')
          .select(['status', 'priority', 'attempts', 'max_attempts', 'cancel_requested', 'payload'])
          .executeTakeFirst();
        expect(job).toEqual({
          status: 'queued',
          priority: 0,
          attempts: 0,
          max_attempts: 3,
          cancel_requested: 0,
          payload: '{}',
        });
        expect(await db.selectFrom('agents').select('info').executeTakeFirst()).toEqual({
          info: '{}',
        });
        expect(await db.selectFrom('settings').select('revision').executeTakeFirst()).toEqual({
          revision: 1,
        });
        expect(
          await db.selectFrom('retraining_events').select('details').executeTakeFirst(),
        ).toEqual({ details: '{}' });
        expect(
          await db.selectFrom('drift_references').select('summary').executeTakeFirst(),
        ).toEqual({ summary: '{}' });
      });

      it('reject rows that break the constraints', async () => {
        const { db } = handle;
        await expect(
          db
            .insertInto('prediction_logs')
            .values(prediction('p-bool', 1, { uncertain: 2 as 1 }))
            .execute(),
        ).rejects.toThrow(/check/i);
        await expect(
          db
            .insertInto('prediction_logs')
            .values(prediction('p-decision', 1, { decision: 'MAYBE' as 'PASS' }))
            .execute(),
        ).rejects.toThrow(/check/i);
        await expect(
          db
            .insertInto('prediction_logs')
            .values(prediction(null as unknown as string, 1))
            .execute(),
        ).rejects.toThrow(/null/i);
        // An alias must point at a registered version.
        await expect(
          db
            .insertInto('model_aliases')
            .values({ alias: 'production', version: 'v404', updated_at: 1 })
            .execute(),
        ).rejects.toThrow(/foreign key/i);
        // Token hashes are unique.
        await db.insertInto('api_tokens').values(rows.apiToken).execute();
        await expect(
          db
            .insertInto('api_tokens')
            .values({ ...rows.apiToken, id: 'other' })
            .execute(),
        ).rejects.toThrow(/unique|duplicate/i);
        // A prediction is queued at most once; items without a prediction are unlimited.
        const item = { camera: 'c', reason: 'random', created_at: 1, updated_at: 1 } as const;
        await db
          .insertInto('labeling_queue')
          .values([
            { ...item, id: 'q1', prediction_id: 'p1' },
            { ...item, id: 'q2', prediction_id: null },
            { ...item, id: 'q3', prediction_id: null },
          ])
          .execute();
        await expect(
          db
            .insertInto('labeling_queue')
            .values({ ...item, id: 'q4', prediction_id: 'p1' })
            .execute(),
        ).rejects.toThrow(/unique|duplicate/i);
      });

      it('delete a prediction’s class rows with it', async () => {
        const { db } = handle;
        await db.insertInto('prediction_logs').values(prediction('p1', 10)).execute();
        await db
          .insertInto('prediction_classes')
          .values([
            { prediction_id: 'p1', class_name: 'scratch', captured_at: 10 },
            { prediction_id: 'p1', class_name: 'crack', captured_at: 10 },
          ])
          .execute();
        await db.deleteFrom('prediction_logs').where('id', '=', 'p1').execute();
        expect(await db.selectFrom('prediction_classes').selectAll().execute()).toEqual([]);
      });

      it('store an ingest batch sent twice once (ON CONFLICT DO NOTHING)', async () => {
        const { db } = handle;
        const batch = [prediction('b1', 100), prediction('b2', 101), prediction('b3', 102)];
        const first = await db
          .insertInto('prediction_logs')
          .values(batch)
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .execute();
        expect(first.map((r) => r.id).sort()).toEqual(['b1', 'b2', 'b3']);

        // The retry carries the same ids (one with different content) plus one new frame.
        const retry = [
          ...batch.map((p) => ({ ...p, decision: 'PASS' as const, received_at: 999 })),
          prediction('b4', 103),
        ];
        const second = await db
          .insertInto('prediction_logs')
          .values(retry)
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .execute();
        expect(second).toEqual([{ id: 'b4' }]);

        const stored = await db
          .selectFrom('prediction_logs')
          .select(['id', 'decision', 'received_at'])
          .orderBy('id')
          .execute();
        expect(stored).toEqual([
          { id: 'b1', decision: 'FAIL', received_at: 105 },
          { id: 'b2', decision: 'FAIL', received_at: 106 },
          { id: 'b3', decision: 'FAIL', received_at: 107 },
          { id: 'b4', decision: 'FAIL', received_at: 108 },
        ]);

        const classRows = [{ prediction_id: 'b1', class_name: 'scratch', captured_at: 100 }];
        for (let i = 0; i < 2; i += 1) {
          await db
            .insertInto('prediction_classes')
            .values(classRows)
            .onConflict((oc) => oc.columns(['prediction_id', 'class_name']).doNothing())
            .execute();
        }
        expect(await db.selectFrom('prediction_classes').selectAll().execute()).toEqual(classRows);
      });

      it('keep a dedupe key unique among queued and running jobs only', async () => {
        const { db } = handle;
        await db
          .insertInto('jobs')
          .values(queuedJob('j1', { dedupe_key: 'drift:line-1' }))
          .execute();
        const skipped = await db
          .insertInto('jobs')
          .values(queuedJob('j2', { dedupe_key: 'drift:line-1' }))
          .onConflict((oc) => oc.doNothing())
          .returning('id')
          .execute();
        expect(skipped).toEqual([]);
        await expect(
          db
            .insertInto('jobs')
            .values(queuedJob('j2', { dedupe_key: 'drift:line-1' }))
            .execute(),
        ).rejects.toThrow(/unique|duplicate/i);

        // Once j1 is finished (keeping its key), the same key may be queued again …
        await db.updateTable('jobs').set({ status: 'succeeded' }).where('id', '=', 'j1').execute();
        await db
          .insertInto('jobs')
          .values(queuedJob('j2', { dedupe_key: 'drift:line-1' }))
          .execute();
        // … but not twice while active, whether queued or running.
        await expect(
          db
            .insertInto('jobs')
            .values(queuedJob('j3', { dedupe_key: 'drift:line-1', status: 'running' }))
            .execute(),
        ).rejects.toThrow(/unique|duplicate/i);
        // Jobs without a key never collide.
        await db
          .insertInto('jobs')
          .values([queuedJob('j4'), queuedJob('j5')])
          .execute();

        const keys = await db
          .selectFrom('jobs')
          .select(['id', 'dedupe_key'])
          .orderBy('id')
          .execute();
        expect(keys).toEqual([
          { id: 'j1', dedupe_key: 'drift:line-1' },
          { id: 'j2', dedupe_key: 'drift:line-1' },
          { id: 'j4', dedupe_key: null },
          { id: 'j5', dedupe_key: null },
        ]);
      });

      it('return counts, sums and averages as JS numbers', async () => {
        const { db } = handle;
        await db
          .insertInto('prediction_logs')
          .values([
            prediction('n1', rows.T0, { total_ms: 10, detection_count: 1 }),
            prediction('n2', rows.T0 + 1, { total_ms: 20, detection_count: 2 }),
            prediction('n3', rows.T0 + 2, { total_ms: 33, detection_count: 4 }),
          ])
          .execute();
        const stats = await db
          .selectFrom('prediction_logs')
          .select((eb) => [
            eb.fn.countAll<number>().as('frames'),
            eb.fn.sum<number>('detection_count').as('detections'),
            eb.fn.sum<number>('captured_at').as('captured_sum'),
            eb.fn.avg<number>('total_ms').as('mean_total_ms'),
            eb.fn.avg<number>('detection_count').as('mean_detections'),
            eb.fn.max('captured_at').as('newest'),
          ])
          .executeTakeFirstOrThrow();
        expect(stats).toEqual({
          frames: 3,
          detections: 7,
          captured_sum: 3 * rows.T0 + 3,
          mean_total_ms: 21,
          mean_detections: 7 / 3,
          newest: rows.T0 + 2,
        });
      });

      it(
        target.dialect === 'postgres'
          ? 'refuse to return a bigint beyond 2^53 rather than round it'
          : 'return a bigint beyond 2^53 rounded (better-sqlite3 does not check)',
        async () => {
          const query = sql<{
            big: number;
          }>`select cast(${sql.lit('9007199254740993')} as bigint) as big`;
          if (target.dialect === 'postgres') {
            const failure = await query.execute(handle.db).catch((error: unknown) => error);
            expect(failure).toBeInstanceOf(VisionLoopError);
            expect((failure as VisionLoopError).code).toBe('INTERNAL');
            expect((failure as VisionLoopError).message).toMatch(/9007199254740993/);
            // The pool is still usable afterwards.
            const { rows: ok } = await sql<{ n: number }>`select cast(42 as bigint) as n`.execute(
              handle.db,
            );
            expect(ok).toEqual([{ n: 42 }]);
          } else {
            const { rows: result } = await query.execute(handle.db);
            expect(result).toEqual([{ big: 9007199254740992 }]);
          }
        },
      );

      it('serve inspection logs newest first by (captured_at, id) cursor, filtered by class', async () => {
        const { db } = handle;
        const frames: [string, number, string[]][] = [
          ['f1', 1000, ['scratch']],
          ['f2', 2000, []],
          ['f3', 3000, ['scratch', 'crack']],
          ['f4', 3000, ['scratch']],
          ['f5', 4000, ['dent']],
          ['f6', 5000, ['scratch']],
        ];
        for (const [id, capturedAt, classes] of frames) {
          await db.insertInto('prediction_logs').values(prediction(id, capturedAt)).execute();
          for (const className of classes) {
            await db
              .insertInto('prediction_classes')
              .values({ prediction_id: id, class_name: className, captured_at: capturedAt })
              .execute();
          }
        }
        const page = async (className: string, cursor?: { capturedAt: number; id: string }) =>
          db
            .selectFrom('prediction_logs as p')
            .select(['p.id', 'p.captured_at'])
            .where((eb) =>
              eb.exists(
                eb
                  .selectFrom('prediction_classes as c')
                  .select('c.prediction_id')
                  .whereRef('c.prediction_id', '=', 'p.id')
                  .where('c.class_name', '=', className),
              ),
            )
            .$if(cursor !== undefined, (qb) =>
              qb.where((eb) =>
                eb.or([
                  eb('p.captured_at', '<', cursor?.capturedAt ?? 0),
                  eb.and([
                    eb('p.captured_at', '=', cursor?.capturedAt ?? 0),
                    eb('p.id', '<', cursor?.id ?? ''),
                  ]),
                ]),
              ),
            )
            .orderBy('p.captured_at', 'desc')
            .orderBy('p.id', 'desc')
            .limit(2)
            .execute();

        const first = await page('scratch');
        expect(first.map((r) => r.id)).toEqual(['f6', 'f4']);
        const second = await page('scratch', { capturedAt: 3000, id: 'f4' });
        expect(second.map((r) => r.id)).toEqual(['f3', 'f1']);
        const third = await page('scratch', { capturedAt: 1000, id: 'f1' });
        expect(third).toEqual([]);
      });
    });
  });
}
