/**
 * The camera simulator of bench/scale.bench.ts: N cameras, each behaving like a VisionLoop
 * agent's uplink (src/agent/uplink/sender.ts) towards a set of server replicas.
 *
 *   node --import tsx bench/scale-client.ts --urls URL[,URL…] --token T --cameras 8
 *        [--seconds 20] [--warmup 2] [--seed 1] [--run-id r1] [--upload-share 0.06]
 *        [--batch-size 200] [--batch-delay 1000] [--heartbeat 5000] [--drain 30]
 *
 * Each camera registers (POST /api/agents/register), produces seeded frame results at its own
 * 5–15 FPS (bench/scale-accounting.ts, planCameras) in real time, and like the agent keeps one
 * request in flight: a batch of up to `batch-size` results once the oldest waited `batch-delay`
 * ms, the JPEG of each `uncertain` result (the server's default `uploadFrames: uncertain`) one
 * at a time after its result was acknowledged, and a heartbeat every `heartbeat` ms. Cameras
 * are spread round-robin over the replicas; when a request to one fails (refused, reset, 5xx,
 * no answer within 10 s) the camera marks that replica down for a second and sends the same
 * batch — same ids — to another, as a load balancer in front of the replicas would. After
 * `warmup + seconds` it stops producing and drains what is left (at most `drain` seconds).
 *
 * The JPEGs are synthetic-line frames (src/synth, seeded) encoded at quality 85 like the agent's;
 * each upload gets a comment segment with its result id, so no two uploads share bytes (the
 * blob store is content-addressed and would store a repeated frame once).
 *
 * stdout: one `{"event":"started",…}` line when the cameras start producing (the bench times
 * the replica kill from it), then one JSON report. Only loopback URLs are accepted.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { FrameResult } from '../src/shared/domain.js';
import { SynthCamera } from '../src/synth/camera.js';
import { Rng, hashSeed } from '../src/synth/rng.js';
import { parseScenario } from '../src/synth/scenario.js';
import { makeFrameResults } from './ingest-rows.js';
import { planCameras, type CameraPlan } from './scale-accounting.js';
import { percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    urls: { type: 'string' },
    token: { type: 'string' },
    cameras: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    'run-id': { type: 'string', default: 'r1' },
    'upload-share': { type: 'string', default: '0.06' },
    'batch-size': { type: 'string', default: '200' },
    'batch-delay': { type: 'string', default: '1000' },
    heartbeat: { type: 'string', default: '5000' },
    drain: { type: 'string', default: '30' },
  },
});
if (values.urls === undefined || values.token === undefined) {
  throw new Error('--urls and --token are required');
}
const urls = values.urls.split(',').map((text) => new URL(text));
for (const url of urls) {
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
    throw new Error(`the scale bench runs on loopback only, not ${url.host}`);
  }
}
const token = values.token;
const cameraCount = Number(values.cameras);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const seed = Number(values.seed);
const runId = values['run-id'];
const uploadShare = Number(values['upload-share']);
const batchSize = Number(values['batch-size']);
const batchDelayMs = Number(values['batch-delay']);
const heartbeatMs = Number(values.heartbeat);
const drainSeconds = Number(values.drain);
const REQUEST_TIMEOUT_MS = 10_000;
const DOWN_FOR_MS = 1000;

// ---------------------------------------------------------------------------------------------
// JPEGs: a few synthetic-line frames, encoded once.

const JPEG_POOL = 6;
const scenario = parseScenario('nominal');
const jpegs: Buffer[] = [];
for (let i = 0; i < JPEG_POOL; i++) {
  const camera = new SynthCamera({ scenario, seed: hashSeed(seed, 0x1e9, i), fps: 10 });
  const { image } = camera.frame(i * 37);
  jpegs.push(
    await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .jpeg({ quality: 85, mozjpeg: false })
      .toBuffer(),
  );
}

/** `jpeg` with a COM segment carrying `id` right after SOI: unique bytes, same image. */
function uniqueJpeg(jpeg: Buffer, id: string): Buffer {
  const text = Buffer.from(id, 'latin1');
  const segment = Buffer.alloc(4 + text.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(text.length + 2, 2);
  text.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

// ---------------------------------------------------------------------------------------------
// HTTP

const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: cameraCount + 4 }));

interface Answer {
  status: number;
  text: string;
}

