/**
 * The human review of sampled frames: the labeling queue's rules.
 *
 * - Claims are leases (`labeling` setting `leaseSeconds`, default 300 s): a claim is one
 *   conditional UPDATE, so two reviewers never hold the same item; a lease that runs out puts
 *   the item back in the queue; claiming again renews it. `next` hands a reviewer the item it
 *   already holds, else claims the highest-priority waiting one.
 * - Labeling, skipping and flagging need the caller's own claim. A label is boxes in frame
 *   pixels with known class names (the `classes` setting), each inside the image (an overshoot
 *   of at most 1 px is clipped) and at least 1 px on each side, or an explicit "no defects".
 * - With `requireApproval` (the default) a labeler's label waits for a second reviewer, who may
 *   not be its author (an admin may approve anything); without it, or when an admin labels,
 *   the label is approved on submission. An approval writes the `reviewed_labels` row in the
 *   same transaction as the status change.
 * - Repeating an action that already happened, by the same token with the same content,
 *   answers with the item as it is (a retried request is harmless); anything else that does
 *   not fit the item's state is a CONFLICT, and nothing stored changes.
 * - After every change: the Prometheus queue depth per status is refreshed and a `labeling`
 *   event is published.
 *
 * It never reads frames or writes datasets (services/dataset/ does). Settings and classes live
 * in labeling-settings.ts, the read side (pages, history, statistics) in labeling-views.ts,
 * the pure rules (boxes, effective status) in labeling-rules.ts.
 *
 * Just over 500 lines: the queue's rules (claim, label, skip, flag, review) over one table, read
 * together.
 */
import { randomUUID } from 'node:crypto';
import type { LabelingQueueRow, LabelingQueueUpdate } from '../db/schema.js';
import type {
  EffectiveStatus,
  LabelingItemRow,
  LabelingRepository,
} from '../repositories/labeling.repository.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import type {
  ApproveRequest,
  BulkReviewRequest,
  BulkReviewResponse,
  BulkReviewResult,
  ClassesSettings,
  FlagRequest,
  HistoryQuery,
  HistoryResponse,
  LabelRequest,
  LabelingItem,
  LabelingSettings,
  NextItemResponse,
  QueueListQuery,
  QueueListResponse,
  RejectRequest,
  SkipRequest,
  StatsQuery,
  StatsResponse,
  UpdateClassesSettings,
  UpdateLabelingSettings,
} from '../shared/api/labeling.js';
import { LABELING_STATUSES } from '../shared/api/labeling.js';
import { VisionLoopError, isVisionLoopError } from '../shared/errors.js';
import type { EventBus } from './event-bus.js';
import { effectiveStatus, frameOf, isLive, validateLabelBoxes } from './labeling-rules.js';
import { LabelingSettingsStore } from './labeling-settings.js';
import { LabelingViews } from './labeling-views.js';

export { validateLabelBoxes } from './labeling-rules.js';
export {
  CLASSES_SETTINGS_KEY,
  DEFAULT_CLASSES,
  LABELING_SETTINGS_KEY,
} from './labeling-settings.js';
export { DEFAULT_STATS_WINDOW_MS } from './labeling-views.js';

/** Who is acting: the authenticated token (route-access `Principal`, structurally). */
export interface Actor {
  tokenId: string;
  name: string;
  scope: string;
}

export interface LabelingServiceOptions {
  now?: () => number;
  /** Receives the queue depth of every status after each change (Prometheus). */
  onQueueDepth?: (status: EffectiveStatus, depth: number) => void;
  /** Where failures of the depth refresh go (they never fail the reviewer's request). */
  onBackgroundError?: (error: unknown) => void;
}

export class LabelingService {
  private readonly now: () => number;
  private readonly onQueueDepth: (status: EffectiveStatus, depth: number) => void;
  private readonly onBackgroundError: (error: unknown) => void;
  private readonly store: LabelingSettingsStore;
  private readonly views: LabelingViews;

  constructor(
    private readonly labeling: LabelingRepository,
    settings: SettingsRepository,
    private readonly events: EventBus,
    options: LabelingServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onQueueDepth = options.onQueueDepth ?? (() => undefined);
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
    this.store = new LabelingSettingsStore(labeling, settings, () => this.now());
    this.views = new LabelingViews(labeling, () => this.now());
  }

  // -------------------------------------------------------------------------------------------
  // settings (labeling-settings.ts)

  labelingSettings(): Promise<LabelingSettings> {
    return this.store.labelingSettings();
  }

