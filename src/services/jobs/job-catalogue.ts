/**
 * The job catalogue: every job name with its payload schema and run limits. Job names are
 * dotted (`area.verb`). It sits with the queue in services/ because the queue (and the services
 * that enqueue) need the names and limits; src/jobs/ maps the names to handlers. Adding a job
 * takes two edits:
 *
 *   1. here: `'area.verb': { payload: areaVerbPayloadSchema, maxAttempts, timeoutMs },`
 *      (the payload schema in src/shared/api/, beside its area's contract)
 *   2. in src/jobs/job-handlers.ts: `'area.verb': (payload, context) => deps.area.verb(payload,
 *      context),` (plus the service in `JobHandlerDeps`); the compiler names a name without a
 *      handler.
 *
 * Payloads are parsed with the schema when enqueued and again when claimed (a payload stored by
 * an older build that no longer parses fails the job without retries).
 */
import { z } from 'zod';
import { driftCheckPayloadSchema } from '../../shared/api/drift.js';
import { probePayloadSchema, retentionRunPayloadSchema } from '../../shared/api/jobs.js';
import { trainingRunPayloadSchema } from '../../shared/api/retraining.js';

/** `rollout.evaluate` takes nothing: it evaluates every running canary. */
export const rolloutEvaluatePayloadSchema = z.strictObject({});
export type RolloutEvaluatePayload = z.output<typeof rolloutEvaluatePayloadSchema>;

export interface JobDefinition {
  /** Parses the payload; its output is what the handler gets. */
  readonly payload: z.ZodType;
  /** Attempts before the job fails; a worker lost mid-attempt counts as one. */
  readonly maxAttempts: number;
  /** An attempt running longer than this is aborted (signal reason `timeout`) and failed. */
  readonly timeoutMs: number;
  /** Backoff before retry n: min(maxMs, baseMs · 2^(n−1)). Default 5 s, 5 min. */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  /** For people (docs, `visionloop worker --help`). */
  readonly description: string;
}

export const JOB_DEFINITIONS = {
  'drift.check': {
    payload: driftCheckPayloadSchema,
    // A check is cheap and the next scheduled one comes soon: retry briefly, then let it go.
    maxAttempts: 2,
    timeoutMs: 5 * 60_000,
    retry: { baseMs: 5_000, maxMs: 30_000 },
    description: "compare a camera's recent frames with its baseline; store a drift report",
  },
  'training.run': {
    payload: trainingRunPayloadSchema,
    // A worker lost mid-training (or a trainer crash) gets one more try; after that the
    // policy's cooldown paces new trainings.
    maxAttempts: 2,
    timeoutMs: 6 * 60 * 60_000,
    retry: { baseMs: 10_000, maxMs: 300_000 },
    description:
      'retrain: snapshot reviewed labels, train a candidate, evaluate it against production, register it, apply the promotion gate',
  },
  'retention.run': {
    payload: retentionRunPayloadSchema,
    // Idempotent and resumable (it deletes what is still old): the next period finishes a
    // pass cut short.
    maxAttempts: 2,
    timeoutMs: 60 * 60_000,
    retry: { baseMs: 60_000, maxMs: 600_000 },
    description:
      'delete prediction rows and frames older than the retention, in small batches; frames of labels and datasets are kept',
  },
  'rollout.evaluate': {
    payload: rolloutEvaluatePayloadSchema,
    // Cheap, and the next period (15 s) comes soon: no retries worth waiting for.
    maxAttempts: 1,
    timeoutMs: 60_000,
    description:
      "compare each running canary's live metrics with the baseline's; roll back on a breach, promote when clean",
  },
  'system.probe': {
    payload: probePayloadSchema,
    maxAttempts: 3,
    timeoutMs: 15 * 60_000,
    description: 'diagnostic: wait, reporting progress (proves workers end to end)',
  },
} as const satisfies Record<string, JobDefinition>;

export type JobName = keyof typeof JOB_DEFINITIONS;

/** What the handler of `N` receives (the schema's output). */
export type JobPayload<N extends JobName> = z.output<(typeof JOB_DEFINITIONS)[N]['payload']>;
/** What `enqueue` accepts for `N` (the schema's input: defaults may be left out). */
export type JobPayloadInput<N extends JobName> = z.input<(typeof JOB_DEFINITIONS)[N]['payload']>;

/** One job a periodic schedule entry wants enqueued (src/jobs/job-scheduler.ts fires them). */
export type ScheduledJob = {
  [N in JobName]: {
    name: N;
    payload: JobPayloadInput<N>;
    /** Required: it is what keeps two periods from stacking up. */
    dedupeKey: string;
    priority?: number;
  };
}[JobName];

export function isJobName(value: string): value is JobName {
  return Object.hasOwn(JOB_DEFINITIONS, value);
}

/** Every job name, in catalogue order. */
export const JOB_NAMES: readonly JobName[] = Object.keys(JOB_DEFINITIONS).filter(isJobName);

export const DEFAULT_RETRY = { baseMs: 5_000, maxMs: 300_000 } as const;

export function jobDefinition(name: JobName): JobDefinition {
  return JOB_DEFINITIONS[name];
}

/** Delay before the retry that follows failed attempt `attempt` (1-based), ms. */
export function retryDelayMs(name: JobName, attempt: number): number {
  const { baseMs, maxMs } = jobDefinition(name).retry ?? DEFAULT_RETRY;
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
