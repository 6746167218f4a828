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
 * It never reads frames or writes datasets (services/dataset/ does).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { LabelingQueueRow, LabelingQueueUpdate, LabelingStatus } from '../db/schema.js';
import type {
  EffectiveStatus,
  LabelingItemRow,
  LabelingRepository,
} from '../repositories/labeling.repository.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import { detectionSchema } from '../shared/api/ingest.js';
import type {
  ApproveRequest,
  BulkReviewRequest,
  BulkReviewResponse,
  BulkReviewResult,
  ClassesSettings,
  FlagRequest,
  HistoryQuery,
  HistoryResponse,
  LabelBox,
  LabelRequest,
  LabelingItem,
  LabelingSettings,
  NextItemResponse,
  QueueListQuery,
  QueueListResponse,
  RejectRequest,
  Reviewer,
  ReviewerStats,
  SkipRequest,
  StatsQuery,
  StatsResponse,
  UpdateClassesSettings,
  UpdateLabelingSettings,
} from '../shared/api/labeling.js';
import {
  BOX_OVERSHOOT_PX,
  DEFAULT_LABELING_SETTINGS,
  LABELING_STATUSES,
  MIN_BOX_SIDE_PX,
  labelBoxSchema,
  labelingSettingsSchema,
  isSimulatedReviewerName,
} from '../shared/api/labeling.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError, isVisionLoopError } from '../shared/errors.js';
import type { EventBus } from './event-bus.js';
import { decodeCursor, encodeCursor } from './inspection-log.service.js';

/** The settings-table keys this service owns. */
export const LABELING_SETTINGS_KEY = 'labeling';
export const CLASSES_SETTINGS_KEY = 'classes';
/** The deployment's classes until someone sets them: the synthetic line's. */
export const DEFAULT_CLASSES: readonly string[] = SYNTH_CLASSES;
/** The statistics window when none is given, ms. */
export const DEFAULT_STATS_WINDOW_MS = 24 * 3_600_000;

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

const storedDetectionsSchema = z.array(detectionSchema);
const storedLabelsSchema = z.array(labelBoxSchema);
const classesValueSchema = z.object({ classes: z.array(z.string().min(1)).min(1) });

function parseStored<T>(schema: z.ZodType<T>, text: string, what: string, id: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VisionLoopError('INTERNAL', `stored ${what} of item ${id} is not JSON`, {
      cause: error,
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new VisionLoopError('INTERNAL', `stored ${what} of item ${id} does not match its schema`);
  }
  return parsed.data;
}

/** Three decimals: sub-pixel precision without float noise in the stored JSON. */
function tidy(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Checks a reviewer's boxes against a `width`×`height` frame and the deployment's `classes`,
 * clipping an overshoot of at most BOX_OVERSHOOT_PX. Throws INVALID_ARGUMENT naming the first
 * bad box. Returns the boxes as stored.
 */
export function validateLabelBoxes(
  boxes: readonly LabelBox[],
  width: number,
  height: number,
  classes: readonly string[],
): LabelBox[] {
  const known = new Set(classes);
  return boxes.map(({ className, box }, index) => {
    const at = `boxes[${index}]`;
    if (!known.has(className)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: '${className}' is not a class of this deployment (${classes.join(', ')})`,
      );
    }
    if (!(box.x2 > box.x1 && box.y2 > box.y1)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: a box needs x2 > x1 and y2 > y1 (got ${box.x1},${box.y1} – ${box.x2},${box.y2}; zero-size boxes are refused)`,
      );
    }
    const o = BOX_OVERSHOOT_PX;
    if (box.x1 < -o || box.y1 < -o || box.x2 > width + o || box.y2 > height + o) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: (${box.x1},${box.y1} – ${box.x2},${box.y2}) lies outside the ${width}×${height} frame`,
      );
    }
    const clipped = {
      x1: tidy(Math.max(0, box.x1)),
      y1: tidy(Math.max(0, box.y1)),
      x2: tidy(Math.min(width, box.x2)),
      y2: tidy(Math.min(height, box.y2)),
    };
    if (clipped.x2 - clipped.x1 < MIN_BOX_SIDE_PX || clipped.y2 - clipped.y1 < MIN_BOX_SIDE_PX) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: boxes must be at least ${MIN_BOX_SIDE_PX} px wide and high inside the frame`,
      );
    }
    return { className, box: clipped };
  });
}

