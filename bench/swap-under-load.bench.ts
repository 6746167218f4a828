/**
 * Hot swap under load: steady POST /api/predict requests (640×480 JPEGs of the synthetic
 * line) to an in-process server while `production` is swapped 20 times between two versions
 * of the same model (registered twice: the stamped versions differ, so every swap loads a new
 * session in a new worker).
 *
 *   npx tsx bench/swap-under-load.bench.ts [--model models/seed/model.onnx] [--swaps 20]
 *     [--clients 2] [--warm-requests 400] [--steady-seconds 8] [--pause-ms 300] [--threads 1]
 *     [--from dist|src] [--malloc both|tuned|default]
 *
 * --malloc: the glibc malloc settings the measured server process starts with. `tuned` is what
 * `visionloop` runs: bin/visionloop sources bin/malloc-env.sh (MALLOC_ARENA_MAX,
 * MALLOC_MMAP_THRESHOLD_; a value already in the environment wins) before it execs node, and
 * the bench sources the same file. `default` removes every MALLOC_* variable (glibc's
 * defaults, the baseline). `both` (the default) measures `default` and then `tuned`, each in a
 * fresh process started by this one, and reports both runs and the tuned/default ratios. The
 * settings must be in place before the process starts (glibc reads them once), hence the
 * re-exec: the measured process is a child of this one, started with the same node flags.
 *
 * --from: the server code to run. `dist` (the default once `npm run build` made it) is what
 * `visionloop` runs: each inference worker starts straight from its .js file. `src` runs the
 * TypeScript sources, where every worker first loads tsx (module-worker.ts) — a development
 * path that costs each worker more memory and seconds (measured +34 MB over 20 swaps there
 * against -5 MB from dist in the same load).
 *
 * Model: --model, else models/seed/model.onnx when present, else a tiny fixture (reported as
 * `fixture`: its numbers say little about a real model). Reports failed requests (target 0),
 * p99 latency during the swaps against the steady p99 measured just before in the same run,
 * and RSS before and after the swaps (and after each swap), to show whether the runtime keeps
 * memory after a session is released. Targets: 0 failed requests and at most
 * TARGET_RSS_GROWTH_MB of RSS growth over the swaps (after the last swap against just before
 * the first, same run): each model runs in its own worker thread, terminated when the model is
 * retired, so its session's native memory goes with it (docs/architecture.md, "Inference"). The
 * request path is warmed with --warm-requests requests first: RSS grows while a fresh server
 * serves its first few hundred requests (V8 heap, sharp), which is not the swaps' doing; the
 * steady phase's own growth (no swaps) is reported beside it as the traffic-only baseline.
 * Prints one JSON object; `pass` is the tuned run's (with `--malloc default` alone, that run's).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { pathToFileURL } from 'node:url';
import type * as ServerConfig from '../src/config/server.config.js';
import { BUILTIN_SEED_MODEL } from '../src/main/detect.main.js';
import type * as ServerMain from '../src/main/server.main.js';
import type { PredictResponse } from '../src/shared/api/models.js';
import { SynthCamera } from '../src/synth/camera.js';
import { parseScenario } from '../src/synth/scenario.js';
import { fixtureDetectorModel } from '../test/helpers/registry-fixtures.js';
import { percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    swaps: { type: 'string', default: '20' },
    clients: { type: 'string', default: '2' },
    'warm-requests': { type: 'string', default: '400' },
    'steady-seconds': { type: 'string', default: '8' },
    'pause-ms': { type: 'string', default: '300' },
    threads: { type: 'string', default: '1' },
    from: { type: 'string' },
    malloc: { type: 'string', default: 'both' },
  },
});
const MALLOC_MODES = ['default', 'tuned'] as const;
type MallocMode = (typeof MALLOC_MODES)[number];
/** The settings file bin/visionloop sources before it starts node. */
const MALLOC_ENV_SH = resolve(import.meta.dirname, '../bin/malloc-env.sh');
/** Set by the parent on the process it starts: which settings that process runs with. */
const CHILD_MODE_ENV = 'VISIONLOOP_SWAP_BENCH_MALLOC';
const childMode = process.env[CHILD_MODE_ENV];
if (values.malloc !== 'both' && !(MALLOC_MODES as readonly string[]).includes(values.malloc)) {
  throw new Error(`--malloc takes both, tuned or default, not ${values.malloc}`);
}
if (childMode === undefined) {
  await runModes(values.malloc === 'both' ? [...MALLOC_MODES] : [values.malloc as MallocMode]);
  process.exit(0);
}
if (!(MALLOC_MODES as readonly string[]).includes(childMode)) {
  throw new Error(`${CHILD_MODE_ENV} takes tuned or default, not ${childMode}`);
}

