/**
 * `visionloop drift compare --reference SRC --current SRC`: offline drift check between two
 * sets of images (folders, videos, `synth:…`, YOLO datasets or exported archives), with the
 * server's features, tests and thresholds; no server, database or model needed. Prints a
 * table (or `--json`), and with `--html FILE` writes one self-contained report page.
 *
 * Exit codes: 0 when the comparison ran (drift or not), 1 when it could not (the message
 * names the side and the file), 2 bad usage, and with `--fail-on-drift` 3 when it drifted —
 * for CI pipelines that must stop on a changed input.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  COMPARE_SPLITS,
  DEFAULT_COMPARE_EVERY_SECONDS,
  DEFAULT_COMPARE_MAX_FRAMES,
  DEFAULT_COMPARE_SEED,
  compareSources,
  comparisonHtml,
  type CompareRole,
  type CompareSplit,
  type DriftComparison,
} from '../main/drift-compare.main.js';
import { SERVER_VERSION } from '../main/server.main.js';
import { CommandExit, formatTable } from './output.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';

/** Exit code of `--fail-on-drift` when the current side drifted. */
export const DRIFT_EXIT_CODE = 3;

export interface CompareFlags {
  reference: string;
  current: string;
  maxFrames: number;
  every: number;
  seed: number;
  currentSeed?: number;
  split: CompareSplit;
  json?: boolean;
  html?: string;
  failOnDrift?: boolean;
}

export interface DriftCompareDeps {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown; isTTY?: boolean };
  /** Report timestamps (tests pin it). */
  now?: () => number;
}

