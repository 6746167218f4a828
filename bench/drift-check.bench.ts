/**
 * Cost of one drift check (issue 6): 8 numeric features (the 7 image features and mean
 * confidence) plus the class mix, 10 000 reference vs 10 000 current samples each.
 *
 *   npx tsx bench/drift-check.bench.ts [--runs 40]
 *
 * Measured three ways, median of `runs` after a warm-up, in CPU time of this thread (so other
 * processes on a shared machine do not inflate it; wall time is reported too):
 * - full: prepareReference (sort, spreads) + checkDrift — what a check costs with no cache;
 * - check: checkDrift against a prepared reference — what the DriftService pays per window;
 * - unequal: the full check with 10 000 vs 9 990 samples (a few NaN frames dropped), which
 *   takes the exact lattice-path p-value instead of the equal-size closed form.
 * Baseline (same run): sorting 8 × 20 000 floats (Float64Array.from + sort), the floor any
 * KS implementation pays. Target: full check ≤ 50 ms. Prints one JSON object on stdout.
 */
import { parseArgs } from 'node:util';
import { Rng } from '../src/synth/rng.js';
import { checkDrift, prepareReference } from '../src/vision/drift/index.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '40' } } });
const runs = Math.max(5, Number(values.runs) || 40);
const N = 10_000;
const FEATURES = [
  'brightness',
  'contrast',
  'sharpness',
  'saturation',
  'noise',
  'colorCast',
  'edgeDensity',
  'meanConfidence',
];
const TARGET_MS = 50;

function normals(rng: Rng, n: number, mean: number, sd: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.next();
    out[i] = mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return out;
}

// Half the features unchanged, half shifted by 0.05 to 0.4 σ: both p-value regimes are hit.
const rng = new Rng(6);
const referenceColumns: Record<string, Float64Array> = {};
const currentColumns: Record<string, Float64Array> = {};
FEATURES.forEach((name, f) => {
  referenceColumns[name] = normals(rng, N, 0, 1);
  currentColumns[name] = normals(rng, N, f < 4 ? 0 : 0.05 * 2 ** (f - 4), 1);
});
const unequalColumns: Record<string, Float64Array> = {};
for (const name of FEATURES) unequalColumns[name] = currentColumns[name]!.subarray(0, N - 10);
const classMix = { scratch: 4100, crack: 2600, dent: 2200, stain: 1100 };
const currentMix = { scratch: 3900, crack: 2700, dent: 2300, stain: 1100 };
const referenceInput = {
  id: 'bench',
  numeric: referenceColumns,
  categorical: { classMix },
};

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

let sink = 0;
function measure(step: () => number): { cpuMs: number; wallMs: number } {
  for (let i = 0; i < 5; i++) sink += step();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = cpuMs();
    const w0 = performance.now();
    sink += step();
    wall.push(performance.now() - w0);
    cpu.push(cpuMs() - c0);
  }
  return { cpuMs: round(median(cpu)), wallMs: round(median(wall)) };
}

const baseline = measure(() => {
  let total = 0;
  for (const name of FEATURES) {
    const pooled = new Float64Array(2 * N);
    pooled.set(referenceColumns[name]!);
    pooled.set(currentColumns[name]!, N);
    pooled.sort();
    total += pooled[N]!;
  }
  return total;
});

const full = measure(() => {
  const reference = prepareReference(referenceInput);
  const report = checkDrift(reference, {
    numeric: currentColumns,
    categorical: { classMix: currentMix },
  });
  return report.testedFeatures;
});

const prepared = prepareReference(referenceInput);
const check = measure(
  () =>
    checkDrift(prepared, { numeric: currentColumns, categorical: { classMix: currentMix } })
      .testedFeatures,
);

const unequal = measure(() => {
  const reference = prepareReference(referenceInput);
  return checkDrift(reference, { numeric: unequalColumns, categorical: { classMix: currentMix } })
    .testedFeatures;
});

const report = checkDrift(prepared, {
  numeric: currentColumns,
  categorical: { classMix: currentMix },
});
const unequalReport = checkDrift(prepared, {
  numeric: unequalColumns,
  categorical: { classMix: currentMix },
});

process.stdout.write(
  `${JSON.stringify({
    bench: 'drift-check',
    features: FEATURES.length,
    categoricalFeatures: 1,
    samples: { reference: N, current: N },
    runs,
    fullCheckMs: full.cpuMs,
    fullCheckWallMs: full.wallMs,
    preparedCheckMs: check.cpuMs,
    preparedCheckWallMs: check.wallMs,
    unequalSizesFullCheckMs: unequal.cpuMs,
    methods: {
      equalSizes: report.features.map((f) => f.method),
      unequalSizes: unequalReport.features.map((f) => f.method),
    },
    driftedFeatures: report.driftedFeatures,
    baseline: { name: 'sort 8 x 20000 float64', ms: baseline.cpuMs, wallMs: baseline.wallMs },
    ratio: round(full.cpuMs / baseline.cpuMs, 2),
    target: { fullCheckMs: TARGET_MS },
    pass: full.cpuMs <= TARGET_MS,
    checksum: Math.round(sink),
  })}\n`,
);