/**
 * Starts this bench again, once per mode, in a process whose environment has the mode's
 * malloc settings from its first instruction (`sh` sources bin/malloc-env.sh, then execs node
 * with this process's flags: tsx's loader included), and prints the runs' JSON.
 */
async function runModes(modes: MallocMode[]): Promise<void> {
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const runs: Partial<Record<MallocMode, RunJson>> = {};
  for (const mode of modes) {
    const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_MODE_ENV]: mode };
    env.VISIONLOOP_MALLOC = mode;
    if (mode === 'default') {
      for (const name of Object.keys(env)) if (name.startsWith('MALLOC_')) delete env[name];
    }
    const script = process.argv[1];
    if (script === undefined) throw new Error('cannot tell which script to re-run');
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        '. "$0" && exec "$@"',
        MALLOC_ENV_SH,
        process.execPath,
        ...process.execArgv,
        script,
        ...process.argv.slice(2),
      ],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    const line = out.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !line.startsWith('{')) {
      throw new Error(`the ${mode} run exited with ${code}; its output:\n${out}`);
    }
    runs[mode] = JSON.parse(line) as RunJson;
  }
  if (modes.length === 1) {
    console.log(JSON.stringify(runs[modes[0] as MallocMode]));
    return;
  }
  const { tuned, default: base } = runs;
  if (tuned === undefined || base === undefined) throw new Error('a run is missing');
  const ratio = (a: number, b: number): number => round(a / b, 2);
  console.log(
    JSON.stringify({
      bench: 'swap-under-load',
      malloc: { default: base.malloc.env, tuned: tuned.malloc.env },
      swaps: tuned.swaps,
      rssGrowthMb: {
        default: base.memory.rssGrowthMb,
        tuned: tuned.memory.rssGrowthMb,
        // A ratio says nothing when the baseline did not grow (noise on a loaded machine).
        tunedOverDefault:
          base.memory.rssGrowthMb > 0
            ? ratio(tuned.memory.rssGrowthMb, base.memory.rssGrowthMb)
            : null,
        tunedMinusDefault: round(tuned.memory.rssGrowthMb - base.memory.rssGrowthMb),
      },
      rssGrowthAfterIdleMb: {
        default: base.memory.rssGrowthAfterIdleMb,
        tuned: tuned.memory.rssGrowthAfterIdleMb,
      },
      growthPerSwapMb: {
        default: base.memory.growthPerSwapMb,
        tuned: tuned.memory.growthPerSwapMb,
      },
      rssBeforeSwapsMb: {
        default: base.memory.rssBeforeSwapsMb,
        tuned: tuned.memory.rssBeforeSwapsMb,
        tunedOverDefault: ratio(tuned.memory.rssBeforeSwapsMb, base.memory.rssBeforeSwapsMb),
      },
      steadyP50Ms: {
        default: base.steady.p50Ms,
        tuned: tuned.steady.p50Ms,
        tunedOverDefault: ratio(tuned.steady.p50Ms, base.steady.p50Ms),
      },
      duringSwapsP99Ms: {
        default: base.duringSwaps.p99Ms,
        tuned: tuned.duringSwaps.p99Ms,
        tunedOverDefault: ratio(tuned.duringSwaps.p99Ms, base.duringSwaps.p99Ms),
      },
      failedRequests: { default: base.failedRequests, tuned: tuned.failedRequests },
      loadAverage1m: { start: round(loadAtStart, 2), end: round(loadavg()[0] ?? Number.NaN, 2) },
      target: tuned.target,
      pass: tuned.pass,
      runs,
    }),
  );
}

