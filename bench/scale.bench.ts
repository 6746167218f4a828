/**
 * Ingest at 8, 16 and 32 cameras on two `visionloop server` replicas over one PostgreSQL and
 * one S3 bucket, with one replica SIGKILLed mid-run and brought back; against a baseline of
 * one replica, no kill, the same offered load, measured in the same run.
 *
 *   npx tsx bench/scale.bench.ts [--cameras 8,16,32] [--seconds 20] [--warmup 2] [--seed 1]
 *                                [--upload-share 0.06] [--fanout-frames true|false]
 *                                [--only baseline|replicas]
 *
 * Everything runs on this machine, on 127.0.0.1:
 * - PostgreSQL: DATABASE_URL when it is a postgres URL, else a throwaway durable cluster
 *   (scripts/postgres-test-server.mjs start --durable: real commits), stopped at the end. Each
 *   phase gets a fresh schema (dropped after), so every phase starts on empty tables.
 * - S3: s3rver (test/helpers/s3-server.ts) in this process, one bucket, a prefix per phase.
 * - Servers: the compiled CLI (`bin/visionloop.js server`, built from src/ when dist/ is older)
 *   with one ONNX Runtime thread, as real processes; the first replica of a phase starts alone
 *   (it migrates), then the second.
 * - Cameras: bench/scale-client.ts in a child process, N simulated agents at 5–15 FPS each
 *   (seeded), batches every second, the JPEGs of `uncertain` results (6% by default, the
 *   synthetic line's share) and heartbeats; cameras spread over the replicas, failing over when
 *   one is down.
 *
 * Each step runs two phases, in alternating order (B R, R B, …) so that a trend in background
 * load favours neither: `baseline` (one replica) and `replicas` (two; at a seeded moment in the
 * middle 30–50% of the measured window a seeded replica is SIGKILLed and restarted on its port
 * and data directory). After the cameras drain, the database is compared with what they sent:
 * frames lost and duplicated (both must be 0), rows whose frame the client never produced,
 * and JPEGs stored against JPEGs acknowledged.
 *
 * Per phase: offered and ingested results/s over the measured window (ingested = results newly
 * stored by acks received inside it), ack latency (request → answer, per successful request)
 * and delivery latency (first attempt → ack, failovers included), CPU seconds of the replicas
 * and of PostgreSQL (from /proc), bytes per stored result (prediction_logs + prediction_classes
 * with indexes), the load average. The saturation point is the first step where ingested/s
 * falls under 0.9 × offered/s or the ack p99 exceeds 1 s (the agents' batch interval). From the
 * measurements, `fleet1000` scales what 1,000 cameras at 10 FPS would need (see
 * docs/scaling.md). Prints one JSON object.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Rng, hashSeed } from '../src/synth/rng.js';
import {
  ensureBuilt,
  freePort,
  killAll,
  startServer,
  type ServerHandle,
} from '../test/helpers/processes.js';
import { startTestS3Server, type TestS3Server } from '../test/helpers/s3-server.js';
import { startBenchPostgres, withSearchPath } from './bench-postgres.js';
import {
  accountDelivery,
  estimateFleet,
  fitCpuPerResult,
  offeredPerSecond,
  planCameras,
  ratio,
  round,
  saturationPoint,
  type CameraSent,
  type StoredFrame,
} from './scale-accounting.js';

const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '8,16,32' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    'upload-share': { type: 'string', default: '0.06' },
    'fanout-frames': { type: 'string', default: 'true' },
    only: { type: 'string' },
  },
});
const steps = values.cameras.split(',').map(Number);
if (steps.some((n) => !(Number.isInteger(n) && n >= 1 && n <= 1000))) {
  throw new Error('--cameras: a comma-separated list of integers in 1..1000');
}
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const seed = Number(values.seed);
const uploadShare = Number(values['upload-share']);
const fanOutFrames = values['fanout-frames'];
if (fanOutFrames !== 'true' && fanOutFrames !== 'false') {
  throw new Error('--fanout-frames true|false');
}
const only = values.only;
if (only !== undefined && only !== 'baseline' && only !== 'replicas') {
  throw new Error('--only baseline|replicas');
}
if (!(seconds >= 2)) throw new Error('--seconds must be ≥ 2');
const root = fileURLToPath(new URL('..', import.meta.url));
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/** The agent's sampling caps (docs/sampling.md): 1000 a day is the binding one. */
const SAMPLED_PER_CAMERA_PER_DAY = 1000;

