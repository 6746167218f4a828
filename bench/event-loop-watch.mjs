/**
 * Preloaded into `visionloop up` by bench/loop.bench.ts (`node --import`): watches the
 * process's main event loop and reports every stall, so an unanswered `/api/health` poll can be
 * put next to what the server was doing at that moment.
 *
 * A 50-ms timer measures how late it fires; a lateness of ≥ VISIONLOOP_ELD_STALL_MS (300) is
 * printed on stderr as `[eld] stall <ms> ms ending <ISO time>`, and on exit one line
 * `[eld] summary {"p50Ms":…,"p99Ms":…,"maxMs":…,"stalls":…}` from perf_hooks'
 * monitorEventLoopDelay histogram (which sees the same delays at a finer resolution).
 */
import process from 'node:process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setInterval } from 'node:timers';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) watch();

function watch() {
  const stallMs = Number(process.env.VISIONLOOP_ELD_STALL_MS ?? 300);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const tick = 50;
  let expected = performance.now() + tick;
  let stalls = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    expected = now + tick;
    if (late >= stallMs) {
      stalls += 1;
      process.stderr.write(
        `[eld] stall ${Math.round(late)} ms ending ${new Date().toISOString()}\n`,
      );
    }
  }, tick);
  timer.unref();
  process.once('exit', () => {
    histogram.disable();
    const ms = (ns) => Math.round(ns / 1e5) / 10;
    process.stderr.write(
      `[eld] summary ${JSON.stringify({
        p50Ms: ms(histogram.percentile(50)),
        p99Ms: ms(histogram.percentile(99)),
        maxMs: ms(histogram.max),
        stalls,
      })}\n`,
    );
  });
}