  updateLabelingSettings(
    changes: UpdateLabelingSettings,
    actor: Actor | null,
  ): Promise<LabelingSettings> {
    return this.store.updateLabelingSettings(changes, actor);
  }

  classSettings(): Promise<ClassesSettings> {
    return this.store.classSettings();
  }

  /** The deployment's class names, in class-id order. */
  classNames(): Promise<string[]> {
    return this.store.classNames();
  }

  /** See LabelingSettingsStore.updateClasses: once labels exist, classes may only be appended. */
  updateClasses(request: UpdateClassesSettings, actor: Actor | null): Promise<ClassesSettings> {
    return this.store.updateClasses(request, actor);
  }

  /** Appends `names` the deployment does not know yet; returns the full list. */
  addClasses(names: readonly string[], actor: Actor | null): Promise<string[]> {
    return this.store.addClasses(names, actor);
  }

  // -------------------------------------------------------------------------------------------
  // reading (labeling-views.ts)

  list(query: QueueListQuery): Promise<QueueListResponse> {
    return this.views.list(query);
  }

  get(id: string): Promise<LabelingItem> {
    return this.views.get(id);
  }

  history(query: HistoryQuery): Promise<HistoryResponse> {
    return this.views.history(query);
  }

  stats(query: StatsQuery): Promise<StatsResponse> {
    return this.views.stats(query);
  }

  // -------------------------------------------------------------------------------------------
  // claims

  /** Claims (or renews the caller's claim on) item `id`. */
  async claim(id: string, actor: Actor): Promise<LabelingItem> {
    const now = this.now();
    const { leaseSeconds } = await this.labelingSettings();
    const row = await this.labeling.claimById(id, actor.tokenId, now, leaseSeconds * 1000);
    if (row === undefined) {
      const item = await this.requireItem(id);
      if (isLive(item, now)) {
        throw new VisionLoopError(
          'CONFLICT',
          `item ${id} is claimed by another reviewer until ${new Date(item.lease_expires_at ?? now).toISOString()}`,
        );
      }
      throw new VisionLoopError('CONFLICT', `item ${id} is ${item.status}; nothing to claim`);
    }
    await this.refreshQueueDepth();
    return this.itemAfter(row, now);
  }

  /**
   * The reviewer's next item: the one it holds (lease renewed), else the highest-priority
   * waiting item, claimed. Null when nothing waits.
   */
  async next(actor: Actor): Promise<NextItemResponse> {
    const now = this.now();
    const leaseMs = (await this.labelingSettings()).leaseSeconds * 1000;
    const held = await this.labeling.findLiveClaim(actor.tokenId, now);
    if (held !== undefined) {
      const renewed = await this.labeling.claimById(held.id, actor.tokenId, now, leaseMs);
      if (renewed !== undefined) return { item: await this.itemAfter(renewed, now) };
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.labeling.claimNext(actor.tokenId, now, leaseMs);
      if (row !== undefined) {
        await this.refreshQueueDepth();
        return { item: await this.itemAfter(row, now) };
      }
      // Lost a race (PostgreSQL, another claimer took the pick): try again while items wait.
      if (!(await this.labeling.anyPending(now))) break;
    }
    return { item: null };
  }

  // -------------------------------------------------------------------------------------------
  // reviewer actions

  async label(id: string, request: LabelRequest, actor: Actor): Promise<LabelingItem> {
    const now = this.now();
    const item = await this.requireItem(id);
    const frame = frameOf(item);
    if (frame === null) {
      throw new VisionLoopError('CONFLICT', `item ${id} has no frame to label (not uploaded)`);
    }
    const boxes = validateLabelBoxes(
      request.boxes,
      frame.width,
      frame.height,
      await this.classNames(),
    );
    const labels = JSON.stringify(boxes);
    const settings = await this.labelingSettings();
    const approveNow = !settings.requireApproval || actor.scope === 'admin';
    const changes: LabelingQueueUpdate = {
      status: approveNow ? 'approved' : 'labeled',
      labels,
      labeled_by: actor.tokenId,
      labeled_at: now,
      notes: request.notes ?? null,
      lease_expires_at: null,
      updated_at: now,
      ...(approveNow ? { reviewed_by: actor.tokenId, reviewed_at: now } : {}),
    };
    const updated = await this.labeling.transaction(async (repo) => {
      const row = await repo.transition(
        id,
        { status: 'claimed', claimedBy: actor.tokenId },
        changes,
        now,
      );
      if (row !== undefined && approveNow) await this.writeReviewedLabel(repo, row, frame, now);
      return row;
    });
    if (updated === undefined) {
      const current = await this.requireItem(id);
      const replay =
        (current.status === 'labeled' || current.status === 'approved') &&
        current.labeled_by === actor.tokenId &&
        current.labels === labels;
      if (replay) return this.itemAfter(current, now);
      throw this.notActionable(current, actor, now, 'label');
    }
    await this.afterChange(updated, approveNow ? 'approved' : 'labeled', actor, now);
    return this.itemAfter(updated, now);
  }