function isLive(row: LabelingQueueRow, now: number): boolean {
  return row.status === 'claimed' && row.lease_expires_at !== null && row.lease_expires_at >= now;
}

function effectiveStatus(row: LabelingQueueRow, now: number): EffectiveStatus {
  return row.status === 'claimed' && !isLive(row, now) ? 'pending' : row.status;
}

function frameOf(item: LabelingItemRow): { blob: string; width: number; height: number } | null {
  const blob = item.frame_blob ?? item.prediction_frame_blob;
  const width = item.width ?? item.prediction_width;
  const height = item.height ?? item.prediction_height;
  return blob === null || width === null || height === null ? null : { blob, width, height };
}

export class LabelingService {
  private readonly now: () => number;
  private readonly onQueueDepth: (status: EffectiveStatus, depth: number) => void;
  private readonly onBackgroundError: (error: unknown) => void;

  constructor(
    private readonly labeling: LabelingRepository,
    private readonly settings: SettingsRepository,
    private readonly events: EventBus,
    options: LabelingServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onQueueDepth = options.onQueueDepth ?? (() => undefined);
    this.onBackgroundError = options.onBackgroundError ?? (() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // settings

  async labelingSettings(): Promise<LabelingSettings> {
    const row = await this.settings.get(LABELING_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_LABELING_SETTINGS;
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      value = {};
    }
    const merged = labelingSettingsSchema.safeParse({
      ...DEFAULT_LABELING_SETTINGS,
      ...(typeof value === 'object' && value !== null ? value : {}),
      revision: row.revision,
    });
    return merged.success ? merged.data : { ...DEFAULT_LABELING_SETTINGS, revision: row.revision };
  }

  async updateLabelingSettings(
    changes: UpdateLabelingSettings,
    actor: Actor | null,
  ): Promise<LabelingSettings> {
    const next = await this.compareAndSet(LABELING_SETTINGS_KEY, actor, async () => {
      const current = await this.labelingSettings();
      return {
        requireApproval: changes.requireApproval ?? current.requireApproval,
        leaseSeconds: changes.leaseSeconds ?? current.leaseSeconds,
      };
    });
    return { ...next.value, revision: next.revision };
  }

  async classSettings(): Promise<ClassesSettings> {
    const row = await this.settings.get(CLASSES_SETTINGS_KEY);
    if (row === undefined) return { revision: 0, classes: [...DEFAULT_CLASSES] };
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      value = null;
    }
    const parsed = classesValueSchema.safeParse(value);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INTERNAL',
        `the stored '${CLASSES_SETTINGS_KEY}' setting is invalid`,
      );
    }
    return { revision: row.revision, classes: parsed.data.classes };
  }

  /** The deployment's class names, in class-id order. */
  async classNames(): Promise<string[]> {
    return (await this.classSettings()).classes;
  }

  /**
   * Replaces the class names. Once any label, reviewed label or snapshot exists, only appending
   * is allowed (class ids are positions: renaming or reordering would change what stored
   * labels mean). Names must be unique.
   */
  async updateClasses(
    request: UpdateClassesSettings,
    actor: Actor | null,
  ): Promise<ClassesSettings> {
    const names = request.classes;
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      throw new VisionLoopError('INVALID_ARGUMENT', `class '${duplicate}' is listed twice`);
    }
    const next = await this.compareAndSet(CLASSES_SETTINGS_KEY, actor, async () => {
      const current = await this.classNames();
      const keepsPrefix = current.every((name, i) => names[i] === name);
      if (!keepsPrefix && (await this.labeling.anyLabelUsesClasses())) {
        throw new VisionLoopError(
          'CONFLICT',
          `labels already use the classes ${current.join(', ')}: new classes may only be appended`,
        );
      }
      return { classes: names };
    });
    return { revision: next.revision, classes: next.value.classes };
  }

  /** Appends `names` the deployment does not know yet; returns the full list. */
  async addClasses(names: readonly string[], actor: Actor | null): Promise<string[]> {
    const next = await this.compareAndSet(CLASSES_SETTINGS_KEY, actor, async () => {
      const current = await this.classNames();
      return { classes: [...current, ...names.filter((name) => !current.includes(name))] };
    });
    return next.value.classes;
  }

  private async compareAndSet<T>(
    key: string,
    actor: Actor | null,
    compute: () => Promise<T>,
  ): Promise<{ value: T; revision: number }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const row = await this.settings.get(key);
      const value = await compute();
      const text = JSON.stringify(value);
      const by = actor?.tokenId ?? null;
      const won =
        row === undefined
          ? await this.settings.insertFirst(key, text, now, by)
          : await this.settings.replaceIfRevision(key, row.revision, text, now, by);
      if (won) return { value, revision: row === undefined ? 1 : row.revision + 1 };
    }
    throw new VisionLoopError('CONFLICT', `the '${key}' setting kept changing; try again`);
  }

  // -------------------------------------------------------------------------------------------
  // reading

  async list(query: QueueListQuery): Promise<QueueListResponse> {
    const now = this.now();
    const filter = { status: query.status, camera: query.camera, reason: query.reason, now };
    const [rows, total] = await Promise.all([
      this.labeling.list(filter, query.limit, query.offset),
      this.labeling.count(filter),
    ]);
    return {
      items: await this.toItems(rows, now),
      total,
      limit: query.limit,
      offset: query.offset,
    };
  }

  async get(id: string): Promise<LabelingItem> {
    const row = await this.requireItem(id);
    return (await this.toItems([row], this.now()))[0] as LabelingItem;
  }

  async history(query: HistoryQuery): Promise<HistoryResponse> {
    const before =
      query.cursor === undefined
        ? undefined
        : (() => {
            const position = decodeCursor(query.cursor);
            return { labeledAt: position.capturedAt, id: position.id };
          })();
    const rows = await this.labeling.history({
      reviewer: query.reviewer,
      status: query.status,
      before,
      limit: query.limit + 1,
    });
    const more = rows.length > query.limit;
    const page = more ? rows.slice(0, query.limit) : rows;
    const last = page.at(-1);
    return {
      items: await this.toItems(page, this.now()),
      nextCursor:
        more && last !== undefined && last.labeled_at !== null
          ? encodeCursor({ capturedAt: last.labeled_at, id: last.id })
          : null,
    };
  }

  async stats(query: StatsQuery): Promise<StatsResponse> {
    const now = this.now();
    const until = query.until ?? now;
    const since = query.since ?? Math.max(0, until - DEFAULT_STATS_WINDOW_MS);
    if (since >= until) {
      throw new VisionLoopError('INVALID_ARGUMENT', 'since must be before until');
    }
    const [byStatus, reviewedLabels, activity, approvals] = await Promise.all([
      this.labeling.countsByStatus(now),
      this.labeling.countReviewedLabels(),
      this.labeling.reviewerActivity(since, until),
      this.labeling.reviewerApprovals(since, until),
    ]);
    const counts = Object.fromEntries(
      LABELING_STATUSES.map((status) => [status, byStatus.get(status) ?? 0]),
    ) as Record<LabelingStatus, number>;
    const total = LABELING_STATUSES.reduce((sum, status) => sum + counts[status], 0);
    const hours = (until - since) / 3_600_000;

    interface Tally {
      labeled: number;
      skipped: number;
      flagged: number;
      approved: number;
      rejected: number;
      reviewed: number;
      leadSum: number;
      leadCount: number;
    }
    const tallies = new Map<string, Tally>();
    const tallyOf = (id: string): Tally => {
      let tally = tallies.get(id);
      if (tally === undefined) {
        tally = {
          labeled: 0,
          skipped: 0,
          flagged: 0,
          approved: 0,
          rejected: 0,
          reviewed: 0,
          leadSum: 0,
          leadCount: 0,
        };
        tallies.set(id, tally);
      }
      return tally;
    };
    let actions = 0;
    for (const row of activity) {
      const tally = tallyOf(row.reviewer);
      actions += row.items;
      if (row.status === 'skipped') tally.skipped += row.items;
      else if (row.status === 'flagged') tally.flagged += row.items;
      else tally.labeled += row.items;
      if (row.status === 'approved') tally.approved += row.items;
      if (row.status === 'rejected') tally.rejected += row.items;
      tally.leadSum += row.leadTimeSum ?? 0;
      tally.leadCount += row.leadTimeCount;
    }
    for (const row of approvals) tallyOf(row.reviewer).reviewed += row.items;
    const names = await this.labeling.tokenNames([...tallies.keys()]);
    const reviewers: ReviewerStats[] = [...tallies.entries()]
      .map(([id, t]) => ({
        reviewer: isSimulatedReviewerName(names.get(id))
          ? { id, name: names.get(id) ?? null, simulated: true }
          : { id, name: names.get(id) ?? null },
        labeled: t.labeled,
        skipped: t.skipped,
        flagged: t.flagged,
        approvedOfTheirs: t.approved,
        rejectedOfTheirs: t.rejected,
        reviewed: t.reviewed,
        meanLeadTimeMs: t.leadCount === 0 ? null : Math.round(t.leadSum / t.leadCount),
        itemsPerHour: round3((t.labeled + t.skipped + t.flagged) / hours),
      }))
      .sort((a, b) => b.labeled - a.labeled || a.reviewer.id.localeCompare(b.reviewer.id));
    return {
      counts: { ...counts, total },
      reviewedLabels,
      window: { since, until },
      actions,
      actionsPerHour: round3(actions / hours),
      reviewers,
    };
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

  private async requireItem(id: string): Promise<LabelingItemRow> {
    const row = await this.labeling.findById(id);
    if (row === undefined) {
      throw new VisionLoopError('NOT_FOUND', `no labeling-queue item with id ${id}`);
    }
    return row;
  }

  private async itemAfter(row: LabelingQueueRow, now: number): Promise<LabelingItem> {
    const [full] = await this.labeling.withPredictions([row]);
    return (await this.toItems(full === undefined ? [] : [full], now))[0] as LabelingItem;
  }

  private async toItems(rows: readonly LabelingItemRow[], now: number): Promise<LabelingItem[]> {
    const names = await this.labeling.tokenNames(
      rows.flatMap((row) =>
        [row.claimed_by, row.labeled_by, row.reviewed_by].filter((id): id is string => id !== null),
      ),
    );
    const reviewer = (id: string | null): Reviewer | null => {
      if (id === null) return null;
      const name = names.get(id) ?? null;
      return isSimulatedReviewerName(name) ? { id, name, simulated: true } : { id, name };
    };
    return rows.map((row) => {
      const live = isLive(row, now);
      const claimer = reviewer(row.claimed_by);
      return {
        id: row.id,
        predictionId: row.prediction_id,
        camera: row.camera,
        capturedAt: row.captured_at,
        frameUrl:
          row.prediction_id !== null && (row.frame_blob ?? row.prediction_frame_blob) !== null
            ? `/api/frames/${encodeURIComponent(row.prediction_id)}`
            : null,
        width: row.width ?? row.prediction_width,
        height: row.height ?? row.prediction_height,
        status: effectiveStatus(row, now),
        priority: row.priority,
        reason: row.reason,
        modelVersion: row.model_version,
        preLabels: parseStored(storedDetectionsSchema, row.pre_labels, 'pre-labels', row.id),
        claim:
          live && claimer !== null && row.claimed_at !== null && row.lease_expires_at !== null
            ? { reviewer: claimer, claimedAt: row.claimed_at, expiresAt: row.lease_expires_at }
            : null,
        labels:
          row.labels === null
            ? null
            : parseStored(storedLabelsSchema, row.labels, 'labels', row.id),
        labeledBy: reviewer(row.labeled_by),
        labeledAt: row.labeled_at,
        leadTimeMs: row.lead_time_ms,
        notes: row.notes,
        flaggedReason: row.flagged_reason,
        reviewedBy: reviewer(row.reviewed_by),
        reviewedAt: row.reviewed_at,
        reviewNotes: row.review_notes,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      };
    });
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