function log(message: string): void {
  process.stderr.write(`[scale.bench] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// CPU time from /proc (Linux)

interface ProcStat {
  ppid: number;
  /** utime + stime, seconds. */
  own: number;
  /** cutime + cstime: reaped children, seconds. */
  children: number;
}

function procStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i] ?? 0);
    return {
      ppid: n(1),
      own: (n(11) + n(12)) / CLOCK_TICKS,
      children: (n(13) + n(14)) / CLOCK_TICKS,
    };
  } catch {
    return null;
  }
}

/** CPU seconds of a PostgreSQL cluster: the postmaster, its live and its reaped backends. */
function postgresCpuSeconds(postmaster: number): number {
  const main = procStat(postmaster);
  if (main === null) return 0;
  let total = main.own + main.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== null && stat.ppid === postmaster) total += stat.own;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

interface Postgres {
  baseUrl: string;
  description: string;
  postmasterPid: number | null;
  stop(): void;
}

async function startPostgres(): Promise<Postgres> {
  const { baseUrl, clusterDir, postmasterPid, stop } = startBenchPostgres({
    log,
    loopbackOnly: true,
  });
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  const settings = await admin.query<{ v: string; f: string; sc: string }>(
    "select current_setting('server_version') as v, current_setting('fsync') as f, current_setting('synchronous_commit') as sc",
  );
  await admin.end();
  const row = settings.rows[0];
  return {
    baseUrl,
    postmasterPid,
    description: `PostgreSQL ${row?.v ?? '?'} (fsync ${row?.f ?? '?'}, synchronous_commit ${row?.sc ?? '?'}${clusterDir === null ? ', DATABASE_URL' : ', throwaway cluster'})`,
    stop,
  };
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The camera simulator

interface ClientReport {
  cameras: number;
  replicas: number;
  fps: number[];
  offeredPerSecond: number;
  ingestedPerSecond: number;
  generated: CameraSent[];
  sent: number;
  accepted: number;
  acceptedInWindow: number;
  duplicates: number;
  batches: number;
  failedRequests: number;
  failovers: number;
  resentResults: number;
  uploads: number;
  uploadFailures: number;
  uploadBytes: number;
  heartbeats: number;
  heartbeatFailures: number;
  rejected: number;
  requestsByReplica: number[];
  ackLatencyMs: Latency;
  deliveryLatencyMs: Latency;
  uploadLatencyMs: Latency;
  meanJpegBytes: number | null;
  backlogAtEnd: number;
  maxBacklog: number;
  stillPending: number;
  uploadsLeft: number;
  drained: boolean;
  drainSeconds: number;
  perSecondAccepted: number[];
  firstFailure: string | null;
  cpuSeconds: number;
}

interface Latency {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

interface RunningClient {
  /** Epoch ms of the measured window, once the cameras started. */
  started: Promise<{ t0: number; measureFrom: number; measureTo: number }>;
  report: Promise<ClientReport>;
}

function runClient(urls: string[], token: string, cameras: number, runId: string): RunningClient {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench', 'scale-client.ts'),
      '--urls',
      urls.join(','),
      '--token',
      token,
      '--cameras',
      String(cameras),
      '--seconds',
      String(seconds),
      '--warmup',
      String(warmupSeconds),
      '--seed',
      String(seed),
      '--run-id',
      runId,
      '--upload-share',
      String(uploadShare),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let resolveStarted: (value: { t0: number; measureFrom: number; measureTo: number }) => void;
  let rejectStarted: (error: Error) => void;
  const started = new Promise<{ t0: number; measureFrom: number; measureTo: number }>(
    (resolve, reject) => {
      resolveStarted = resolve;
      rejectStarted = reject;
    },
  );
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (line) => {
    lines.push(line);
    if (line.includes('"event":"started"')) {
      resolveStarted(JSON.parse(line) as { t0: number; measureFrom: number; measureTo: number });
    }
  });
  const report = new Promise<ClientReport>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      rejectStarted(new Error(`the camera simulator exited (${code}) before starting`));
      const line = lines.findLast((text) => text.includes('"event":"report"'));
      if (line === undefined) {
        reject(new Error(`the camera simulator exited ${code} without a report`));
        return;
      }
      resolve(JSON.parse(line) as ClientReport);
    });
  });
  // The report is awaited after the kill; a failure before that must not go unhandled.
  started.catch(() => undefined);
  return { started, report };
}

// ---------------------------------------------------------------------------------------------
// One phase

type Mode = 'baseline' | 'replicas';

/** Bytes of the stored results: both tables with their indexes and TOAST. */
const TABLE_BYTES = `select (pg_total_relation_size('prediction_logs')
  + pg_total_relation_size('prediction_classes'))::text as bytes`;

/** On a loaded 2-core machine a replica restarted under load takes tens of seconds to start. */
const SERVER_START_TIMEOUT_MS = 120_000;

interface KillInfo {
  replica: string;
  /** Seconds into the measured window. */
  atSecond: number;
  /** SIGKILL → the restarted replica answering /api/health. */
  backAfterMs: number;
  restartedBeforeWindowEnd: boolean;
}

interface Replica {
  name: string;
  port: number;
  dataDir: string;
  handle: ServerHandle;
}

async function stopReplica(replica: Replica): Promise<void> {
  const { child } = replica.handle.proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await replica.handle.proc.exited;
  clearTimeout(timer);
}

async function runPhase(
  pgServer: Postgres,
  s3: TestS3Server,
  cameras: number,
  mode: Mode,
  phase: number,
) {
  const runId = `s${cameras}${mode[0]}${randomBytes(3).toString('hex')}`;
  const schema = `scale_${runId}`;
  await withClient(pgServer.baseUrl, (client) => client.query(`create schema ${schema}`));
  const url = withSearchPath(pgServer.baseUrl, schema);
  const env = {
    ...s3.env(`${schema}/`),
    DATABASE_URL: url,
    VISIONLOOP_EVENTS_FANOUT_FRAMES: fanOutFrames,
  };
  const replicas: Replica[] = [];
  const dirs: string[] = [];
  const serverCpu = new Map<number, number>();
  const sampleCpu = () => {
    for (const replica of replicas) {
      const pid = replica.handle.proc.child.pid;
      const stat = pid === undefined ? null : procStat(pid);
      if (pid !== undefined && stat !== null) serverCpu.set(pid, stat.own);
    }
  };
  const startReplica = async (name: string, port?: number, dataDir?: string) => {
    const dir = dataDir ?? mkdtempSync(join(tmpdir(), `visionloop-scale-${name}-`));
    if (dataDir === undefined) dirs.push(dir);
    const at = port ?? (await freePort());
    const handle = await startServer(at, dir, env, { timeoutMs: SERVER_START_TIMEOUT_MS });
    return { name, port: at, dataDir: dir, handle };
  };
  let sampler: NodeJS.Timeout | undefined;
  try {
    const startedAt = performance.now();
    replicas.push(await startReplica('a'));
    const first = replicas[0];
    if (first === undefined) throw new Error('no replica');
    if (mode === 'replicas') replicas.push(await startReplica('b'));
    const startupSeconds = round((performance.now() - startedAt) / 1000, 1);
    const adminToken = readFileSync(join(first.dataDir, 'admin-token'), 'utf8').trim();
    const created = await fetch(`${first.handle.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scale-cameras', scope: 'agent' }),
    });
    if (created.status !== 201) throw new Error(`POST /api/tokens answered ${created.status}`);
    const agentToken = ((await created.json()) as { token: string }).token;

    const emptyTableBytes = await withClient(url, async (db) => {
      const size = await db.query<{ bytes: string }>(TABLE_BYTES);
      return Number(size.rows[0]?.bytes ?? 0);
    });
    const load = loadavg();
    /** CPU seconds so far: replicas (every process of the phase), PostgreSQL, this process. */
    const snapshot = () => {
      sampleCpu();
      let servers = 0;
      for (const cpu of serverCpu.values()) servers += cpu;
      const bench = process.cpuUsage();
      return {
        at: performance.now(),
        servers,
        postgres:
          pgServer.postmasterPid === null ? null : postgresCpuSeconds(pgServer.postmasterPid),
        bench: (bench.user + bench.system) / 1e6,
      };
    };
    const spent = (from: ReturnType<typeof snapshot>, to: ReturnType<typeof snapshot>) => ({
      servers: round(to.servers - from.servers, 2),
      postgres:
        from.postgres === null || to.postgres === null
          ? null
          : round(to.postgres - from.postgres, 2),
      benchAndS3: round(to.bench - from.bench, 2),
      wallSeconds: round((to.at - from.at) / 1000, 2),
    });
    const phaseStart = snapshot();
    sampler = setInterval(sampleCpu, 500);
    log(`${cameras} cameras, ${mode} (phase ${phase}): ${replicas.length} replica(s) up`);
    const client = runClient(
      replicas.map((replica) => replica.handle.url),
      agentToken,
      cameras,
      runId,
    );
    const window = await client.started;
    // CPU over the measured window only: no JIT warm-up, no drain.
    const windowCpu = new Promise<ReturnType<typeof spent>>((resolve) => {
      setTimeout(() => {
        const from = snapshot();
        setTimeout(() => resolve(spent(from, snapshot())), window.measureTo - Date.now());
      }, window.measureFrom - Date.now());
    });

    const killed: { value: KillInfo | null } = { value: null };
    let killing: Promise<void> = Promise.resolve();
    if (mode === 'replicas') {
      const rng = new Rng(hashSeed(seed, cameras, 0x6b11));
      const atSecond = round(seconds * rng.uniform(0.3, 0.5), 2);
      const victimIndex = rng.int(replicas.length);
      killing = (async () => {
        await new Promise((resolve) =>
          setTimeout(resolve, window.measureFrom + atSecond * 1000 - Date.now()),
        );
        const victim = replicas[victimIndex];
        if (victim === undefined) return;
        sampleCpu();
        victim.handle.proc.child.kill('SIGKILL');
        const killedAt = Date.now();
        await victim.handle.proc.exited;
        log(`SIGKILLed replica ${victim.name} at ${atSecond} s; restarting it`);
        const restarted = await startReplica(victim.name, victim.port, victim.dataDir);
        const backAt = Date.now();
        replicas[victimIndex] = restarted;
        killed.value = {
          replica: victim.name,
          atSecond,
          backAfterMs: backAt - killedAt,
          restartedBeforeWindowEnd: backAt < window.measureTo,
        };
      })();
    }
    const [report, cpuInWindow] = await Promise.all([client.report, windowCpu, killing]);
    clearInterval(sampler);
    const cpuWhole = spent(phaseStart, snapshot());

    const database = await withClient(url, async (db) => {
      const frames = await db.query<{ camera: string; frame_index: number; copies: number }>(
        `select camera, frame_index, count(*)::int as copies from prediction_logs
          where id like $1 group by camera, frame_index`,
        [`${runId}-%`],
      );
      const totals = await db.query<{ rows: number; with_frame: number }>(
        'select count(*)::int as rows, count(frame_blob)::int as with_frame from prediction_logs',
      );
      const size = await db.query<{ bytes: string }>(TABLE_BYTES);
      const stored: StoredFrame[] = frames.rows.map((row) => ({
        camera: row.camera,
        frameIndex: Number(row.frame_index),
        copies: row.copies,
      }));
      return { stored, totals: totals.rows[0], bytes: Number(size.rows[0]?.bytes ?? 0) };
    });
    const account = accountDelivery(report.generated, database.stored);
    const rows = database.totals?.rows ?? 0;
    // What the rows added: the empty tables' pages (one per index) are not a row's.
    const tableBytes = database.bytes - emptyTableBytes;
    return {
      mode,
      replicas: mode === 'replicas' ? 2 : 1,
      runId,
      startupSeconds,
      loadAverage1m: round(load[0] ?? 0, 2),
      offeredPerSecond: report.offeredPerSecond,
      ingestedPerSecond: report.ingestedPerSecond,
      ackLatencyMs: report.ackLatencyMs,
      deliveryLatencyMs: report.deliveryLatencyMs,
      uploadLatencyMs: report.uploadLatencyMs,
      kill: killed.value,
      frames: {
        sent: account.sent,
        stored: account.stored,
        lost: account.lost,
        duplicated: account.duplicated,
        unexpected: account.unexpected,
        camerasWithLoss: account.camerasWithLoss.slice(0, 5),
        /** Results the acks said were newly stored; with `ackedDuplicates` must make `stored`. */
        ackedAccepted: report.accepted,
        /** Results the acks reported as already stored: re-sends after a lost answer. */
        ackedDuplicates: report.duplicates,
        resentAfterFailure: report.resentResults,
        rejected: report.rejected,
      },
      requests: {
        batches: report.batches,
        failed: report.failedRequests,
        failovers: report.failovers,
        byReplica: report.requestsByReplica,
        heartbeats: report.heartbeats,
        heartbeatFailures: report.heartbeatFailures,
      },
      jpegs: {
        uploaded: report.uploads,
        stored: database.totals?.with_frame ?? 0,
        failedAttempts: report.uploadFailures,
        meanBytes: report.meanJpegBytes,
        left: report.uploadsLeft,
      },
      backlog: { atWindowEnd: report.backlogAtEnd, max: report.maxBacklog },
      drained: report.drained,
      drainSeconds: report.drainSeconds,
      perSecondAccepted: report.perSecondAccepted,
      cpuSeconds: {
        /** Over the measured window (what the per-result costs are fitted on). */
        window: cpuInWindow,
        /** From the camera simulator's start to the end of its drain. */
        phase: cpuWhole,
        cameraSimulator: report.cpuSeconds,
      },
      storage: {
        rows,
        tableBytes,
        bytesPerRow: rows > 0 ? Math.round(tableBytes / rows) : null,
      },
      firstFailure: report.firstFailure,
    };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    await Promise.all(replicas.map((replica) => stopReplica(replica)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await withClient(pgServer.baseUrl, (client) =>
      client.query(`drop schema if exists ${schema} cascade`),
    ).catch((error: unknown) => log(`could not drop ${schema}: ${String(error)}`));
  }
}

type Phase = Awaited<ReturnType<typeof runPhase>>;

// ---------------------------------------------------------------------------------------------

const loadAtStart = loadavg();
log('building dist/ if it is older than src/');
ensureBuilt();
const pgServer = await startPostgres();
let s3: TestS3Server | null = null;
const results: { cameras: number; baseline: Phase | null; replicas: Phase | null }[] = [];
const benchStarted = performance.now();
try {
  s3 = await startTestS3Server('visionloop-scale');
  for (const [index, cameras] of steps.entries()) {
    const order: Mode[] = index % 2 === 0 ? ['baseline', 'replicas'] : ['replicas', 'baseline'];
    const step: (typeof results)[number] = { cameras, baseline: null, replicas: null };
    for (const [k, mode] of order.entries()) {
      if (only !== undefined && only !== mode) continue;
      step[mode] = await runPhase(pgServer, s3, cameras, mode, index * 2 + k + 1);
    }
    results.push(step);
  }
} finally {
  await killAll();
  await s3?.close();
  pgServer.stop();
}

const stepSummaries = results.map(({ cameras, baseline, replicas }) => {
  const plan = planCameras(cameras, { seed, replicas: 2 });
  return {
    cameras,
    plannedOfferedPerSecond: round(offeredPerSecond(plan), 1),
    baseline: baseline && {
      offeredPerSecond: baseline.offeredPerSecond,
      ingestedPerSecond: baseline.ingestedPerSecond,
      ackP50Ms: baseline.ackLatencyMs.p50,
      ackP99Ms: baseline.ackLatencyMs.p99,
      lost: baseline.frames.lost,
      duplicated: baseline.frames.duplicated,
    },
    replicas: replicas && {
      offeredPerSecond: replicas.offeredPerSecond,
      ingestedPerSecond: replicas.ingestedPerSecond,
      ackP50Ms: replicas.ackLatencyMs.p50,
      ackP99Ms: replicas.ackLatencyMs.p99,
      deliveryP99Ms: replicas.deliveryLatencyMs.p99,
      lost: replicas.frames.lost,
      duplicated: replicas.frames.duplicated,
      ackedDuplicates: replicas.frames.ackedDuplicates,
      failovers: replicas.requests.failovers,
      killed: replicas.kill,
    },
    ratio: {
      ingested: ratio(replicas?.ingestedPerSecond ?? null, baseline?.ingestedPerSecond ?? null),
      ackP50: ratio(replicas?.ackLatencyMs.p50 ?? null, baseline?.ackLatencyMs.p50 ?? null),
      ackP99: ratio(replicas?.ackLatencyMs.p99 ?? null, baseline?.ackLatencyMs.p99 ?? null),
    },
  };
});

const phases = results.flatMap((step) => [step.baseline, step.replicas]).filter((p) => p !== null);
const saturationOf = (mode: Mode) =>
  saturationPoint(
    results.flatMap((step) => {
      const phase = step[mode];
      return phase === null
        ? []
        : [
            {
              cameras: step.cameras,
              offeredPerSecond: phase.offeredPerSecond,
              ingestedPerSecond: phase.ingestedPerSecond,
              ackP99Ms: phase.ackLatencyMs.p99,
            },
          ];
    }),
  );

// Per-result CPU from the baseline phases (one replica, no restart: no start-up CPU in them),
// fitted across the steps' loads (scale-accounting.ts, fitCpuPerResult); the replicas phases
// when there is no baseline. Bytes per row from the largest step (the most rows).
const costMode: Mode = results.some((step) => step.baseline !== null) ? 'baseline' : 'replicas';
const costPhases = results.flatMap((step) => (step[costMode] === null ? [] : [step[costMode]]));
type WindowCpu = Phase['cpuSeconds']['window'];
const fit = (pick: (cpu: WindowCpu, phase: Phase) => number | null) =>
  fitCpuPerResult(
    costPhases.flatMap((phase) => {
      const cpu = pick(phase.cpuSeconds.window, phase);
      const wall = phase.cpuSeconds.window.wallSeconds;
      return cpu === null || !(wall > 0)
        ? []
        : [{ resultsPerSecond: phase.ingestedPerSecond, cores: cpu / wall }];
    }),
  );
const cpuFits = {
  servers: fit((cpu) => cpu.servers),
  postgres: fit((cpu) => cpu.postgres),
  benchAndS3: fit((cpu) => cpu.benchAndS3),
  // The simulator reports its whole run only: scaled to the window by wall time.
  cameraSimulator: fit(
    (cpu, phase) =>
      (phase.cpuSeconds.cameraSimulator * cpu.wallSeconds) / phase.cpuSeconds.phase.wallSeconds,
  ),
};
const largest = results.at(-1);
const sizePhase = largest?.baseline ?? largest?.replicas ?? null;
const jpegMeans = phases.map((p) => p.jpegs.meanBytes).filter((b): b is number => b !== null);
const meanJpegBytes =
  jpegMeans.length > 0 ? Math.round(jpegMeans.reduce((a, b) => a + b, 0) / jpegMeans.length) : null;
const serverPer1000 = cpuFits.servers?.secondsPer1000 ?? null;
const postgresPer1000 = cpuFits.postgres?.secondsPer1000 ?? null;
const bytesPerRow = sizePhase?.storage.bytesPerRow ?? null;
const everythingPer1000 = Object.values(cpuFits).reduce(
  (sum, f) => sum + (f?.secondsPer1000 ?? 0),
  0,
);
/** Results/s this machine's cores could take if the measured per-result costs held. */
const projectedHere =
  everythingPer1000 > 0 ? Math.round((cpus().length / everythingPer1000) * 1000) : null;
const fleet1000 =
  serverPer1000 === null || bytesPerRow === null || meanJpegBytes === null
    ? null
    : {
        inputs: {
          bytesPerRow,
          bytesPerRowMeasuredAt: `${largest?.cameras} cameras, ${sizePhase?.mode}: ${sizePhase?.storage.rows} rows`,
          jpegBytes: meanJpegBytes,
          uncertainShare: uploadShare,
          sampledPerCameraPerDay: SAMPLED_PER_CAMERA_PER_DAY,
          serverCpuSecondsPer1000: serverPer1000,
          postgresCpuSecondsPer1000: postgresPer1000,
          cpuMeasuredOn: `${costMode} phases`,
        },
        estimate: estimateFleet({
          cameras: 1000,
          fps: 10,
          bytesPerRow,
          jpegBytes: meanJpegBytes,
          uncertainShare: uploadShare,
          sampledPerCameraPerDay: SAMPLED_PER_CAMERA_PER_DAY,
          serverCpuSecondsPer1000: serverPer1000,
          postgresCpuSecondsPer1000: postgresPer1000,
        }),
      };

console.log(
  JSON.stringify({
    bench: 'scale',
    database: pgServer.description,
    objectStore: 's3rver 3.7.1 on 127.0.0.1 (in the bench process)',
    cores: cpus().length,
    note: 'servers, PostgreSQL, s3rver and the camera simulator share these cores',
    loadAverage: {
      atStart: loadAtStart.map((v) => round(v, 2)),
      atEnd: loadavg().map((v) => round(v, 2)),
    },
    seed,
    secondsPerStep: seconds,
    warmupSeconds,
    uploadShare,
    fanOutFrames: fanOutFrames === 'true',
    wallSeconds: round((performance.now() - benchStarted) / 1000, 1),
    steps: stepSummaries,
    saturation: {
      replicas: saturationOf('replicas'),
      baseline: saturationOf('baseline'),
      /**
       * Where this machine would saturate if the per-result CPU measured here held: all its
       * cores busy with servers, PostgreSQL, s3rver and the camera simulator.
       */
      projectedHere:
        projectedHere === null
          ? null
          : { resultsPerSecond: projectedHere, camerasAt10Fps: Math.floor(projectedHere / 10) },
    },
    cpu: cpuFits,
    pass: {
      noLoss: phases.every((p) => p.frames.lost === 0 && p.frames.unexpected === 0),
      noDuplicates: phases.every((p) => p.frames.duplicated === 0),
      // Every stored result was acknowledged once: as accepted by the request that stored it, or
      // as a duplicate when that request's answer was lost and the batch was sent again.
      acksAccountForRows: phases.every(
        (p) => p.frames.ackedAccepted + p.frames.ackedDuplicates === p.frames.stored,
      ),
      everyJpegStored: phases.every((p) => p.jpegs.uploaded === p.jpegs.stored),
      drained: phases.every((p) => p.drained),
    },
    fleet1000,
    phases,
  }),
);
