import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFakeUplinkServer,
  type FakeUplinkServer,
} from '../../../test/helpers/fake-uplink-server.js';
import { makeResult } from '../../../test/helpers/frame-results.js';
import { DEFAULT_AGENT_SETTINGS, type AgentSettings } from '../../shared/api/agents.js';
import { Rng } from '../../synth/rng.js';
import { Outbox, type OutboxEntry } from '../outbox.js';
import { abortableSleep, backoffDelay } from './backoff.js';
import { Sender, ingestBody, type AgentHealth, type SenderOptions } from './sender.js';
import { ServerClient } from './server-client.js';

const HEALTH: AgentHealth = {
  cameraFps: 20,
  processFps: 19.5,
  skippedFps: 0.5,
  droppedFrames: 0,
  modelVersion: 'v1',
  inferenceMsP50: 4,
  inferenceMsP99: null,
};

let dir: string;
let server: FakeUplinkServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-sender-'));
  server = await startFakeUplinkServer();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function openOutbox(): Outbox {
  const outbox = Outbox.open(join(dir, 'outbox.db'));
  cleanups.push(() => outbox.close());
  return outbox;
}

function fill(outbox: Outbox, from: number, to: number, jpegFor?: (i: number) => boolean): void {
  const list: OutboxEntry[] = [];
  for (let i = from; i < to; i++) {
    list.push({ result: makeResult(i), jpeg: jpegFor?.(i) ? new Uint8Array([i, 1, 2]) : null });
  }
  outbox.append(list);
}

interface Harness {
  sender: Sender;
  delays: number[];
  logs: string[];
  settingsSeen: AgentSettings[];
}

function startSender(outbox: Outbox, options: SenderOptions = {}, seed = 42): Harness {
  const rng = new Rng(seed);
  const delays: number[] = [];
  const logs: string[] = [];
  const settingsSeen: AgentSettings[] = [];
  const sender = new Sender(
    {
      outbox,
      client: new ServerClient({ baseUrl: server.url, token: 'tok', timeoutMs: 2000 }),
      registration: { camera: 'cam-1', version: '0.1.0' },
      health: () => HEALTH,
      settings: DEFAULT_AGENT_SETTINGS,
      onSettings: (settings) => settingsSeen.push(settings),
      random: () => rng.next(),
      // Backoff waits are recorded, not waited (the auth re-check is a real wait).
      sleep: (ms, signal) => {
        delays.push(ms);
        return abortableSleep(ms >= 60_000 ? ms : 0, signal);
      },
      log: (level, message) => logs.push(`${level}: ${message}`),
    },
    { batchSize: 4, batchDelayMs: 20, heartbeatIntervalMs: 60_000, ...options },
  );
  sender.start();
  cleanups.push(() => sender.stop());
  return { sender, delays, logs, settingsSeen };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function ids(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, k) => makeResult(from + k).id);
}

