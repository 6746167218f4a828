/**
 * A tiny stand-in for the VisionLoop server's agent routes, on node:http at 127.0.0.1, for the
 * agent uplink's unit tests: it stores results by id (a duplicate is counted, not stored twice),
 * answers with scripted failures (status codes, connection resets, a commit whose answer is
 * lost), enforces "frame after result" (404), and records what it saw.
 *
 * Test-only: never imported by src/.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentSettings, HeartbeatRequest } from '../../src/shared/api/agents.js';
import type { ModelEvent } from '../../src/shared/api/events.js';
import type { ProductionRef } from '../../src/shared/api/models.js';
import type { AgentModelPlan } from '../../src/shared/api/inspection-chain.js';
import type { FrameResult } from '../../src/shared/domain.js';

/** What the next request of a route gets. */
export type Behavior =
  | 'ok'
  /** The connection is cut before anything is stored. */
  | 'reset'
  /** Stored and committed, but the connection is cut before the answer. */
  | 'ack-lost'
  /** Never answers (until the server closes). */
  | 'hang'
  | { status: number; code?: string; retryAfter?: string; body?: string };

export interface FakeUplinkServer {
  url: string;
  /** Stored results by id, with how many times each was stored (must stay 1). */
  stored: Map<string, FrameResult>;
  storeCounts: Map<string, number>;
  /** Ids in the order they were stored. */
  order: string[];
  frames: Map<string, Buffer>;
  frameContentTypes: string[];
  heartbeats: HeartbeatRequest[];
  registrations: unknown[];
  authorizations: string[];
  ingestCalls: number;
  ingestBatchSizes: number[];
  duplicates: number;
  maxConcurrentIngest: number;
  /** Scripted answers, consumed one per request, per route. */
  plans: { ingest: Behavior[]; register: Behavior[]; heartbeat: Behavior[]; frame: Behavior[] };
  /** Answers 400 VALIDATION_FAILED to any batch holding one of these ids. */
  refuseIds: Set<string>;
  settings: AgentSettings;
  agentId: string;
  /**
   * The agent event stream (`GET /api/agents/{id}/events`): what a new connection gets first
   * (the current plan and production), and `pushEvent` sends to every open one. Null plan:
   * a server without plans (no `plan` event, none in heartbeat answers).
   */
  plan: AgentModelPlan | null;
  production: ProductionRef | null;
  /** Open event-stream connections and how many were ever opened. */
  eventStreams: number;
  eventConnections: number;
  /** Sends a `plan` (and remembers it as the current one) or a `model` event to open streams. */
  pushPlan(plan: AgentModelPlan): void;
  pushModelEvent(event: ModelEvent): void;
  /** Model files served by `GET /api/models/{version}/artifact`, and the versions fetched. */
  artifacts: Map<string, Buffer>;
  artifactDownloads: string[];
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Applies a scripted failure; true when the request was answered (or cut) by it. */
function applyFailure(behavior: Behavior, response: ServerResponse): boolean {
  if (behavior === 'ok' || behavior === 'ack-lost') return false;
  if (behavior === 'reset') {
    response.socket?.destroy();
    return true;
  }
  if (behavior === 'hang') return true;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (behavior.retryAfter !== undefined) headers['retry-after'] = behavior.retryAfter;
  response.writeHead(behavior.status, headers);
  response.end(
    behavior.body ??
      JSON.stringify({
        error: { code: behavior.code ?? `STATUS_${behavior.status}`, message: 'scripted' },
      }),
  );
  return true;
}

export async function startFakeUplinkServer(
  options: { responseDelayMs?: number } = {},
): Promise<FakeUplinkServer> {
  let inFlight = 0;
  const hanging: ServerResponse[] = [];
  const streams = new Set<ServerResponse>();
  const writeEvent = (response: ServerResponse, event: string, data: unknown) =>
    response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const state: Omit<
    FakeUplinkServer,
    'url' | 'close' | 'pushPlan' | 'pushModelEvent' | 'eventStreams'
  > = {
    stored: new Map(),
    storeCounts: new Map(),
    order: [],
    frames: new Map(),
    frameContentTypes: [],
    heartbeats: [],
    registrations: [],
    authorizations: [],
    ingestCalls: 0,
    ingestBatchSizes: [],
    duplicates: 0,
    maxConcurrentIngest: 0,
    plans: { ingest: [], register: [], heartbeat: [], frame: [] },
    refuseIds: new Set(),
    settings: { revision: 1, uploadFrames: 'uncertain', jpegQuality: 85 },
    agentId: 'agent-1',
    plan: null,
    production: null,
    eventConnections: 0,
    artifacts: new Map(),
    artifactDownloads: [],
  };
  const delay = () =>
    new Promise<void>((resolve) => setTimeout(resolve, options.responseDelayMs ?? 2));

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = request.url ?? '/';
    state.authorizations.push(request.headers.authorization ?? '');
    const body = await readBody(request);
    if (request.method === 'POST' && url === '/api/agents/register') {
      const behavior = state.plans.register.shift() ?? 'ok';
      if (behavior === 'hang') hanging.push(response);
      if (applyFailure(behavior, response)) return;
      state.registrations.push(JSON.parse(body.toString('utf8')));
      sendJson(response, 200, {
        agentId: state.agentId,
        settings: state.settings,
        serverTime: Date.now(),
      });
      return;
    }
    const heartbeat = /^\/api\/agents\/([^/]+)\/heartbeat$/.exec(url);
    if (request.method === 'POST' && heartbeat) {
      const behavior = state.plans.heartbeat.shift() ?? 'ok';
      if (applyFailure(behavior, response)) return;
      state.heartbeats.push(JSON.parse(body.toString('utf8')) as HeartbeatRequest);
      sendJson(response, 200, {
        settings: state.settings,
        serverTime: Date.now(),
        ...(state.production === null ? {} : { production: state.production }),
        ...(state.plan === null ? {} : { plan: state.plan }),
      });
      return;
    }
    if (request.method === 'GET' && /^\/api\/agents\/([^/]+)\/events$/.test(url)) {
      state.eventConnections++;
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      streams.add(response);
      response.on('close', () => streams.delete(response));
      if (state.production !== null) {
        writeEvent(response, 'model', {
          type: 'model',
          at: Date.now(),
          action: 'current',
          alias: 'production',
          fromVersion: null,
          toVersion: state.production.version,
          sha256: state.production.sha256,
          actor: null,
          reason: null,
        } satisfies ModelEvent);
      }
      if (state.plan !== null) writeEvent(response, 'plan', state.plan);
      return;
    }
    const artifact = /^\/api\/models\/([^/]+)\/artifact$/.exec(url);
    if (request.method === 'GET' && artifact) {
      const version = decodeURIComponent(artifact[1] ?? '');
      state.artifactDownloads.push(version);
      const bytes = state.artifacts.get(version);
      if (bytes === undefined) {
        sendJson(response, 404, { error: { code: 'NOT_FOUND', message: `no model ${version}` } });
        return;
      }
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(bytes);
      return;
    }
    if (request.method === 'POST' && url === '/api/ingest') {
      state.ingestCalls++;
      inFlight++;
      state.maxConcurrentIngest = Math.max(state.maxConcurrentIngest, inFlight);
      try {
        await delay();
        const behavior = state.plans.ingest.shift() ?? 'ok';
        if (behavior === 'hang') hanging.push(response);
        if (applyFailure(behavior, response)) return;
        const batch = JSON.parse(body.toString('utf8')) as { results: FrameResult[] };
        state.ingestBatchSizes.push(batch.results.length);
        if (batch.results.some((r) => state.refuseIds.has(r.id))) {
          sendJson(response, 400, { error: { code: 'VALIDATION_FAILED', message: 'refused id' } });
          return;
        }
        let accepted = 0;
        let duplicates = 0;
        for (const result of batch.results) {
          if (state.stored.has(result.id)) {
            duplicates++;
            continue;
          }
          state.stored.set(result.id, result);
          state.storeCounts.set(result.id, (state.storeCounts.get(result.id) ?? 0) + 1);
          state.order.push(result.id);
          accepted++;
        }
        state.duplicates += duplicates;
        if (behavior === 'ack-lost') {
          response.socket?.destroy();
          return;
        }
        sendJson(response, 200, { accepted, duplicates, committedAt: Date.now() });
      } finally {
        inFlight--;
      }
      return;
    }
    const frame = /^\/api\/frames\/([^/]+)$/.exec(url);
    if (request.method === 'PUT' && frame) {
      const behavior = state.plans.frame.shift() ?? 'ok';
      if (applyFailure(behavior, response)) return;
      const id = decodeURIComponent(frame[1] ?? '');
      state.frameContentTypes.push(request.headers['content-type'] ?? '');
      if (!state.stored.has(id)) {
        sendJson(response, 404, { error: { code: 'NOT_FOUND', message: `no result ${id}` } });
        return;
      }
      state.frames.set(id, body);
      sendJson(response, 200, {
        id,
        blob: 'a'.repeat(64),
        width: 640,
        height: 480,
        bytes: body.length,
      });
      return;
    }
    sendJson(response, 404, { error: { code: 'NOT_FOUND', message: `no route ${url}` } });
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      sendJson(response, 500, { error: { code: 'INTERNAL', message: String(error) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    get eventStreams() {
      return streams.size;
    },
    pushPlan(plan: AgentModelPlan) {
      state.plan = plan;
      for (const response of streams) writeEvent(response, 'plan', plan);
    },
    pushModelEvent(event: ModelEvent) {
      for (const response of streams) writeEvent(response, 'model', event);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of streams) response.end();
        for (const response of hanging) response.socket?.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
