/**
 * The dataset-snapshot contract: immutable YOLO data sets built from reviewed labels (with an
 * optional replay sample of earlier snapshots) or imported from an existing YOLO data set,
 * each named by the sha256 of its manifest. Browser-safe (zod only). docs/labeling.md.
 */
import { z } from 'zod';
import { epochMsSchema, plainText } from './common.js';
import { queryBooleanSchema } from './query.js';

/** A dataset id: the sha256 (hex) of its manifest. */
export const DATASET_ID_PATTERN = /^[0-9a-f]{64}$/;
export const datasetIdSchema = z.string().regex(DATASET_ID_PATTERN, 'a dataset id (64 hex digits)');

export const datasetNameSchema = plainText(z.string().trim().min(1).max(100));

export const datasetCountsSchema = z
  .strictObject({
    images: z.number().int().min(0),
    train: z.number().int().min(0),
    val: z.number().int().min(0),
    boxes: z.number().int().min(0),
    /** Images without any object (their label file is empty). */
    empty: z.number().int().min(0),
    /** Boxes per class name. */
    perClass: z.record(z.string(), z.number().int().min(0)),
    /**
     * Images whose reviewed label came from the demo's simulated reviewer (a token named
     * `simulated-…`, labeling.ts `simulated`), replayed ones included; 0 on imports. Absent on
     * data sets stored before it was counted.
     */
    simulatedLabels: z.number().int().min(0).optional(),
  })
  .meta({ id: 'DatasetCounts' });
export type DatasetCounts = z.infer<typeof datasetCountsSchema>;

export const replaySourceSchema = z
  .strictObject({
    /** Earlier snapshots to sample from (default: the parent). */
    datasetIds: z.array(datasetIdSchema).min(1).max(50).optional(),
    /** How many earlier images to take … */
    count: z.number().int().min(0).max(10_000_000).optional(),
    /** … or which share of them (0..1). Neither: all of them. */
    fraction: z.number().min(0).max(1).optional(),
    /** The sample is a function of the seed and the image ids only. */
    seed: z.number().int().min(0).max(0xffffffff).optional(),
  })
  .refine((value) => value.count === undefined || value.fraction === undefined, {
    message: 'give count or fraction, not both',
  })
  .meta({ id: 'ReplaySource' });
export type ReplaySource = z.infer<typeof replaySourceSchema>;

/** How a snapshot was made; not part of its name. */
export const datasetProvenanceSchema = z
  .strictObject({
    kind: z.enum(['snapshot', 'import']),
    /** Reviewed labels created at or after this time were taken (null: all). */
    reviewedSince: epochMsSchema.nullable(),
    /** Images taken from reviewed labels. */
    reviewedImages: z.number().int().min(0),
    replay: z
      .strictObject({
        datasetIds: z.array(z.string()),
        seed: z.number().int(),
        /** Images the sources offered (not already among the reviewed ones). */
        candidates: z.number().int().min(0),
        sampled: z.number().int().min(0),
      })
      .nullable(),
    /** Import: what the data set was called, and what the import had to say. */
    importedFrom: z.string().nullable(),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'DatasetProvenance' });
export type DatasetProvenance = z.infer<typeof datasetProvenanceSchema>;

export const datasetInfoSchema = z
  .strictObject({
    id: datasetIdSchema,
    parentId: z.string().nullable(),
    source: z.enum(['snapshot', 'import']),
    name: z.string().nullable(),
    classNames: z.array(z.string()),
    counts: datasetCountsSchema,
    provenance: datasetProvenanceSchema,
    createdAt: epochMsSchema,
    createdBy: z.string().nullable(),
  })
  .meta({ id: 'DatasetInfo' });
export type DatasetInfo = z.infer<typeof datasetInfoSchema>;

export const datasetListResponseSchema = z
  .strictObject({ datasets: z.array(datasetInfoSchema) })
  .meta({ id: 'DatasetList' });
export type DatasetListResponse = z.infer<typeof datasetListResponseSchema>;

export const datasetIdParamsSchema = z.strictObject({ id: datasetIdSchema });

export const createSnapshotRequestSchema = z
  .strictObject({
    name: datasetNameSchema.optional(),
    /** Take reviewed labels created at or after this time (default: all of them). */
    reviewedSince: epochMsSchema.optional(),
    /** The snapshot this one follows (recorded; the default replay source). */
    parentId: datasetIdSchema.optional(),
    /** A sample of earlier data to mix in (against forgetting when fine-tuning). */
    replay: replaySourceSchema.optional(),
  })
  .meta({ id: 'CreateSnapshot' });
export type CreateSnapshotRequest = z.infer<typeof createSnapshotRequestSchema>;

/** Answer to creating or importing a snapshot. */
export const snapshotResultSchema = z
  .strictObject({
    dataset: datasetInfoSchema,
    /** False when a snapshot with the same manifest already existed (nothing was written). */
    created: z.boolean(),
  })
  .meta({ id: 'SnapshotResult' });
export type SnapshotResult = z.infer<typeof snapshotResultSchema>;

export const importQuerySchema = z
  .strictObject({
    name: datasetNameSchema.optional(),
    /** Append the data set's class names the deployment does not know (default: refuse). */
    addClasses: queryBooleanSchema.optional(),
  })
  .meta({ id: 'DatasetImportQuery' });
export type ImportQuery = z.output<typeof importQuerySchema>;