/** One run's JSON: the fields the two-run summary reads. */
interface RunJson {
  malloc: { env: Record<string, string> };
  swaps: number;
  steady: { p50Ms: number };
  duringSwaps: { p99Ms: number };
  failedRequests: number;
  memory: {
    rssGrowthMb: number;
    rssGrowthAfterIdleMb: number;
    growthPerSwapMb: number;
    rssBeforeSwapsMb: number;
  };
  target: { failedRequests: number; rssGrowthMb: number };
  pass: boolean;
}

const distServer = resolve(import.meta.dirname, '../dist/main/server.main.js');
const from = values.from ?? (existsSync(distServer) ? 'dist' : 'src');
if (from !== 'dist' && from !== 'src') throw new Error(`--from takes dist or src, not ${from}`);
const root = pathToFileURL(resolve(import.meta.dirname, '..', from) + '/').href;
const { startServer } = (await import(
  new URL('main/server.main.js', root).href
)) as typeof ServerMain;
const { loadServerConfig } = (await import(
  new URL('config/server.config.js', root).href
)) as typeof ServerConfig;
const swaps = Number(values.swaps);
const clients = Number(values.clients);
const warmRequests = Number(values['warm-requests']);
const steadySeconds = Number(values['steady-seconds']);
const pauseMs = Number(values['pause-ms']);
const threads = Number(values.threads);

let modelSource: 'argument' | 'seed' | 'fixture';
let modelBytes: Uint8Array;
let modelPath: string | null;
if (values.model !== undefined) {
  modelSource = 'argument';
  modelPath = resolve(values.model);
  modelBytes = readFileSync(modelPath);
} else if (existsSync(BUILTIN_SEED_MODEL)) {
  modelSource = 'seed';
  modelPath = BUILTIN_SEED_MODEL;
  modelBytes = readFileSync(modelPath);
} else {
  modelSource = 'fixture';
  modelPath = null;
  modelBytes = fixtureDetectorModel();
}

/** RSS growth allowed over the swaps (issue 16: 20 swaps measured +97 MB before the fix). */
const TARGET_RSS_GROWTH_MB = 20;

const MiB = 1024 * 1024;
const mb = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

