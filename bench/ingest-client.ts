/**
 * The load generator of bench/ingest.bench.ts, run as a separate process so that encoding
 * and sending requests does not run on the server's event loop (on a 2-core machine they
 * still share the CPU).
 *
 *   node --import tsx bench/ingest-client.ts --url URL --token T [--seconds 10] [--warmup 2]
 *        [--batch 1000] [--concurrency 4] [--seed 1] [--run-id r1]
 *
 * It encodes a pool of batches once, then sends them with `concurrency` requests in flight,
 * making every id unique by swapping a fixed-width run marker inside the pre-encoded body and
 * moving capture times forward per batch — both by joining pre-split pieces of the encoded
 * body, not by encoding or searching it per request, so the load generator takes as little of
 * the CPU it shares with the server as it can. Requests started during the warm-up are not
 * measured. Prints one JSON object: acknowledged results, their rate over the measured
 * window, and acknowledgement latency percentiles (request start → response body read).
 */
import { parseArgs } from 'node:util';
import { makeFrameResults } from './ingest-rows.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
    'run-id': { type: 'string', default: 'r1' },
  },
});
if (values.url === undefined || values.token === undefined) {
  throw new Error('--url and --token are required');
}
const url = `${values.url}/api/ingest`;
const token = values.token;
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const batchSize = Number(values.batch);
const concurrency = Number(values.concurrency);
const seed = Number(values.seed);
const runId = values['run-id'];

// A marker of fixed width inside every id; replaced by a per-request counter of the same
// width, so each request's ids are new.
const MARKER = 'QQQQQQQQ';
const POOL = 16;
/** An encoded body in pieces: literal text, the id marker (null), or a capture time. */
type Piece = string | null | { capturedAt: number };
const templates: Piece[][] = [];
for (let i = 0; i < POOL; i++) {
  const results = makeFrameResults(batchSize, {
    seed: seed * 1000 + i,
    idPrefix: `${runId}-${MARKER}-${i}`,
    startAt: Date.now(),
  });
  const pieces: Piece[] = [];
  const encoded = JSON.stringify({ results });
  const token = new RegExp(`${MARKER}|"capturedAt":(\\d+)`, 'g');
  let last = 0;
  for (const match of encoded.matchAll(token)) {
    pieces.push(encoded.slice(last, match.index));
    pieces.push(match[1] === undefined ? null : { capturedAt: Number(match[1]) });
    last = match.index + match[0].length;
  }
  pieces.push(encoded.slice(last));
  templates.push(pieces);
}

// Capture time must advance as on a real line: every index on prediction_logs leads with or
// includes captured_at, and re-sending the same timestamps would insert into the middle of
// those indexes (4× slower on SQLite than appending, and not what ingest sees).
const batchSpanMs = (batchSize / 4) * 33 + 33;

let sequence = 0;
function nextBody(): string {
  const pieces = templates[sequence % POOL] ?? [];
  const shift = sequence * batchSpanMs;
  const tag = (sequence++).toString(36).padStart(MARKER.length, '0');
  const out = new Array<string>(pieces.length);
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    out[i] =
      piece === null
        ? tag
        : typeof piece === 'string'
          ? piece
          : `"capturedAt":${(piece?.capturedAt ?? 0) + shift}`;
  }
  return out.join('');
}

const latencies: number[] = [];
let acknowledged = 0;
let acknowledgedTotal = 0;
let duplicates = 0;
let failures = 0;
let firstFailure: string | null = null;
let measuring = false;
const startedAt = performance.now();
const measureFrom = startedAt + warmupSeconds * 1000;
const endAt = measureFrom + seconds * 1000;
let measuredEnd = endAt;

async function worker(): Promise<void> {
  while (performance.now() < endAt) {
    const body = nextBody();
    const sentAt = performance.now();
    const counted = sentAt >= measureFrom;
    if (counted && !measuring) measuring = true;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      const text = await response.text();
      const doneAt = performance.now();
      if (!response.ok) {
        failures++;
        firstFailure ??= `${response.status} ${text.slice(0, 300)}`;
        continue;
      }
      const ack = JSON.parse(text) as { accepted: number; duplicates: number };
      acknowledgedTotal += ack.accepted;
      if (counted) {
        latencies.push(doneAt - sentAt);
        acknowledged += ack.accepted;
        duplicates += ack.duplicates;
        measuredEnd = Math.max(measuredEnd, doneAt);
      }
    } catch (error) {
      failures++;
      firstFailure ??= String(error);
    }
  }
}

const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, () => worker()));
const cpu = process.cpuUsage(cpuBefore);
latencies.sort((a, b) => a - b);
const rank = (p: number): number | null => {
  if (latencies.length === 0) return null;
  const index = Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1);
  return Math.round((latencies[Math.max(0, index)] ?? 0) * 100) / 100;
};
const measuredSeconds = (measuredEnd - measureFrom) / 1000;
console.log(
  JSON.stringify({
    batches: latencies.length,
    acknowledged,
    acknowledgedTotal,
    duplicates,
    failures,
    firstFailure,
    measuredSeconds: Math.round(measuredSeconds * 1000) / 1000,
    resultsPerSecond: Math.round(acknowledged / measuredSeconds),
    ackLatencyMs: { p50: rank(50), p99: rank(99), max: rank(100) },
    bodyBytes: nextBody().length,
    /** CPU seconds this process used while sending (warm-up included). */
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
  }),
);
