/**
 * What a job handler is: a function of the payload (parsed by its catalogue schema) and a
 * `JobContext`. The context and the errors handlers throw live in
 * services/jobs/job-context.ts, where the services that run as jobs find them too.
 *
 * Types only; the worker (job-worker.ts) runs handlers.
 */
import type { JobName, JobPayload } from '../services/jobs/job-catalogue.js';
import type { JobContext, JsonValue } from '../services/jobs/job-context.js';

/** Runs one job; the returned JSON (if any) is stored as the job's result. */
export type JobHandler<N extends JobName> = (
  payload: JobPayload<N>,
  context: JobContext,
) => Promise<JsonValue | undefined>;

/** One handler for every job name: the compiler names a missing one. */
export type JobHandlers = { readonly [N in JobName]: JobHandler<N> };

/** Handlers for some job names: a worker claims only the jobs it has a handler for. */
export type JobHandlerMap = { readonly [N in JobName]?: JobHandler<N> };