function summary(latencies: number[]): {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
} {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

const dir = mkdtempSync(join(tmpdir(), 'visionloop-swap-bench-'));
const server = await startServer(
  loadServerConfig({ VISIONLOOP_DATA_DIR: dir, PORT: '0', VISIONLOOP_LOG_LEVEL: 'silent' }),
  {
    logger: false,
    processMetrics: false,
    seedModel: null,
    servingThreads: threads,
    onAdminToken: () => undefined,
  },
);
try {
  const models = server.services.models;
  for (const version of ['bench-a', 'bench-b']) {
    await models.register({ artifact: modelBytes, version, source: 'uploaded', actor: 'bench' });
  }
  await models.promote('bench-a', 'production', { actor: 'bench' });
  const viewer = await server.services.auth.createToken({ name: 'bench', scope: 'viewer' }, null);
  const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 7 });
  const frame = camera.frame(3).image;
  const jpeg = await sharp(Buffer.from(frame.data), {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
  const body = new Uint8Array(jpeg);

  let failed = 0;
  let completed = 0;
  const failures: string[] = [];
  const versionsSeen = new Set<string>();
  let phase: 'warm' | 'steady' | 'swaps' | 'stop' = 'warm';
  const latencies: Record<'steady' | 'swaps', number[]> = { steady: [], swaps: [] };
  const request = async (): Promise<void> => {
    const at = phase;
    const started = performance.now();
    try {
      const response = await fetch(`${server.url}/api/predict`, {
        method: 'POST',
        headers: { authorization: `Bearer ${viewer.token}`, 'content-type': 'image/jpeg' },
        body,
      });
      const answer = (await response.json()) as PredictResponse;
      if (!response.ok) throw new Error(`HTTP ${response.status} ${JSON.stringify(answer)}`);
      versionsSeen.add(answer.modelVersion);
      completed++;
    } catch (error) {
      failed++;
      if (failures.length < 5)
        failures.push(error instanceof Error ? error.message : String(error));
    }
    if (at === 'steady' || at === 'swaps') latencies[at].push(performance.now() - started);
  };
  const loops = Array.from({ length: clients }, async () => {
    while (phase !== 'stop') await request();
  });

  await new Promise((r) => setTimeout(r, 1500));
  while (clients > 0 && completed < warmRequests && failed === 0) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const rssSteadyStart = process.memoryUsage().rss;
  phase = 'steady';
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const rssBefore = process.memoryUsage().rss;
  phase = 'swaps';
  const rssAfterEach: number[] = [];
  const loadMs: number[] = [];
  const swapStarted = performance.now();
  for (let i = 0; i < swaps; i++) {
    const version = i % 2 === 0 ? 'bench-b' : 'bench-a';
    const move = await models.promote(version, 'production', {
      actor: 'bench',
      reason: `swap ${i + 1}`,
    });
    if (move.serving?.error) throw new Error(`swap ${i + 1} failed: ${move.serving.error.message}`);
    loadMs.push(move.serving?.loadMs ?? Number.NaN);
    await server.services.modelServing.settled();
    rssAfterEach.push(process.memoryUsage().rss);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  const swapSeconds = (performance.now() - swapStarted) / 1000;
  phase = 'stop';
  await Promise.all(loops);
  await server.services.modelServing.settled();
  const rssAfter = process.memoryUsage().rss;
  await new Promise((r) => setTimeout(r, 2000));
  const rssAfterIdle = process.memoryUsage().rss;

  const steady = summary(latencies.steady);
  const during = summary(latencies.swaps);
  // Least-squares slope of RSS over the swaps, MiB per swap.
  const n = rssAfterEach.length;
  const meanX = (n - 1) / 2;
  const meanY = rssAfterEach.reduce((a, b) => a + b, 0) / n;
  const slope =
    rssAfterEach.reduce((sum, y, x) => sum + (x - meanX) * (y - meanY), 0) /
    rssAfterEach.reduce((sum, _, x) => sum + (x - meanX) ** 2, 0);
  const sortedLoad = [...loadMs].sort((a, b) => a - b);
  const rssGrowthMb = mb(rssAfter - rssBefore);
  console.log(
    JSON.stringify({
      bench: 'swap-under-load',
      model: {
        source: modelSource,
        path: modelPath,
        bytes: modelBytes.byteLength,
        classes: (await models.get('bench-a')).classNames.length,
        imgsz: (await models.get('bench-a')).imgsz,
      },
      from,
      malloc: {
        mode: childMode,
        // As this process saw them: glibc read them at its start.
        env: Object.fromEntries(
          Object.entries(process.env).filter(([name]) => name.startsWith('MALLOC_')),
        ),
      },
      pid: process.pid,
      frame: `${frame.width}x${frame.height} JPEG`,
      clients,
      servingThreads: threads,
      swaps,
      steady: { ...steady, requestsPerSecond: round(steady.requests / steadySeconds) },
      duringSwaps: {
        ...during,
        seconds: round(swapSeconds),
        requestsPerSecond: round(during.requests / swapSeconds),
        swapLoadMsP50: round(percentile(sortedLoad, 50)),
        swapLoadMsMax: round(sortedLoad.at(-1) ?? Number.NaN),
      },
      p99Ratio: round(during.p99Ms / steady.p99Ms, 2),
      failedRequests: failed,
      failures,
      versionsSeen: [...versionsSeen].sort(),
      memory: {
        warmRequests,
        rssSteadyStartMb: mb(rssSteadyStart),
        rssGrowthSteadyNoSwapsMb: mb(rssBefore - rssSteadyStart),
        rssBeforeSwapsMb: mb(rssBefore),
        rssAfterSwapsMb: mb(rssAfter),
        rssAfterIdle2sMb: mb(rssAfterIdle),
        rssGrowthMb,
        rssGrowthAfterIdleMb: mb(rssAfterIdle - rssBefore),
        // The first swap holds two sessions at once (the new one loads while the old serves);
        // the allocator keeps that high-water mark. Growth after it is what each swap adds.
        rssGrowthSinceFirstSwapMb: mb(rssAfter - (rssAfterEach[0] ?? Number.NaN)),
        rssAfterEachSwapMb: rssAfterEach.map(mb),
        growthPerSwapMb: round(slope / MiB, 2),
      },
      loadAverage1m: round(loadavg()[0] ?? Number.NaN, 2),
      target: { failedRequests: 0, rssGrowthMb: TARGET_RSS_GROWTH_MB },
      pass: failed === 0 && rssGrowthMb <= TARGET_RSS_GROWTH_MB,
    }),
  );
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
