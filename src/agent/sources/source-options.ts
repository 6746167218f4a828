/**
 * Validation of the options every frame source shares (fps, maxFrames, seed, size), so a bad
 * value is one clear INVALID_ARGUMENT at open time rather than odd behaviour later.
 */
import { VisionLoopError } from '../../shared/errors.js';
import type { OpenSourceOptions } from '../frame-source.js';

function check(condition: boolean, message: string): void {
  if (!condition) throw new VisionLoopError('INVALID_ARGUMENT', message);
}

export function validateSourceOptions(options: OpenSourceOptions): void {
  const { fps, maxFrames, seed, width, height } = options;
  if (fps !== undefined) {
    check(Number.isFinite(fps) && fps >= 0, `fps must be a number >= 0 (0 = unpaced), got ${fps}`);
  }
  if (maxFrames !== undefined) {
    check(
      Number.isInteger(maxFrames) && maxFrames >= 0,
      `maxFrames must be a whole number >= 0, got ${maxFrames}`,
    );
  }
  if (seed !== undefined) check(Number.isInteger(seed), `seed must be an integer, got ${seed}`);
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (value !== undefined) {
      check(
        Number.isInteger(value) && value > 0 && value <= 16384,
        `${name} must be a whole number of pixels in 1..16384, got ${value}`,
      );
    }
  }
}

/** The pacing rate, or null when the source should deliver as fast as it is pulled. */
export function pacingFps(options: OpenSourceOptions): number | null {
  return options.fps !== undefined && options.fps > 0 ? options.fps : null;
}

/**
 * The signal an iteration watches: the caller's, or the source's own close signal, whichever
 * aborts first (so close() also ends waits for the next paced frame or a reconnection).
 */
export function iterationSignal(
  callerSignal: AbortSignal | undefined,
  closeSignal: AbortSignal,
): AbortSignal {
  return callerSignal ? AbortSignal.any([callerSignal, closeSignal]) : closeSignal;
}
