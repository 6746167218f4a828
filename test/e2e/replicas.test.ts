/**
 * End to end with real processes: two `visionloop server` replicas (the CLI run from source
 * through tsx) on one PostgreSQL (a schema of the test cluster) and one S3 bucket (s3rver on
 * 127.0.0.1).
 *
 * - An alias moved on replica A reaches an `/api/events` client connected to replica B, and
 *   so do frame results ingested on A (PostgreSQL LISTEN/NOTIFY fan-out).
 * - Ingest stays exactly-once while a client switches replicas mid-stream: a batch acked by A
 *   is re-sent to B after A is SIGKILLed, a batch is sent to both at once, and every result
 *   ends up stored once.
 * - A frame uploaded through one replica is served by the other (one bucket).
 * - Neither replica prints the AWS SDK's Node-version notice.
 *
 * Needs PostgreSQL (VISIONLOOP_TEST_POSTGRES=1 or VISIONLOOP_TEST_DATABASE_URL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../src/shared/domain.js';
import {
  openPostgresTestDatabase,
  postgresTestUrl,
  type TestDatabase,
} from '../helpers/database.js';
import { makeResult } from '../helpers/frame-results.js';
import { startTestS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { freePort, until } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `visionloop …` from source. */
const ENTRY = `
const { main } = await import('./src/cli/main.ts');
process.exitCode = await main(['node', 'visionloop', ...process.argv.slice(1)]);
`;

