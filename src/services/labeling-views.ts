/**
 * The labeling queue as people read it: pages of items (status, camera, reason), one item,
 * a reviewer's history, and the per-reviewer statistics of a window. Read-only: it never
 * changes an item.
 */
import { z } from 'zod';
import type { LabelingQueueRow, LabelingStatus } from '../db/schema.js';
import type { LabelingItemRow, LabelingRepository } from '../repositories/labeling.repository.js';
import { detectionSchema } from '../shared/api/ingest.js';
import type {
  HistoryQuery,
  HistoryResponse,
  LabelingAlternative,
  LabelingItem,
  QueueListQuery,
  QueueListResponse,
  Reviewer,
  ReviewerStats,
  StatsQuery,
  StatsResponse,
} from '../shared/api/labeling.js';
import {
  LABELING_STATUSES,
  isSimulatedReviewerName,
  labelBoxSchema,
} from '../shared/api/labeling.js';
import { VisionLoopError } from '../shared/errors.js';
import { decodeCursor, encodeCursor } from './inspection-log.service.js';
import { effectiveStatus, isLive } from './labeling-rules.js';
import { scaleDetections } from './sampling.service.js';

/** The statistics window when none is given, ms. */
export const DEFAULT_STATS_WINDOW_MS = 24 * 3_600_000;

const storedDetectionsSchema = z.array(detectionSchema);
const storedLabelsSchema = z.array(labelBoxSchema);

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

export class LabelingViews {
  constructor(
    private readonly labeling: LabelingRepository,
    private readonly now: () => number,
  ) {}

  async list(query: QueueListQuery): Promise<QueueListResponse> {
    const now = this.now();
    const filter = {
      status: query.status,
      camera: query.camera,
      reason: query.reason,
      strategy: query.strategy,
      now,
    };
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

  async requireItem(id: string): Promise<LabelingItemRow> {
    const row = await this.labeling.findById(id);
    if (row === undefined) {
      throw new VisionLoopError('NOT_FOUND', `no labeling-queue item with id ${id}`);
    }
    return row;
  }

  /** The item as the API shows it, after a change to its row. */
  async itemAfter(row: LabelingQueueRow, now: number): Promise<LabelingItem> {
    const [full] = await this.labeling.withPredictions([row]);
    return (await this.toItems(full === undefined ? [] : [full], now))[0] as LabelingItem;
  }

  async toItems(rows: readonly LabelingItemRow[], now: number): Promise<LabelingItem[]> {
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
        strategy: row.strategy,
        strategyScore: row.strategy_score,
        modelVersion: row.model_version,
        preLabels: parseStored(storedDetectionsSchema, row.pre_labels, 'pre-labels', row.id),
        alternatives: alternativesOf(row),
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

/**
 * The shadow model's boxes for the item's frame, in the stored frame's pixels (scaled like the
 * pre-labels when the frame was stored at another size than the result's).
 */
function alternativesOf(row: LabelingItemRow): LabelingAlternative[] {
  const shadow = row.shadow;
  if (shadow === null) return [];
  const detections = parseStored(storedDetectionsSchema, shadow.detections, 'shadow', row.id);
  const width = row.width ?? row.prediction_width;
  const height = row.height ?? row.prediction_height;
  const sx = width !== null && row.prediction_width ? width / row.prediction_width : 1;
  const sy = height !== null && row.prediction_height ? height / row.prediction_height : 1;
  return [
    {
      source: 'shadow',
      modelVersion: shadow.model_version,
      detections: scaleDetections(detections, sx, sy),
      decision: shadow.decision,
      disagreement: shadow.disagreement,
    },
  ];
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