describe('Sender', () => {
  it('delivers every result exactly once, in order, through errors, resets and lost answers', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 30);
    server.plans.ingest.push(
      { status: 500 },
      'reset',
      { status: 429 },
      'ack-lost',
      'ok',
      { status: 503 },
      'ack-lost',
    );
    const { sender } = startSender(outbox);
    expect(await sender.drain(10_000)).toBe(true);

    expect(server.order).toEqual(ids(0, 30));
    expect([...server.storeCounts.values()].every((count) => count === 1)).toBe(true);
    expect(server.maxConcurrentIngest).toBe(1);
    const stats = sender.stats();
    // Two batches of 4 were committed but their answers lost: resent, and acknowledged the
    // second time as duplicates (the sender never saw them accepted).
    expect(stats).toMatchObject({
      resultsAcknowledged: 30,
      accepted: 22,
      duplicates: 8,
      failures: 6,
      consecutiveFailures: 0,
    });
    expect(outbox.stats()).toMatchObject({ pendingResults: 0, acknowledgedResults: 30 });
  });

  it('backs off exponentially with full jitter, from its seeded random source', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 2);
    for (let i = 0; i < 9; i++) server.plans.ingest.push({ status: 500 });
    const { sender, delays } = startSender(outbox, { backoffBaseMs: 250, backoffCapMs: 30_000 });
    expect(await sender.drain(10_000)).toBe(true);

    const reference = new Rng(42);
    const expected = Array.from(
      { length: 9 },
      (_, attempt) => reference.next() * Math.min(30_000, 250 * 2 ** attempt),
    );
    expect(delays).toEqual(expected);
    // The ceilings 250, 500, …, 30 000 (capped from the 8th attempt on).
    expect(backoffDelay(7, () => 0.5, 250, 30_000)).toBe(15_000);
    expect(backoffDelay(8, () => 0.5, 250, 30_000)).toBe(15_000);
    expect(backoffDelay(60, () => 0.999, 250, 30_000)).toBeCloseTo(29_970, 6);
    expect(server.order).toEqual(ids(0, 2));
  });

  it('waits at least as long as Retry-After says', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 1);
    server.plans.ingest.push({ status: 429, retryAfter: '2' });
    const { sender, delays } = startSender(outbox);
    expect(await sender.drain(5000)).toBe(true);
    expect(delays).toEqual([2000]);
  });

  it('sends full batches at once and a partial batch once it is old enough', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 10);
    startSender(outbox, { batchSize: 4, batchDelayMs: 30 });
    await until(() => server.stored.size === 10);
    expect(server.ingestBatchSizes).toEqual([4, 4, 2]);
  });

  it('resumes after a restart from what the outbox holds, storing nothing twice', async () => {
    const path = join(dir, 'outbox.db');
    const first = Outbox.open(path);
    fill(first, 0, 10);
    // The second batch is stored but its answer is lost; its retry hangs until the agent stops.
    server.plans.ingest.push('ok', 'ack-lost', 'hang');
    const run1 = startSender(first);
    await until(() => server.ingestCalls >= 3);
    await run1.sender.stop();
    first.close();

    const second = openOutbox();
    expect(second.stats().pendingResults).toBe(6);
    const run2 = startSender(second);
    expect(await run2.sender.drain(5000)).toBe(true);
    expect(server.order).toEqual(ids(0, 10));
    expect([...server.storeCounts.values()].every((count) => count === 1)).toBe(true);
    expect(server.duplicates).toBe(4);
  });

  it('isolates a result the server refuses for good and delivers all the others', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 10, (i) => i === 5);
    server.refuseIds.add('r-005');
    const { sender, logs } = startSender(outbox, { batchSize: 8 });
    expect(await sender.drain(5000)).toBe(true);
    expect(server.order).toEqual(ids(0, 10).filter((id) => id !== 'r-005'));
    expect(sender.stats().resultsRejected).toBe(1);
    expect(outbox.stats()).toMatchObject({
      pendingResults: 0,
      pendingFrames: 0,
      rejectedResults: 1,
      rejectedFrames: 1,
    });
    expect(logs.some((line) => line.startsWith('error:') && line.includes('r-005'))).toBe(true);
  });

  it('stops sending when the token is refused, and keeps the data', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 6);
    server.plans.ingest.push({ status: 401, code: 'UNAUTHENTICATED' });
    const { sender, logs } = startSender(outbox);
    await until(() => sender.stats().authFailed);
    expect(await sender.drain(200)).toBe(false);
    expect(server.ingestCalls).toBe(1);
    expect(server.stored.size).toBe(0);
    expect(outbox.stats().pendingResults).toBe(6);
    expect(sender.stats().state).toBe('auth-failed');
    expect(logs.some((line) => line.includes('REFUSES'))).toBe(true);
  });

  it('registers again when the server no longer knows the agent', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 4);
    server.plans.ingest.push({ status: 404, code: 'NOT_FOUND' });
    const { sender } = startSender(outbox);
    expect(await sender.drain(5000)).toBe(true);
    expect(server.registrations).toHaveLength(2);
    expect(sender.stats().registrations).toBe(2);
    expect(server.order).toEqual(ids(0, 4));
  });

  it('keeps registering while the server is down, then sends', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 3);
    server.plans.register.push('reset', { status: 502 }, { status: 503 });
    const { sender, delays } = startSender(outbox);
    expect(await sender.drain(5000)).toBe(true);
    expect(delays).toHaveLength(3);
    expect(server.registrations).toEqual([
      { camera: 'cam-1', version: '0.1.0', modelVersion: 'v1' },
    ]);
    expect(server.order).toEqual(ids(0, 3));
  });

  it('applies settings from registration and heartbeats and keeps them in the outbox', async () => {
    const outbox = openOutbox();
    server.settings = { revision: 2, uploadFrames: 'all', jpegQuality: 60 };
    const { sender, settingsSeen } = startSender(outbox, { heartbeatIntervalMs: 20 });
    await until(() => settingsSeen.length === 1);
    expect(sender.settings).toEqual({ revision: 2, uploadFrames: 'all', jpegQuality: 60 });
    server.settings = { revision: 3, uploadFrames: 'none', jpegQuality: 60 };
    await until(() => settingsSeen.length === 2);
    expect(outbox.loadSettings()).toEqual({ revision: 3, uploadFrames: 'none', jpegQuality: 60 });
    // Heartbeats carry the pipeline's numbers and the outbox's.
    expect(server.heartbeats[0]).toEqual({
      ...HEALTH,
      outboxDepth: 0,
      outboxBytes: 0,
      shedCount: 0,
    });
  });

  it('uploads each frame once its result is stored, retrying transient failures', async () => {
    const outbox = openOutbox();
    fill(outbox, 0, 9, (i) => i % 3 === 0);
    server.plans.frame.push({ status: 500 }, 'reset');
    const { sender } = startSender(outbox);
    expect(await sender.drain(5000)).toBe(true);
    expect([...server.frames.keys()].sort()).toEqual(['r-000', 'r-003', 'r-006']);
    expect([...(server.frames.get('r-003') ?? [])]).toEqual([3, 1, 2]);
    expect(sender.stats()).toMatchObject({ framesUploaded: 3, framesRejected: 0 });
    expect(outbox.stats()).toMatchObject({ pendingFrames: 0, uploadedFrames: 3 });
  });

  it('reports shed rows in its heartbeat', () => {
    const outbox = Outbox.open(join(dir, 'small.db'), { maxBytes: 3000 });
    cleanups.push(() => outbox.close());
    fill(outbox, 0, 20);
    const sender = new Sender({
      outbox,
      client: new ServerClient({ baseUrl: server.url, token: 't' }),
      registration: { camera: 'cam-1', version: '1' },
      health: () => HEALTH,
      settings: DEFAULT_AGENT_SETTINGS,
    });
    const stats = outbox.stats();
    expect(stats.shedResults).toBeGreaterThan(0);
    expect(sender.heartbeatBody()).toMatchObject({
      outboxDepth: stats.pendingResults,
      outboxBytes: stats.bytes,
      shedCount: stats.shedResults,
    });
    expect(stats.pendingResults + stats.shedResults).toBe(20);
  });

  it('joins stored JSON into an ingest body without reparsing', () => {
    const body = ingestBody('agent-1', [
      { seq: 1, id: 'a', body: '{"x":1}', storedAt: 0 },
      { seq: 2, id: 'b', body: '{"x":2}', storedAt: 0 },
    ]);
    expect(JSON.parse(body)).toEqual({ agentId: 'agent-1', results: [{ x: 1 }, { x: 2 }] });
    expect(JSON.parse(ingestBody(null, []))).toEqual({ results: [] });
  });
});
