/**
 * `system.probe`: a diagnostic job that waits `durationMs` in `steps`, reporting progress after
 * each, and honours its signal. It proves a deployment's workers end to end (claim, progress,
 * cancel, lease recovery) without touching any data; the worker tests use it too.
 */
import type { ProbePayload } from '../shared/api/jobs.js';
import type { JobContext, JsonValue } from '../services/jobs/job-context.js';

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
