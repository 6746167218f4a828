/**
 * The `/api/jobs` contract: the background jobs workers run (drift checks, dataset snapshots,
 * training, evaluation), with their state, progress and outcome. Browser-safe (zod only).
 *
 * A job moves queued → running → succeeded | failed | cancelled; a failed attempt with attempts
 * left goes back to queued with a later `runAt` (backoff). See docs/jobs.md.
 */
import { z } from 'zod';
import { epochMsSchema, idSchema } from './common.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatusName = z.infer<typeof jobStatusSchema>;

/** Statuses a job never leaves (except by an explicit retry). */
export const FINISHED_JOB_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;

/** Dotted job names: `area.verb`, lowercase letters, digits and `-`/`_` in each part. */
export const JOB_NAME_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;
export const jobNameSchema = z
  .string()
  .max(64)
  .regex(JOB_NAME_PATTERN, 'a dotted job name such as drift.check');

/** The `system.probe` job's payload (a diagnostic job: it waits, reporting progress). */
export const probePayloadSchema = z.strictObject({
  /** How long the job runs, ms (at most 10 minutes). */
  durationMs: z.number().int().min(0).max(600_000).default(1000),
  /** Progress reports over the run. */
  steps: z.number().int().min(1).max(1000).default(10),
});
export type ProbePayload = z.output<typeof probePayloadSchema>;

/** The `retention.run` job's payload (docs/operations.md, Retention). */
export const retentionRunPayloadSchema = z.strictObject({
  /** Keep this many days instead of the configured retention (a manual run). */
  days: z.number().int().min(1).max(36_500).optional(),
});
export type RetentionRunPayload = z.output<typeof retentionRunPayloadSchema>;

/** A JSON object (progress, payload, result). */
const jsonObjectSchema = z.record(z.string(), z.unknown());

export const jobViewSchema = z
  .strictObject({
    id: idSchema,
    name: z.string(),
    status: jobStatusSchema,
    /** Higher runs first. */
    priority: z.number().int(),
    /** Unique among queued and running jobs; kept after completion. */
    dedupeKey: z.string().nullable(),
    /** Attempts started so far (a worker lost mid-attempt counts). */
    attempts: z.number().int().min(0),
    maxAttempts: z.number().int().min(1),
    /** Not run before this time (retry backoff, schedules). */
    runAt: epochMsSchema,
    /** The worker holding the lease while running. */
    leaseOwner: z.string().nullable(),
    leaseExpiresAt: epochMsSchema.nullable(),
    /** A cancel was asked while it ran; the worker stops it at its next lease renewal. */
    cancelRequested: z.boolean(),
    payload: z.unknown(),
    /** The handler's last report, e.g. `{ "fraction": 0.4, "stage": "training" }`. */
    progress: jsonObjectSchema.nullable(),
    /** What the handler returned. */
    result: z.unknown().nullable(),
    /** The last attempt's error. */
    error: z.string().nullable(),
    createdAt: epochMsSchema,
    updatedAt: epochMsSchema,
    startedAt: epochMsSchema.nullable(),
    finishedAt: epochMsSchema.nullable(),
  })
  .meta({ id: 'Job' });
export type JobView = z.infer<typeof jobViewSchema>;

const statusListParam = z
  .string()
  .max(128)
  .transform((value, ctx) => {
    const statuses = new Set<JobStatusName>();
    for (const part of value.split(',')) {
      const name = part.trim();
      if (name === '') continue;
      const parsed = jobStatusSchema.safeParse(name);
      if (!parsed.success) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown job status "${name}"; use ${JOB_STATUSES.join(', ')}`,
        });
        return z.NEVER;
      }
      statuses.add(parsed.data);
    }
    return [...statuses];
  });

/** `createdAt:id` of the last job of a page. */
export const JOB_CURSOR_PATTERN = /^\d{1,16}:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const jobListQuerySchema = z.strictObject({
  name: jobNameSchema.optional().describe('only jobs with this name'),
  status: statusListParam
    .optional()
    .describe('comma-separated statuses (queued, running, succeeded, failed, cancelled)'),
  dedupeKey: z.string().min(1).max(256).optional().describe('only jobs with this dedupe key'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('page size'),
  before: z
    .string()
    .regex(JOB_CURSOR_PATTERN, 'a cursor from a previous page (nextCursor)')
    .optional()
    .describe('the nextCursor of the previous page'),
});
export type JobListQuery = z.output<typeof jobListQuerySchema>;

export const jobListResponseSchema = z
  .strictObject({
    /** Newest first. */
    jobs: z.array(jobViewSchema),
    /** Pass as `before` for the next page; null on the last page. */
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'JobList' });
export type JobListResponse = z.infer<typeof jobListResponseSchema>;

/** A job worker alive now (it heartbeats; gone once `expiresAt` passes unheard). */
export const jobWorkerSchema = z
  .strictObject({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    jobNames: z.array(z.string()),
    concurrency: z.number().int().min(0),
    startedAt: epochMsSchema,
    expiresAt: epochMsSchema,
  })
  .meta({ id: 'JobWorker' });
export type JobWorker = z.infer<typeof jobWorkerSchema>;

export const jobWorkersResponseSchema = z
  .strictObject({ serverTime: epochMsSchema, workers: z.array(jobWorkerSchema) })
  .meta({ id: 'JobWorkers' });
export type JobWorkersResponse = z.infer<typeof jobWorkersResponseSchema>;

export const jobIdParamsSchema = z.strictObject({ id: idSchema });