/** One request; rejects on a network error or after REQUEST_TIMEOUT_MS. */
function send(
  replica: number,
  method: string,
  path: string,
  contentType: string,
  body: Buffer,
): Promise<Answer> {
  const url = urls[replica];
  if (url === undefined) return Promise.reject(new Error(`no replica ${replica}`));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent: agents[replica],
        host: url.hostname,
        port: url.port,
        path,
        method,
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          'content-length': body.length,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Replica choice: home while up, else the next one up; a failed replica is avoided for a second.

const downUntil = urls.map(() => 0);

function pickReplica(home: number): number {
  const now = Date.now();
  for (let k = 0; k < urls.length; k++) {
    const candidate = (home + k) % urls.length;
    if ((downUntil[candidate] ?? 0) <= now) return candidate;
  }
  // All marked down: try the one that comes back first.
  let best = home;
  for (let k = 0; k < urls.length; k++) {
    if ((downUntil[k] ?? 0) < (downUntil[best] ?? 0)) best = k;
  }
  return best;
}

function markDown(replica: number): void {
  downUntil[replica] = Date.now() + DOWN_FOR_MS;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

// ---------------------------------------------------------------------------------------------
// Counters (the measured window is [measureFrom, measureTo))

const plan = planCameras(cameraCount, { seed, replicas: urls.length });
const ackLatencies: number[] = [];
const deliveryLatencies: number[] = [];
const uploadLatencies: number[] = [];
const counters = {
  accepted: 0,
  acceptedInWindow: 0,
  duplicates: 0,
  batches: 0,
  failedRequests: 0,
  failovers: 0,
  resentResults: 0,
  uploads: 0,
  uploadFailures: 0,
  uploadBytes: 0,
  heartbeats: 0,
  heartbeatFailures: 0,
  rejected: 0,
};
let firstFailure: string | null = null;
const requestsByReplica = urls.map(() => 0);

function noteFailure(what: string): void {
  firstFailure ??= what;
}

// ---------------------------------------------------------------------------------------------
// One camera

interface CameraState {
  plan: CameraPlan;
  agentId: string;
  results: FrameResult[];
  /** Next result to release into `pending`. */
  next: number;
  pending: FrameResult[];
  uploads: string[];
  lastHeartbeat: number;
}

let t0 = 0;
let measureFrom = 0;
let measureTo = 0;
let produceUntil = 0;
let drainUntil = 0;
const perSecondAccepted: number[] = [];

function frameResults(camera: CameraPlan, startAt: number): FrameResult[] {
  const count = Math.ceil(((warmupSeconds + seconds) * 1000) / camera.intervalMs);
  const results = makeFrameResults(count, {
    seed: camera.seed,
    cameras: [camera.camera],
    startAt,
    frameIntervalMs: camera.intervalMs,
    idPrefix: runId,
  });
  // `uncertain` decides whose JPEG is uploaded; a seeded share, as measured on a line, rather
  // than the generator's wide confidence spread.
  const rng = new Rng(hashSeed(camera.seed, 0x0c));
  for (const result of results) result.uncertain = rng.chance(uploadShare);
  return results;
}

async function register(camera: CameraPlan): Promise<string> {
  const body = json({ camera: camera.camera, name: `${runId}-${camera.camera}`, version: 'scale' });
  for (let attempt = 0; attempt < 20; attempt++) {
    const replica = pickReplica(camera.home);
    try {
      const answer = await send(replica, 'POST', '/api/agents/register', 'application/json', body);
      if (answer.status === 200) return (JSON.parse(answer.text) as { agentId: string }).agentId;
      noteFailure(`register: ${answer.status} ${answer.text.slice(0, 200)}`);
      if (answer.status < 500) break;
    } catch (error) {
      noteFailure(`register: ${String(error)}`);
    }
    markDown(replica);
    await sleep(250);
  }
  throw new Error(`camera ${camera.camera} could not register: ${firstFailure}`);
}

async function sendBatch(state: CameraState): Promise<void> {
  const batch = state.pending.slice(0, batchSize);
  const body = json({ agentId: state.agentId, results: batch });
  const firstAttempt = Date.now();
  for (let attempt = 0; ; attempt++) {
    const replica = pickReplica(state.plan.home);
    if (attempt > 0) {
      counters.failovers++;
      counters.resentResults += batch.length;
    }
    const startedAt = performance.now();
    const startedAtMs = Date.now();
    requestsByReplica[replica] = (requestsByReplica[replica] ?? 0) + 1;
    let answer: Answer | null = null;
    try {
      answer = await send(replica, 'POST', '/api/ingest', 'application/json', body);
    } catch (error) {
      noteFailure(`ingest: ${String(error)}`);
    }
    if (answer !== null && answer.status === 200) {
      const doneAt = Date.now();
      const ack = JSON.parse(answer.text) as { accepted: number; duplicates: number };
      counters.batches++;
      counters.accepted += ack.accepted;
      counters.duplicates += ack.duplicates;
      if (doneAt >= measureFrom && doneAt < measureTo) counters.acceptedInWindow += ack.accepted;
      const second = Math.floor((doneAt - t0) / 1000);
      perSecondAccepted[second] = (perSecondAccepted[second] ?? 0) + ack.accepted;
      if (startedAtMs >= measureFrom && startedAtMs < measureTo) {
        ackLatencies.push(performance.now() - startedAt);
        deliveryLatencies.push(doneAt - firstAttempt);
      }
      state.pending.splice(0, batch.length);
      for (const result of batch) if (result.uncertain) state.uploads.push(result.id);
      return;
    }
    counters.failedRequests++;
    if (answer !== null) {
      noteFailure(`ingest: ${answer.status} ${answer.text.slice(0, 200)}`);
      if (answer.status >= 400 && answer.status < 500) {
        // Refused for good: a bench bug, not load. Counted, and the batch dropped.
        counters.rejected += batch.length;
        state.pending.splice(0, batch.length);
        return;
      }
    }
    markDown(replica);
    if (Date.now() > drainUntil) return;
    // Another replica at once; when every one was tried, wait as the agent's backoff would.
    if (attempt % urls.length === urls.length - 1) await sleep(250);
  }
}

let uploadSequence = 0;

async function uploadOne(state: CameraState): Promise<void> {
  const id = state.uploads[0];
  if (id === undefined) return;
  const jpeg = uniqueJpeg(jpegs[uploadSequence++ % JPEG_POOL] ?? Buffer.alloc(0), id);
  const replica = pickReplica(state.plan.home);
  const startedAt = performance.now();
  try {
    const answer = await send(
      replica,
      'PUT',
      `/api/frames/${encodeURIComponent(id)}`,
      'image/jpeg',
      jpeg,
    );
    if (answer.status === 200) {
      counters.uploads++;
      counters.uploadBytes += jpeg.length;
      uploadLatencies.push(performance.now() - startedAt);
      state.uploads.shift();
      return;
    }
    noteFailure(`upload: ${answer.status} ${answer.text.slice(0, 200)}`);
    if (answer.status >= 400 && answer.status < 500) {
      counters.uploadFailures++;
      state.uploads.shift();
      return;
    }
  } catch (error) {
    noteFailure(`upload: ${String(error)}`);
  }
  counters.uploadFailures++;
  markDown(replica);
}

async function heartbeat(state: CameraState): Promise<void> {
  state.lastHeartbeat = Date.now();
  const replica = pickReplica(state.plan.home);
  const body = json({
    cameraFps: state.plan.fps,
    processFps: state.plan.fps * 0.7,
    skippedFps: state.plan.fps * 0.3,
    droppedFrames: 0,
    outboxDepth: state.pending.length,
    outboxBytes: state.pending.length * 900,
    shedCount: 0,
    modelVersion: 'seed-1',
    inferenceMsP50: 14,
    inferenceMsP99: 41,
  });
  try {
    const answer = await send(
      replica,
      'POST',
      `/api/agents/${encodeURIComponent(state.agentId)}/heartbeat`,
      'application/json',
      body,
    );
    if (answer.status === 200) {
      counters.heartbeats++;
      return;
    }
    noteFailure(`heartbeat: ${answer.status} ${answer.text.slice(0, 200)}`);
  } catch (error) {
    noteFailure(`heartbeat: ${String(error)}`);
  }
  counters.heartbeatFailures++;
  markDown(replica);
}

let backlogAtEnd = 0;
let maxBacklog = 0;

async function runCamera(state: CameraState): Promise<void> {
  for (;;) {
    const now = Date.now();
    while (state.next < state.results.length) {
      const result = state.results[state.next];
      if (result === undefined || result.capturedAt > now || result.capturedAt >= produceUntil) {
        break;
      }
      state.pending.push(result);
      state.next++;
    }
    const producing = now < produceUntil;
    if (now > drainUntil) return;
    if (now - state.lastHeartbeat >= heartbeatMs) {
      await heartbeat(state);
      continue;
    }
    const oldest = state.pending[0];
    if (
      oldest !== undefined &&
      (!producing || state.pending.length >= batchSize || now >= oldest.capturedAt + batchDelayMs)
    ) {
      await sendBatch(state);
      continue;
    }
    if (state.uploads.length > 0) {
      await uploadOne(state);
      continue;
    }
    if (!producing && state.pending.length === 0) return;
    // Nothing due: wake when the oldest waiting result (or the next one) is due.
    const nextAt = oldest?.capturedAt ?? state.results[state.next]?.capturedAt ?? now + 100;
    await sleep(Math.min(nextAt + batchDelayMs - now, state.lastHeartbeat + heartbeatMs - now));
  }
}

// ---------------------------------------------------------------------------------------------

const cpuBefore = process.cpuUsage();
const states: CameraState[] = [];
for (const camera of plan) {
  states.push({
    plan: camera,
    agentId: await register(camera),
    results: [],
    next: 0,
    pending: [],
    uploads: [],
    lastHeartbeat: 0,
  });
}
t0 = Date.now();
measureFrom = t0 + warmupSeconds * 1000;
measureTo = measureFrom + seconds * 1000;
produceUntil = measureTo;
drainUntil = produceUntil + drainSeconds * 1000;
for (const state of states) {
  state.results = frameResults(state.plan, t0);
  // Heartbeats spread over the interval, as agents started at different times would be.
  state.lastHeartbeat = t0 - Math.floor((heartbeatMs * state.plan.seed) / 2 ** 32);
}
process.stdout.write(`${JSON.stringify({ event: 'started', t0, measureFrom, measureTo })}\n`);
const backlogTimer = setInterval(() => {
  const backlog = states.reduce((sum, state) => sum + state.pending.length, 0);
  maxBacklog = Math.max(maxBacklog, backlog);
}, 200);
const backlogAtEndTimer = setTimeout(() => {
  backlogAtEnd = states.reduce((sum, state) => sum + state.pending.length, 0);
}, produceUntil - Date.now());
await Promise.all(states.map((state) => runCamera(state)));
clearInterval(backlogTimer);
clearTimeout(backlogAtEndTimer);
const finishedAt = Date.now();
const cpu = process.cpuUsage(cpuBefore);
for (const agent of agents) agent.destroy();

const stat = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0 ? null : Math.round(percentile(sorted, p) * 100) / 100;
  return { count: sorted.length, p50: at(50), p99: at(99), max: at(100) };
};
const generated = states.map((state) => ({ camera: state.plan.camera, generated: state.next }));
const offeredInWindow = states.reduce(
  (sum, state) =>
    sum +
    state.results
      .slice(0, state.next)
      .filter((r) => r.capturedAt >= measureFrom && r.capturedAt < measureTo).length,
  0,
);
const stillPending = states.reduce((sum, state) => sum + state.pending.length, 0);
const uploadsLeft = states.reduce((sum, state) => sum + state.uploads.length, 0);
console.log(
  JSON.stringify({
    event: 'report',
    cameras: cameraCount,
    replicas: urls.length,
    fps: plan.map((camera) => Math.round(camera.fps * 100) / 100),
    offeredPerSecond: Math.round((offeredInWindow / seconds) * 10) / 10,
    ingestedPerSecond: Math.round((counters.acceptedInWindow / seconds) * 10) / 10,
    generated,
    sent: generated.reduce((sum, camera) => sum + camera.generated, 0),
    ...counters,
    requestsByReplica,
    ackLatencyMs: stat(ackLatencies),
    deliveryLatencyMs: stat(deliveryLatencies),
    uploadLatencyMs: stat(uploadLatencies),
    meanJpegBytes:
      counters.uploads > 0 ? Math.round(counters.uploadBytes / counters.uploads) : null,
    backlogAtEnd,
    maxBacklog,
    stillPending,
    uploadsLeft,
    drained: stillPending === 0 && uploadsLeft === 0,
    drainSeconds: Math.round((finishedAt - produceUntil) / 100) / 10,
    perSecondAccepted: Array.from(perSecondAccepted, (n) => n ?? 0),
    firstFailure,
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
  }),
);
