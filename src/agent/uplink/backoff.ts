/**
 * Retry timing for the agent's calls to the server: full-jitter exponential backoff and an
 * abortable sleep. Shared by the send loop (sender.ts) and the model updater
 * (../model-updater.ts), which both retry the same server; pure timing, no I/O.
 */

/** Full-jitter exponential backoff: uniform in [0, min(cap, base × 2^attempt)). */
export function backoffDelay(
  attempt: number,
  random: () => number,
  baseMs: number,
  capMs: number,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 52));
  return random() * ceiling;
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}
