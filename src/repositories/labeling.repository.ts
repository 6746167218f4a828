/**
 * The `labeling_queue` table as the review sees it (claims, transitions, lists, statistics)
 * and the `reviewed_labels` rows an approval writes. The sampler (issue 5 part A) inserts the
 * queue items; this repository never does.
 *
 * Every state change is one conditional `UPDATE … WHERE id = ? AND <expected state> RETURNING
 * *`, so of two reviewers racing for the same item exactly one gets a row back; the service
 * reads the item again to explain a miss. "Claimed with an expired lease" is treated as
 * pending everywhere (claims, lists, counts) instead of being swept by a timer.
 *
 * No rules here: who may do what, and what a label must look like, live in the service.
 */
import { sql } from 'kysely';
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { DialectName } from '../db/database.js';
import { selectShadows } from './shadow-prediction.repository.js';
import { selectTokenNames } from './token.repository.js';
import type {
  Database,
  LabelingQueueRow,
  LabelingQueueUpdate,
  LabelingStatus,
  NewReviewedLabel,
  ShadowPredictionRow,
} from '../db/schema.js';

/**
 * A queue item with its frame result's frame and size, for items that lack their own, and the
 * output of the shadow model that ran on the frame (null when none did).
 */
export interface LabelingItemRow extends LabelingQueueRow {
  prediction_frame_blob: string | null;
  prediction_width: number | null;
  prediction_height: number | null;
  shadow: ShadowPredictionRow | null;
}

/** A status as reviewers see it: `claimed` only while the lease lasts. */
export type EffectiveStatus = LabelingStatus;

export interface QueueFilter {
  status: EffectiveStatus | 'all';
  camera?: string;
  reason?: string;
  strategy?: string;
  now: number;
}

export interface HistoryFilter {
  reviewer?: string;
  status?: LabelingStatus;
  /** Only items acted on strictly before this position in (labeled_at desc, id desc). */
  before?: { labeledAt: number; id: string };
  limit: number;
}

export interface ReviewerActivityRow {
  reviewer: string;
  status: LabelingStatus;
  items: number;
  leadTimeSum: number | null;
  leadTimeCount: number;
}

export interface ReviewerApprovalRow {
  reviewer: string;
  items: number;
}

/** What a transition expects the item to be in; anything else and nothing changes. */
export interface TransitionGuard {
  status: LabelingStatus;
  /** The item's claim (status `claimed`) or label (status `labeled`) belongs to this token. */
  claimedBy?: string;
}

type QueueEb = ExpressionBuilder<Database, 'labeling_queue'>;

function pendingCondition(eb: QueueEb, now: number) {
  return eb.or([
    eb('status', '=', 'pending'),
    eb.and([eb('status', '=', 'claimed'), eb('lease_expires_at', '<', now)]),
  ]);
}

function statusCondition(eb: QueueEb, status: EffectiveStatus, now: number) {
  if (status === 'pending') return pendingCondition(eb, now);
  if (status === 'claimed') {
    return eb.and([eb('status', '=', 'claimed'), eb('lease_expires_at', '>=', now)]);
  }
  return eb('status', '=', status);
}