  async skip(id: string, request: SkipRequest, actor: Actor): Promise<LabelingItem> {
    return this.closeClaim(id, actor, 'skipped', { notes: request.notes ?? null });
  }

  async flag(id: string, request: FlagRequest, actor: Actor): Promise<LabelingItem> {
    return this.closeClaim(id, actor, 'flagged', {
      notes: request.notes ?? null,
      flagged_reason: request.reason,
    });
  }

  async approve(id: string, request: ApproveRequest, actor: Actor): Promise<LabelingItem> {
    const now = this.now();
    const item = await this.requireItem(id);
    this.checkSecondReviewer(item, actor);
    const frame = frameOf(item);
    const updated = await this.labeling.transaction(async (repo) => {
      if (frame === null) return undefined;
      const row = await repo.transition(
        id,
        { status: 'labeled' },
        {
          status: 'approved',
          reviewed_by: actor.tokenId,
          reviewed_at: now,
          review_notes: request.notes ?? null,
          updated_at: now,
        },
      );
      if (row !== undefined) await this.writeReviewedLabel(repo, row, frame, now);
      return row;
    });
    if (updated === undefined) {
      const current = await this.requireItem(id);
      if (current.status === 'approved' && current.reviewed_by === actor.tokenId) {
        return this.itemAfter(current, now);
      }
      if (frame === null && current.status === 'labeled') {
        throw new VisionLoopError('CONFLICT', `item ${id} has no frame; it cannot be approved`);
      }
      throw new VisionLoopError(
        'CONFLICT',
        `item ${id} is ${effectiveStatus(current, now)}, not waiting for approval`,
      );
    }
    await this.afterChange(updated, 'approved', actor, now);
    return this.itemAfter(updated, now);
  }

  async reject(id: string, request: RejectRequest, actor: Actor): Promise<LabelingItem> {
    const now = this.now();
    const item = await this.requireItem(id);
    this.checkSecondReviewer(item, actor);
    const requeue = request.requeue === true;
    const updated = await this.labeling.transition(
      id,
      { status: 'labeled' },
      {
        status: requeue ? 'pending' : 'rejected',
        reviewed_by: actor.tokenId,
        reviewed_at: now,
        review_notes: request.notes ?? null,
        updated_at: now,
        // Requeued: the rejected label is dropped and the item waits for a fresh one.
        ...(requeue
          ? {
              labels: null,
              labeled_by: null,
              labeled_at: null,
              lead_time_ms: null,
              claimed_by: null,
              claimed_at: null,
              lease_expires_at: null,
            }
          : {}),
      },
    );
    if (updated === undefined) {
      const current = await this.requireItem(id);
      if (current.status === 'rejected' && current.reviewed_by === actor.tokenId && !requeue) {
        return this.itemAfter(current, now);
      }
      throw new VisionLoopError(
        'CONFLICT',
        `item ${id} is ${effectiveStatus(current, now)}, not waiting for approval`,
      );
    }
    await this.afterChange(updated, 'rejected', actor, now);
    return this.itemAfter(updated, now);
  }

  /**
   * Approves or rejects several labelled items, one after the other, each by the rules (and in
   * the transaction) of `approve`/`reject`: one item refused (one's own label, already
   * reviewed, gone) does not stop the others, and its result carries the code and message the
   * single-item route would have answered. Unexpected failures are thrown.
   */
  async bulkReview(request: BulkReviewRequest, actor: Actor): Promise<BulkReviewResponse> {
    const results: BulkReviewResult[] = [];
    for (const id of request.ids) {
      try {
        const item =
          request.action === 'approve'
            ? await this.approve(id, { notes: request.notes }, actor)
            : await this.reject(id, { notes: request.notes, requeue: request.requeue }, actor);
        results.push({ id, ok: true, item });
      } catch (error) {
        if (!isVisionLoopError(error)) throw error;
        results.push({ id, ok: false, error: { code: error.code, message: error.message } });
      }
    }
    const succeeded = results.filter((result) => result.ok).length;
    return {
      action: request.action,
      results,
      succeeded,
      failed: results.length - succeeded,
    };
  }

