/**
 * `system.probe`: a diagnostic job that waits `durationMs` in `steps`, reporting progress after
 * each, and honours its signal. It proves a deployment's workers end to end (claim, progress,
 * cancel, lease recovery) without touching any data; the worker tests use it too.
 */
import { z } from 'zod';
import type { JobContext, JsonValue } from './job-handler.js';

export const probePayloadSchema = z.strictObject({
  /** How long the job runs, ms (at most 10 minutes). */
  durationMs: z.number().int().min(0).max(600_000).default(1000),
  /** Progress reports over the run. */
  steps: z.number().int().min(1).max(1000).default(10),
});
export type ProbePayload = z.output<typeof probePayloadSchema>;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runProbe(payload: ProbePayload, context: JobContext): Promise<JsonValue> {
  const started = Date.now();
  const step = payload.durationMs / payload.steps;
  for (let i = 1; i <= payload.steps; i++) {
    await sleep(step, context.signal);
    context.reportProgress({ fraction: i / payload.steps, step: i, steps: payload.steps });
  }
  return { sleptMs: Date.now() - started, attempt: context.attempt };
}