function parseSplit(value: string): CompareSplit {
  if (!(COMPARE_SPLITS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${COMPARE_SPLITS.join(', ')}, got '${value}'`);
  }
  return value as CompareSplit;
}

function fmt(value: number | null, digits = 3): string {
  if (value === null || !Number.isFinite(value)) return '-';
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(1);
  return Number(value.toPrecision(digits)).toString();
}

function formatP(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return value < 1e-4 ? value.toExponential(1) : value.toFixed(4);
}

/** The comparison as people read it: the two sides, a table per feature, the verdict. */
export function formatComparison(comparison: DriftComparison): string {
  const { report } = comparison;
  const side = (label: string, s: DriftComparison['reference']) =>
    [`${label}: ${s.description} — ${s.frames} frames`, ...s.notes.map((n) => `  ${n}`)].join('\n');
  const table = formatTable(
    ['FEATURE', 'KS D', 'P-VALUE', 'DRIFTED', 'REF MEDIAN', 'CUR MEDIAN', 'SHIFT'],
    report.features.map((f) => [
      f.feature,
      fmt(f.statistic),
      formatP(f.adjustedPValue),
      f.status !== 'tested' ? 'not tested' : f.drifted ? 'YES' : 'no',
      fmt(f.referenceMedian),
      fmt(f.currentMedian),
      f.scaledMagnitude === null ? '-' : `${fmt(f.scaledMagnitude, 2)}σ`,
    ]),
  );
  const config = report.config;
  const tested = report.features.filter((f) => f.status === 'tested');
  const share = report.driftShare;
  const verdict =
    report.status === 'drift'
      ? `DRIFT (${report.level})`
      : report.status === 'ok'
        ? 'NO DRIFT'
        : 'UNDECIDED (too few samples)';
  const shareLine =
    share === null
      ? 'no feature could be tested'
      : `${report.driftedFeatures.length} of ${tested.length} features drifted (p < ${config.alpha}), ` +
        `share ${share.toFixed(2)} ${share > config.driftShareThreshold ? '>' : '≤'} ${config.driftShareThreshold}`;
  return [
    side('reference', comparison.reference),
    side('current  ', comparison.current),
    '',
    table,
    '',
    `${verdict}: ${shareLine}`,
  ].join('\n');
}

/** The machine-readable result: both sides, the verdict and every feature's test. */
export function comparisonJson(comparison: DriftComparison): unknown {
  const { report } = comparison;
  return {
    version: 1,
    reference: comparison.reference,
    current: comparison.current,
    status: report.status,
    level: report.level,
    drifted: report.drifted,
    driftShare: report.driftShare,
    driftedFeatures: report.driftedFeatures,
    testedFeatures: report.testedFeatures,
    thresholds: {
      alpha: report.config.alpha,
      driftShareThreshold: report.config.driftShareThreshold,
      redShareThreshold: report.config.redShareThreshold,
      correction: report.config.correction,
      minSamples: report.config.minSamples,
    },
    features: report.features.map((f) => ({
      feature: f.feature,
      test: f.test,
      status: f.status,
      statistic: f.statistic,
      pValue: f.pValue,
      adjustedPValue: f.adjustedPValue,
      drifted: f.drifted,
      method: f.method,
      wasserstein: f.wasserstein,
      scaledMagnitude: f.scaledMagnitude,
      referenceMedian: f.referenceMedian,
      currentMedian: f.currentMedian,
      nRef: f.nRef,
      nCur: f.nCur,
      note: f.note,
    })),
    reason: report.reason,
  };
}

/** Runs the comparison for parsed flags and prints it; returns it for callers and tests. */
export async function runDriftCompare(
  flags: CompareFlags,
  deps: DriftCompareDeps = {},
): Promise<DriftComparison> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const interactive = stderr.isTTY === true;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  let lastShown = '';
  const onProgress = (role: CompareRole, frames: number, total: number) => {
    if (!interactive) return;
    const line = `measuring ${role}: ${frames}/${total} frames`;
    if (line !== lastShown) stderr.write(`\r\x1b[2K${line}`);
    lastShown = line;
  };
  let comparison: DriftComparison;
  try {
    comparison = await compareSources({
      reference: flags.reference,
      current: flags.current,
      maxFrames: flags.maxFrames,
      everySeconds: flags.every,
      seed: flags.seed,
      currentSeed: flags.currentSeed,
      split: flags.split,
      signal: controller.signal,
      onProgress,
    });
  } finally {
    process.off('SIGINT', stop);
    if (interactive && lastShown !== '') stderr.write('\r\x1b[2K');
  }
  if (flags.html !== undefined) {
    const html = comparisonHtml(comparison, {
      generatedAt: (deps.now ?? Date.now)(),
      version: SERVER_VERSION,
    });
    await writeFile(flags.html, html);
    stderr.write(`wrote the HTML report to ${path.resolve(flags.html)}\n`);
  }
  stdout.write(
    flags.json === true
      ? `${JSON.stringify(comparisonJson(comparison), null, 2)}\n`
      : `${formatComparison(comparison)}\n`,
  );
  if (flags.failOnDrift === true && comparison.report.drifted) {
    throw new CommandExit(
      DRIFT_EXIT_CODE,
      `drift detected (--fail-on-drift): ${comparison.report.driftedFeatures.join(', ')}`,
    );
  }
  return comparison;
}

/** Adds `compare` under `visionloop drift`. */
export function registerDriftCompareCommand(drift: Command, deps: DriftCompareDeps = {}): void {
  drift
    .command('compare')
    .description(
      'Compare two sets of images offline (no server): the same image features, KS tests and ' +
        'thresholds as the drift monitor. Exit 0 when compared (1 error, 2 usage, 3 drift with --fail-on-drift).',
    )
    .requiredOption(
      '--reference <source>',
      'what the model knows: synth:<scenario>, an image folder, a video, a YOLO dataset folder or a .tar/.tar.gz/.tgz archive',
    )
    .requiredOption('--current <source>', 'what to check against it (same kinds of source)')
    .option(
      '--max-frames <n>',
      'most frames measured per side (folders and datasets: evenly spaced by name)',
      parseIntegerInRange(1, 100_000),
      DEFAULT_COMPARE_MAX_FRAMES,
    )
    .option(
      '--every <seconds>',
      'synthetic and video sources: one frame per this many seconds of the source clock, as the server thins a camera (0 = every frame)',
      parseNumberInRange(0, 86_400),
      DEFAULT_COMPARE_EVERY_SECONDS,
    )
    .option(
      '--seed <n>',
      'seed of the reference side’s synthetic line',
      parseIntegerInRange(0, 2 ** 31 - 2),
      DEFAULT_COMPARE_SEED,
    )
    .option(
      '--current-seed <n>',
      'seed of the current side’s synthetic line (default: --seed + 1, an independent run)',
      parseIntegerInRange(0, 2 ** 31 - 1),
    )
    .option(
      '--split <split>',
      `dataset split(s) to read: ${COMPARE_SPLITS.join(', ')}`,
      parseSplit,
      'all' as CompareSplit,
    )
    .option('--json', 'print the result as JSON')
    .option('--html <file>', 'also write a self-contained HTML report with the distributions')
    .option('--fail-on-drift', `exit with code ${DRIFT_EXIT_CODE} when the current side drifted`)
    .action(async (flags: CompareFlags) => {
      await runDriftCompare(flags, deps);
    });
}