export class LabelingRepository {
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
  ) {}

  /** Runs `work` in one transaction, with a repository bound to it. */
  transaction<T>(work: (repository: LabelingRepository) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new LabelingRepository(trx, this.dialect)));
  }

  async findById(id: string): Promise<LabelingItemRow | undefined> {
    const row = await this.db
      .selectFrom('labeling_queue')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : (await this.withPredictions([row]))[0];
  }

  /**
   * Adds each item's frame result frame and size and its shadow output (one query each for
   * the whole list).
   */
  async withPredictions(rows: readonly LabelingQueueRow[]): Promise<LabelingItemRow[]> {
    const ids = [
      ...new Set(rows.map((row) => row.prediction_id).filter((id): id is string => id !== null)),
    ];
    const [predictions, shadows] =
      ids.length === 0
        ? [[], new Map<string, ShadowPredictionRow>()]
        : await Promise.all([
            this.db
              .selectFrom('prediction_logs')
              .select(['id', 'frame_blob', 'width', 'height'])
              .where('id', 'in', ids)
              .execute(),
            selectShadows(this.db, ids),
          ]);
    const byId = new Map(predictions.map((p) => [p.id, p]));
    return rows.map((row) => {
      const p = row.prediction_id === null ? undefined : byId.get(row.prediction_id);
      return {
        ...row,
        prediction_frame_blob: p?.frame_blob ?? null,
        prediction_width: p?.width ?? null,
        prediction_height: p?.height ?? null,
        shadow: row.prediction_id === null ? null : (shadows.get(row.prediction_id) ?? null),
      };
    });
  }

  /**
   * Leases item `id` to `reviewer` until `now + leaseMs` when it is pending, its lease has
   * expired, or `reviewer` already holds it (renewal keeps the original claim time while the
   * lease is live). Undefined when the item is not claimable by `reviewer`.
   */
  claimById(
    id: string,
    reviewer: string,
    now: number,
    leaseMs: number,
  ): Promise<LabelingQueueRow | undefined> {
    return this.db
      .updateTable('labeling_queue')
      .set((eb) => ({
        status: 'claimed',
        claimed_by: reviewer,
        claimed_at: eb
          .case()
          .when(
            eb.and([
              eb('status', '=', 'claimed'),
              eb('claimed_by', '=', reviewer),
              eb('lease_expires_at', '>=', now),
            ]),
          )
          .then(eb.ref('claimed_at'))
          .else(now)
          .end(),
        lease_expires_at: now + leaseMs,
        updated_at: now,
      }))
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          pendingCondition(eb, now),
          eb.and([eb('status', '=', 'claimed'), eb('claimed_by', '=', reviewer)]),
        ]),
      )
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Leases the highest-priority waiting item (priority desc, created_at, id) to `reviewer`.
   * On PostgreSQL the pick skips rows other claimers hold locked, and the update re-checks the
   * state, so two concurrent calls never get the same item; a lost race returns undefined and
   * the caller tries again.
   */
  claimNext(reviewer: string, now: number, leaseMs: number): Promise<LabelingQueueRow | undefined> {
    const next = this.db
      .selectFrom('labeling_queue')
      .select('id')
      .where((eb) => pendingCondition(eb, now))
      .orderBy('priority', 'desc')
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(1)
      .$if(this.dialect === 'postgres', (qb) => qb.forUpdate().skipLocked());
    return this.db
      .updateTable('labeling_queue')
      .set({
        status: 'claimed',
        claimed_by: reviewer,
        claimed_at: now,
        lease_expires_at: now + leaseMs,
        updated_at: now,
      })
      .where('id', '=', next)
      .where((eb) => pendingCondition(eb, now))
      .returningAll()
      .executeTakeFirst();
  }

  /** Whether any item is waiting (pending or with an expired lease). */
  async anyPending(now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('labeling_queue')
      .select('id')
      .where((eb) => pendingCondition(eb, now))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The item `reviewer` holds a live lease on, most recently claimed first. */
  findLiveClaim(reviewer: string, now: number): Promise<LabelingQueueRow | undefined> {
    return this.db
      .selectFrom('labeling_queue')
      .selectAll()
      .where('status', '=', 'claimed')
      .where('claimed_by', '=', reviewer)
      .where('lease_expires_at', '>=', now)
      .orderBy('claimed_at', 'desc')
      .orderBy('id', 'asc')
      .limit(1)
      .executeTakeFirst();
  }

  /**
   * Applies `changes` when the item is in the `guard` state. With `leadTimeAt`, also sets
   * `lead_time_ms = leadTimeAt - claimed_at`. Undefined when the item was not in that state.
   */
  transition(
    id: string,
    guard: TransitionGuard,
    changes: LabelingQueueUpdate,
    leadTimeAt?: number,
  ): Promise<LabelingQueueRow | undefined> {
    let query = this.db
      .updateTable('labeling_queue')
      .set(changes)
      .where('id', '=', id)
      .where('status', '=', guard.status);
    if (leadTimeAt !== undefined) {
      query = query.set({ lead_time_ms: sql<number>`${leadTimeAt} - claimed_at` });
    }
    if (guard.claimedBy !== undefined) {
      const column = guard.status === 'claimed' ? 'claimed_by' : 'labeled_by';
      query = query.where(column, '=', guard.claimedBy);
    }
    return query.returningAll().executeTakeFirst();
  }

  async insertReviewedLabel(row: NewReviewedLabel): Promise<boolean> {
    const result = await this.db
      .insertInto('reviewed_labels')
      .values(row)
      .onConflict((oc) => oc.column('queue_item_id').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  /** One page of items matching `filter`, highest priority first, then oldest. */
  async list(filter: QueueFilter, limit: number, offset: number): Promise<LabelingItemRow[]> {
    const rows = await this.db
      .selectFrom('labeling_queue')
      .selectAll()
      .where((eb) => this.filterCondition(eb, filter))
      .orderBy('priority', 'desc')
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(limit)
      .offset(offset)
      .execute();
    return this.withPredictions(rows);
  }

  async count(filter: QueueFilter): Promise<number> {
    const row = await this.db
      .selectFrom('labeling_queue')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => this.filterCondition(eb, filter))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Items acted on (labelled, skipped or flagged), newest action first. */
  async history(filter: HistoryFilter): Promise<LabelingItemRow[]> {
    let query = this.db
      .selectFrom('labeling_queue')
      .selectAll()
      .where('labeled_at', 'is not', null);
    if (filter.reviewer !== undefined) query = query.where('labeled_by', '=', filter.reviewer);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb(eb.refTuple('labeled_at', 'id'), '<', eb.tuple(before.labeledAt, before.id)),
      );
    }
    const rows = await query
      .orderBy('labeled_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit)
      .execute();
    return this.withPredictions(rows);
  }

  /** Items per status as reviewers see it (an expired claim counts as pending). */
  async countsByStatus(now: number): Promise<Map<EffectiveStatus, number>> {
    const rows = await this.db
      .selectFrom('labeling_queue')
      .select((eb) => [
        eb
          .case()
          .when(eb.and([eb('status', '=', 'claimed'), eb('lease_expires_at', '<', now)]))
          .then(sql.lit('pending'))
          .else(eb.ref('status'))
          .end()
          .as('effective'),
        eb.fn.countAll<number>().as('n'),
      ])
      .groupBy('effective')
      .execute();
    const counts = new Map<EffectiveStatus, number>();
    for (const row of rows) {
      const status = row.effective as EffectiveStatus;
      counts.set(status, (counts.get(status) ?? 0) + Number(row.n));
    }
    return counts;
  }

  /** Per reviewer and resulting status: items labelled, skipped or flagged in [since, until). */
  async reviewerActivity(since: number, until: number): Promise<ReviewerActivityRow[]> {
    const rows = await this.db
      .selectFrom('labeling_queue')
      .select((eb) => [
        'labeled_by',
        'status',
        eb.fn.countAll<number>().as('items'),
        eb.fn.sum<number | null>('lead_time_ms').as('lead_sum'),
        eb.fn.count<number>('lead_time_ms').as('lead_count'),
      ])
      .where('labeled_at', '>=', since)
      .where('labeled_at', '<', until)
      .where('labeled_by', 'is not', null)
      .groupBy(['labeled_by', 'status'])
      .execute();
    return rows.map((row) => ({
      reviewer: row.labeled_by ?? '',
      status: row.status,
      items: Number(row.items),
      leadTimeSum: row.lead_sum === null ? null : Number(row.lead_sum),
      leadTimeCount: Number(row.lead_count),
    }));
  }

  /** Approvals and rejections of others' labels per reviewer in [since, until). */
  async reviewerApprovals(since: number, until: number): Promise<ReviewerApprovalRow[]> {
    const rows = await this.db
      .selectFrom('labeling_queue')
      .select((eb) => ['reviewed_by', eb.fn.countAll<number>().as('items')])
      .where('reviewed_at', '>=', since)
      .where('reviewed_at', '<', until)
      .where('reviewed_by', 'is not', null)
      // Reviews of other people's labels: an auto-approved own label is not a review.
      .where((eb) =>
        eb.or([eb('labeled_by', 'is', null), eb('labeled_by', '!=', eb.ref('reviewed_by'))]),
      )
      .groupBy('reviewed_by')
      .execute();
    return rows.map((row) => ({ reviewer: row.reviewed_by ?? '', items: Number(row.items) }));
  }

  async countReviewedLabels(): Promise<number> {
    const row = await this.db
      .selectFrom('reviewed_labels')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Whether any label exists (queue labels, reviewed labels or snapshots use class names). */
  async anyLabelUsesClasses(): Promise<boolean> {
    const queued = await this.db
      .selectFrom('labeling_queue')
      .select('id')
      .where('labels', 'is not', null)
      .limit(1)
      .executeTakeFirst();
    if (queued !== undefined) return true;
    const reviewed = await this.db
      .selectFrom('reviewed_labels')
      .select('id')
      .limit(1)
      .executeTakeFirst();
    if (reviewed !== undefined) return true;
    const dataset = await this.db.selectFrom('datasets').select('id').limit(1).executeTakeFirst();
    return dataset !== undefined;
  }

  /** Token names by id (tokens that no longer exist are absent). */
  tokenNames(ids: readonly string[]): Promise<Map<string, string>> {
    return selectTokenNames(this.db, ids);
  }

  private filterCondition(eb: QueueEb, filter: QueueFilter) {
    const conditions = [];
    if (filter.status !== 'all') conditions.push(statusCondition(eb, filter.status, filter.now));
    if (filter.camera !== undefined) conditions.push(eb('camera', '=', filter.camera));
    if (filter.reason !== undefined) conditions.push(eb('reason', '=', filter.reason));
    if (filter.strategy !== undefined) conditions.push(eb('strategy', '=', filter.strategy));
    return eb.and(conditions);
  }
}