interface Replica {
  name: string;
  url: string;
  dataDir: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A minimal server-sent-events reader: every `event:`/`data:` pair it has received. */
function openEvents(url: string, token: string, types: string) {
  const received: { type: string; data: unknown }[] = [];
  const controller = new AbortController();
  const ready = fetch(`${url}/api/events?types=${types}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  }).then((response) => {
    if (response.status !== 200 || response.body === null) {
      throw new Error(`GET /api/events answered ${response.status}`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const type = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (type !== undefined && data !== undefined) {
              received.push({ type, data: JSON.parse(data) as unknown });
            }
          }
        }
      } catch {
        // Aborted at the end of the test.
      }
    })();
  });
  return { received, ready, close: () => controller.abort() };
}

const postgres = postgresTestUrl();
if (postgres === undefined) {
  console.warn('\n*** replica tests SKIPPED: no PostgreSQL. Set VISIONLOOP_TEST_POSTGRES=1. ***\n');
}

describe.skipIf(postgres === undefined)('two server replicas on PostgreSQL and S3', () => {
  let database: TestDatabase;
  let s3: TestS3Server;
  const replicas: Replica[] = [];
  let a: Replica;
  let b: Replica;
  let token: string;

  async function startReplica(name: string): Promise<Replica> {
    const dataDir = mkdtempSync(join(tmpdir(), `visionloop-replica-${name}-`));
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...s3.env('replicas/'),
      DATABASE_URL: database.url,
      VISIONLOOP_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      VISIONLOOP_LOG_LEVEL: 'warn',
    };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', ENTRY, '--', 'server'],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const replica: Replica = {
      name,
      url: `http://127.0.0.1:${port}`,
      dataDir,
      child,
      output: () => output,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      }),
    };
    replicas.push(replica);
    await until(
      `replica ${name} to listen`,
      () => {
        if (child.exitCode !== null) throw new Error(`replica ${name} exited:\n${output}`);
        return Promise.resolve(output.includes(`listening on ${replica.url}`));
      },
      90_000,
      () => output,
    );
    return replica;
  }

  async function api(
    replica: Replica,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${replica.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? null : (JSON.parse(text) as unknown) };
  }

  beforeAll(async () => {
    database = await openPostgresTestDatabase();
    s3 = await startTestS3Server();
    // One after the other: A registers the seed model on the empty registry, B finds it.
    a = await startReplica('a');
    token = readFileSync(join(a.dataDir, 'admin-token'), 'utf8').trim();
    b = await startReplica('b');
  }, 200_000);

  afterAll(async () => {
    for (const replica of replicas) {
      if (replica.child.exitCode === null && replica.child.signalCode === null) {
        replica.child.kill('SIGTERM');
      }
    }
    await Promise.all(replicas.map((replica) => replica.exited));
    for (const replica of replicas) rmSync(replica.dataDir, { recursive: true, force: true });
    await s3?.close();
    await database?.cleanup();
  }, 60_000);

  it('fans an alias move on A and frames ingested on A out to an SSE client on B', async () => {
    const listed = await api(a, 'GET', '/api/models');
    expect(listed.status).toBe(200);
    const version = (listed.json as { models: { version: string }[] }).models[0]?.version;
    expect(version).toBeDefined();

    const events = openEvents(b.url, token, 'model,frame');
    await events.ready;
    const moved = await api(a, 'POST', `/api/models/${version}/promote`, {
      alias: 'staging',
      reason: 'replica fan-out test',
    });
    expect(moved.status).toBe(200);
    const results = Array.from({ length: 5 }, (_, i) => makeResult(i, { id: `fan-${i}` }));
    expect((await api(a, 'POST', '/api/ingest', { results })).status).toBe(200);

    const seen = await until(
      'the alias move and the 5 frames on B',
      () => {
        const model = events.received.filter(
          (event) =>
            event.type === 'model' &&
            (event.data as { alias?: string; action?: string }).alias === 'staging',
        );
        const frames = events.received.filter((event) => event.type === 'frame');
        return Promise.resolve(model.length >= 1 && frames.length >= 5 && { model, frames });
      },
      20_000,
      () => JSON.stringify(events.received),
    );
    events.close();
    // Announced once on B, with who moved it and why.
    expect(seen.model).toHaveLength(1);
    expect(seen.model[0]?.data).toMatchObject({
      alias: 'staging',
      action: 'alias-moved',
      toVersion: version,
      reason: 'replica fan-out test',
    });
    expect(
      seen.frames.map((event) => (event.data as { result: FrameResult }).result.id).sort(),
    ).toEqual(['fan-0', 'fan-1', 'fan-2', 'fan-3', 'fan-4']);
  });

  it('serves a frame uploaded through B from A, out of the one bucket', async () => {
    const jpeg = await sharp({
      create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 120, b: 150 } },
    })
      .jpeg({ quality: 80 })
      .toBuffer();
    await api(b, 'POST', '/api/ingest', { results: [makeResult(900, { id: 'with-frame' })] });
    const uploaded = await fetch(`${b.url}/api/frames/with-frame`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(jpeg),
    });
    expect(uploaded.status).toBe(200);
    const served = await fetch(`${a.url}/api/frames/with-frame`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(jpeg)).toBe(true);
    expect(s3.created.some((object) => object.name.startsWith('replicas/'))).toBe(true);
  });

  it('stores every result once while the client switches replicas mid-stream', async () => {
    const all = Array.from({ length: 300 }, (_, i) => makeResult(i, { id: `once-${i}` }));
    const batches = [0, 1, 2, 3, 4, 5].map((n) => all.slice(n * 50, n * 50 + 50));
    const ack = async (replica: Replica, results: FrameResult[]) => {
      const response = await api(replica, 'POST', '/api/ingest', { results });
      expect(response.status).toBe(200);
      return response.json as { accepted: number; duplicates: number };
    };
    expect(await ack(a, batches[0] ?? [])).toMatchObject({ accepted: 50, duplicates: 0 });
    expect(await ack(a, batches[1] ?? [])).toMatchObject({ accepted: 50, duplicates: 0 });
    // A dies right after acking batch 1; the client never saw that ack and re-sends it to B.
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(await ack(b, batches[1] ?? [])).toMatchObject({ accepted: 0, duplicates: 50 });
    expect(await ack(b, batches[2] ?? [])).toMatchObject({ accepted: 50, duplicates: 0 });

    // A comes back; the same batch sent to both replicas at once is stored once.
    a = await startReplica('a2');
    const [onA, onB] = await Promise.all([ack(a, batches[3] ?? []), ack(b, batches[3] ?? [])]);
    expect(onA.accepted + onB.accepted).toBe(50);
    expect(onA.duplicates + onB.duplicates).toBe(50);
    // A batch overlapping what is stored (25 old, 25 new) and the rest, alternating replicas.
    const overlap = [...(batches[3] ?? []).slice(25), ...(batches[4] ?? []).slice(0, 25)];
    expect(await ack(a, overlap)).toMatchObject({ accepted: 25, duplicates: 25 });
    expect(await ack(b, batches[4] ?? [])).toMatchObject({ accepted: 25, duplicates: 25 });
    expect(await ack(a, batches[5] ?? [])).toMatchObject({ accepted: 50, duplicates: 0 });

    const { rows } = await sql<{ stored: number; distinct_ids: number }>`
      select count(*) as stored, count(distinct id) as distinct_ids
      from prediction_logs where id like 'once-%'`.execute(database.db);
    expect(rows[0]).toEqual({ stored: 300, distinct_ids: 300 });
  }, 150_000);

  it('keeps the AWS SDK notice out of both replicas output', () => {
    for (const replica of replicas) expect(replica.output()).not.toContain('NodeVersionSupport');
  });
});