  /**
   * Reads the counts per status and hands them to `onQueueDepth` (every status, zeros
   * included). Failures go to `onBackgroundError`; they never fail the caller.
   */
  async refreshQueueDepth(): Promise<void> {
    try {
      const counts = await this.labeling.countsByStatus(this.now());
      for (const status of LABELING_STATUSES) this.onQueueDepth(status, counts.get(status) ?? 0);
    } catch (error) {
      this.onBackgroundError(error);
    }
  }

  // -------------------------------------------------------------------------------------------

  private async closeClaim(
    id: string,
    actor: Actor,
    status: 'skipped' | 'flagged',
    extra: LabelingQueueUpdate,
  ): Promise<LabelingItem> {
    const now = this.now();
    const updated = await this.labeling.transition(
      id,
      { status: 'claimed', claimedBy: actor.tokenId },
      {
        ...extra,
        status,
        labeled_by: actor.tokenId,
        labeled_at: now,
        lease_expires_at: null,
        updated_at: now,
      },
      now,
    );
    if (updated === undefined) {
      const current = await this.requireItem(id);
      if (current.status === status && current.labeled_by === actor.tokenId) {
        return this.itemAfter(current, now);
      }
      throw this.notActionable(current, actor, now, status === 'skipped' ? 'skip' : 'flag');
    }
    await this.afterChange(updated, status, actor, now);
    return this.itemAfter(updated, now);
  }

  /** The CONFLICT explaining why `actor` cannot `verb` the item in its current state. */
  private notActionable(
    item: LabelingQueueRow,
    actor: Actor,
    now: number,
    verb: string,
  ): VisionLoopError {
    const status = effectiveStatus(item, now);
    switch (status) {
      case 'labeled':
      case 'approved':
      case 'rejected':
        return new VisionLoopError('CONFLICT', `item ${item.id} is already labeled (${status})`);
      case 'skipped':
      case 'flagged':
        return new VisionLoopError('CONFLICT', `item ${item.id} was ${status}`);
      case 'claimed':
        return item.claimed_by === actor.tokenId
          ? new VisionLoopError('CONFLICT', `item ${item.id} changed while you held it`)
          : new VisionLoopError('CONFLICT', `item ${item.id} is claimed by another reviewer`);
      case 'pending':
        return new VisionLoopError(
          'CONFLICT',
          `claim item ${item.id} before you ${verb} it (POST /api/labeling-queue/${item.id}/claim)` +
            (item.claimed_by === actor.tokenId ? '; your lease ran out' : ''),
        );
    }
  }

  /** A labeler may not approve or reject a label it wrote itself; an admin may. */
  private checkSecondReviewer(item: LabelingQueueRow, actor: Actor): void {
    if (item.status === 'labeled' && item.labeled_by === actor.tokenId && actor.scope !== 'admin') {
      throw new VisionLoopError(
        'FORBIDDEN',
        `item ${item.id} was labeled by you: a second reviewer must approve or reject it`,
      );
    }
  }

  private async writeReviewedLabel(
    repo: LabelingRepository,
    row: LabelingQueueRow,
    frame: { blob: string; width: number; height: number },
    now: number,
  ): Promise<void> {
    await repo.insertReviewedLabel({
      id: `rvl-${randomUUID()}`,
      queue_item_id: row.id,
      prediction_id: row.prediction_id,
      source: 'review',
      source_dataset_id: null,
      camera: row.camera,
      image_blob: frame.blob,
      width: frame.width,
      height: frame.height,
      labels: row.labels ?? '[]',
      labeled_by: row.labeled_by,
      approved_by: row.reviewed_by,
      created_at: now,
      trained_in_model_version: null,
      // Agents upload frames as JPEG (frame.service.ts refuses anything else).
      image_ext: 'jpg',
    });
  }

  private async afterChange(
    row: LabelingQueueRow,
    action: 'labeled' | 'approved' | 'rejected' | 'skipped' | 'flagged',
    actor: Actor,
    now: number,
  ): Promise<void> {
    await this.refreshQueueDepth();
    this.events.publish({
      type: 'labeling',
      at: now,
      action,
      itemId: row.id,
      camera: row.camera,
      status: row.status,
      reviewer: actor.tokenId,
    });
  }

  private requireItem(id: string): Promise<LabelingItemRow> {
    return this.views.requireItem(id);
  }

  private itemAfter(row: LabelingQueueRow, now: number): Promise<LabelingItem> {
    return this.views.itemAfter(row, now);
  }
}
