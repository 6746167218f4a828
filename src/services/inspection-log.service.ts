/**
 * Inspection logs: stored frame results, newest first, filtered and paged, each with what the
 * later stages said (`stages`), the rule that decided (`decidedBy`) and the output of the
 * shadow model that ran beside it (`shadow`, from `shadow_predictions`), when there are any.
 *
 * The cursor is opaque to clients: base64url of `<captured_at>:<id>` of the last item of a
 * page; the next page starts strictly after it in (captured_at desc, id desc) order, so pages
 * never skip or repeat a result even when many share a capture time or new results arrive.
 */
import { z } from 'zod';
import type {
  PredictionRepository,
  PredictionWithShadowRow,
} from '../repositories/prediction.repository.js';
import { ID_PATTERN } from '../shared/api/common.js';
import {
  detectionSchema,
  frameFeaturesSchema,
  inspectionStagesSchema,
} from '../shared/api/ingest.js';
import type {
  InspectionLogItem,
  InspectionLogsQuery,
  InspectionLogsResponse,
} from '../shared/api/inspection-logs.js';
import type { ShadowResult } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

export interface CursorPosition {
  capturedAt: number;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.capturedAt}:${position.id}`, 'utf8').toString('base64url');
}

/** INVALID_ARGUMENT unless `cursor` came from `encodeCursor`. */
export function decodeCursor(cursor: string): CursorPosition {
  const text = /^[A-Za-z0-9_-]*$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  const match = /^(\d{1,16}):(.+)$/.exec(text);
  const capturedAt = Number(match?.[1]);
  const id = match?.[2];
  if (id === undefined || !ID_PATTERN.test(id) || !Number.isSafeInteger(capturedAt)) {
    throw new VisionLoopError('INVALID_ARGUMENT', 'cursor is not one this server issued');
  }
  return { capturedAt, id };
}

const storedDetectionsSchema = z.array(detectionSchema);

function parseStored<T>(schema: z.ZodType<T>, text: string, what: string, id: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VisionLoopError('INTERNAL', `stored ${what} of result ${id} is not JSON`, {
      cause: error,
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new VisionLoopError(
      'INTERNAL',
      `stored ${what} of result ${id} does not match its schema`,
    );
  }
  return parsed.data;
}

/** The stored shadow output of a result; undefined when no shadow ran beside it. */
function shadowOf(row: PredictionWithShadowRow): ShadowResult | undefined {
  if (
    row.shadow_model_version === null ||
    row.shadow_detections === null ||
    row.shadow_decision === null
  ) {
    return undefined;
  }
  return {
    version: row.shadow_model_version,
    detections: parseStored(storedDetectionsSchema, row.shadow_detections, 'shadow', row.id),
    decision: row.shadow_decision,
    disagreement: row.shadow_disagreement ?? 0,
    disagrees: row.shadow_disagrees === 1,
    inferenceMs: row.shadow_inference_ms ?? 0,
  };
}

export function toInspectionLogItem(row: PredictionWithShadowRow): InspectionLogItem {
  const shadow = shadowOf(row);
  return {
    id: row.id,
    camera: row.camera,
    frameIndex: row.frame_index,
    capturedAt: row.captured_at,
    width: row.width,
    height: row.height,
    detections: parseStored(storedDetectionsSchema, row.detections, 'detections', row.id),
    uncertain: row.uncertain === 1,
    decision: row.decision,
    features: parseStored(frameFeaturesSchema, row.features, 'features', row.id),
    latencies: {
      queueMs: row.queue_ms,
      preprocessMs: row.preprocess_ms,
      inferenceMs: row.inference_ms,
      postprocessMs: row.postprocess_ms,
      totalMs: row.total_ms,
    },
    modelVersion: row.model_version,
    inferred: row.inferred === 1,
    receivedAt: row.received_at,
    agentId: row.agent_id,
    hasFrame: row.frame_blob !== null,
    ...(row.stages === null
      ? {}
      : { stages: parseStored(inspectionStagesSchema, row.stages, 'stages', row.id) }),
    ...(row.decided_by === null ? {} : { decidedBy: row.decided_by }),
    ...(shadow === undefined ? {} : { shadow }),
  };
}

export class InspectionLogService {
  constructor(private readonly predictions: PredictionRepository) {}

  /** One stored result; NOT_FOUND when no result has `id`. */
  async get(id: string): Promise<InspectionLogItem> {
    const row = await this.predictions.findById(id);
    if (row === undefined)
      throw new VisionLoopError('NOT_FOUND', `no stored result has id '${id}'`);
    return toInspectionLogItem(row);
  }

  async page(query: InspectionLogsQuery): Promise<InspectionLogsResponse> {
    const rows = await this.predictions.page({
      from: query.from,
      to: query.to,
      camera: query.camera,
      className: query.class,
      decision: query.decision,
      uncertain: query.uncertain,
      modelVersion: query.modelVersion,
      decidedBy: query.decidedBy,
      shadowDisagrees: query.shadowDisagrees,
      before: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: query.limit + 1,
    });
    const more = rows.length > query.limit;
    const items = (more ? rows.slice(0, query.limit) : rows).map(toInspectionLogItem);
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        more && last !== undefined
          ? encodeCursor({ capturedAt: last.capturedAt, id: last.id })
          : null,
    };
  }
}
