/**
 * The load generator of bench/ingest.bench.ts, run as a separate process so that encoding
 * and sending requests does not run on the server's event loop (on a 2-core machine they
 * still share the CPU).
 *
 *   node --import tsx bench/ingest-client.ts --url URL --token T [--seconds 10] [--warmup 2]
 *        [--batch 1000] [--concurrency 4] [--seed 1] [--run-id r1]
 *
 * It encodes a pool of batches once, as bytes, then sends them with `concurrency` requests in
 * flight over keep-alive connections (node:http), making every id unique by overwriting a
 * fixed-width run marker inside a copy of the encoded body and moving capture times forward per
 * batch by overwriting their (fixed-width, 13-digit) values in place — no encoding, searching
 * or string building per request, so the load generator, which stands in for agents on other
 * machines, takes as little as it can of the CPU it shares with the server. Requests started
 * during the warm-up are not measured. Prints one JSON object: acknowledged results, their rate
 * over the measured window, and acknowledgement latency percentiles (request start → response
 * body read).
 */
import { Agent, request } from 'node:http';
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

// A marker of fixed width inside every id; overwritten by a per-request counter of the same
// width, so each request's ids are new.
const MARKER = 'QQQQQQQQ';
const POOL = 16;
/** Capture times are epoch ms with 13 digits (2001–2286), overwritten in place. */
const TIME_DIGITS = 13;

/** An encoded body and where its id markers and capture-time digits are. */
interface Template {
  bytes: Buffer;
  markerOffsets: number[];
  timeOffsets: number[];
  times: number[];
}

const templates: Template[] = [];
for (let i = 0; i < POOL; i++) {
  const results = makeFrameResults(batchSize, {
    seed: seed * 1000 + i,
    idPrefix: `${runId}-${MARKER}-${i}`,
    startAt: Date.now(),
  });
  const encoded = JSON.stringify({ results });
  const bytes = Buffer.from(encoded, 'utf8');
  // Offsets are byte offsets: the body must be ASCII for string and byte positions to agree.
  if (bytes.length !== encoded.length) throw new Error('the load generator needs ASCII bodies');
  const template: Template = { bytes, markerOffsets: [], timeOffsets: [], times: [] };
  for (const match of encoded.matchAll(new RegExp(`${MARKER}|"capturedAt":(\\d+)`, 'g'))) {
    const digits = match[1];
    if (digits === undefined) {
      template.markerOffsets.push(match.index);
      continue;
    }
    if (digits.length !== TIME_DIGITS) throw new Error(`capture time ${digits} is not 13 digits`);
    template.timeOffsets.push(match.index + match[0].length - TIME_DIGITS);
    template.times.push(Number(digits));
  }
  templates.push(template);
}

// Capture time must advance as on a real line: every index on prediction_logs leads with or
// includes captured_at, and re-sending the same timestamps would insert into the middle of
// those indexes (4× slower on SQLite than appending, and not what ingest sees).
const batchSpanMs = (batchSize / 4) * 33 + 33;

let sequence = 0;
function nextBody(): Buffer {
  const template = templates[sequence % POOL];
  if (template === undefined) throw new Error('no body templates');
  const shift = sequence * batchSpanMs;
  const tag = (sequence++).toString(36).padStart(MARKER.length, '0');
  // A copy per request: the bodies of requests in flight must not change under them.
  const body = Buffer.from(template.bytes);
  for (const offset of template.markerOffsets) body.write(tag, offset, 'latin1');
  const { timeOffsets, times } = template;
  for (let i = 0; i < timeOffsets.length; i++) {
    body.write(String((times[i] ?? 0) + shift), timeOffsets[i] ?? 0, 'latin1');
  }
  return body;
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);

/** POSTs `body`; resolves with the status and the answer's text. */
function post(body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
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
    req.on('error', reject);
    req.end(body);
  });
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
      const { status, text } = await post(body);
      const doneAt = performance.now();
      if (status !== 200) {
        failures++;
        firstFailure ??= `${status} ${text.slice(0, 300)}`;
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
agent.destroy();
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
