/**
 * What both synthetic exports (the YOLO data set, dataset-export.ts; the stage crops,
 * crop-export.ts) check and prepare before rendering: the split options and the output
 * directory. Errors are VisionLoopErrors: INVALID_ARGUMENT for bad options or an unwritable
 * directory, CONFLICT for a directory that already holds an export.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VisionLoopError, messageOf } from '../shared/errors.js';

export function invalidExportOption(message: string): VisionLoopError {
  return new VisionLoopError('INVALID_ARGUMENT', message);
}

/** `count` in 1..1e6, `seed` (default 0) a uint32, `valFraction` (default 0.2) in [0, 1). */
export function validateSplitOptions(options: {
  count: number;
  seed?: number | undefined;
  valFraction?: number | undefined;
}): { count: number; seed: number; valFraction: number } {
  const { count } = options;
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
    throw invalidExportOption(`count must be an integer in 1..1000000, got ${count}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw invalidExportOption(`seed must be an integer in 0..4294967295, got ${seed}`);
  }
  const valFraction = options.valFraction ?? 0.2;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw invalidExportOption(`val fraction must be in [0, 1), got ${valFraction}`);
  }
  return { count, seed, valFraction };
}

/**
 * Creates `outDir` and checks it is writable; when it already holds entries named in
 * `ownNames` (what an earlier export of `what` wrote), removes them if `overwrite`, else
 * throws CONFLICT. Other entries are left alone.
 */
export async function prepareExportDirectory(
  outDir: string,
  overwrite: boolean,
  ownNames: readonly string[],
  what: string,
): Promise<void> {
  try {
    await mkdir(outDir, { recursive: true });
    await access(outDir, constants.W_OK);
  } catch (error) {
    throw invalidExportOption(`cannot write to ${outDir}: ${messageOf(error)}`);
  }
  const ours = (await readdir(outDir)).filter((name) => ownNames.includes(name));
  if (ours.length === 0) return;
  if (!overwrite) {
    throw new VisionLoopError(
      'CONFLICT',
      `${outDir} already holds ${what} (${ours.join(', ')}); choose an empty directory or overwrite it`,
    );
  }
  for (const name of ours) await rm(join(outDir, name), { recursive: true, force: true });
}
