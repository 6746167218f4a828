/**
 * The auth matrix: every route × every caller (each scope, no token, a revoked, an expired and
 * a malformed token; from loopback and from another machine), asserting who gets in and who
 * is refused with which status. The rows are the expected access, written independently of the
 * routes' own declarations; the route list comes from the app, so a new route without a row
 * (or a row without a route) fails this test.
 */
import { text } from 'node:stream/consumers';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../../src/shared/api/common.js';
import { SCOPES } from '../../../src/shared/api/common.js';
import { databaseTargets } from '../../helpers/database.js';
import { frameResult, openTestServer, testJpeg } from './fixtures.js';
import type { TestServer } from './fixtures.js';

const REMOTE = '203.0.113.7';
const LOOPBACK = '127.0.0.1';

interface Expected {
  scopes: readonly Scope[];
  openOnLoopback: boolean;
}
const AGENTS: Expected = { scopes: ['agent', 'admin'], openOnLoopback: false };
const READERS: Expected = { scopes: ['viewer', 'labeler', 'admin'], openOnLoopback: false };
const LOCAL_READERS: Expected = { scopes: ['viewer', 'labeler', 'admin'], openOnLoopback: true };
const ADMINS: Expected = { scopes: ['admin'], openOnLoopback: false };
const LABELERS: Expected = { scopes: ['labeler', 'admin'], openOnLoopback: false };
/** Model artifacts: readers and agents (which download the production model). */
const ARTIFACT_READERS: Expected = {
  scopes: ['viewer', 'labeler', 'admin', 'agent'],
  openOnLoopback: false,
};

interface Fixture {
  agentId: string;
  resultId: string;
  jpeg: Buffer;
  throwawayTokenId: string;
}

interface MatrixRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  payload?: InjectOptions['payload'];
}

interface Row {
  expected: Expected;
  /** The status an allowed caller gets. */
  success: number;
  request: (fixture: Fixture) => MatrixRequest;
  /** Server-sent events: the answer never ends; read the status, then drop the stream. */
  stream?: boolean;
}

const ROWS: Record<string, Row> = {
  'GET /api/health': {
    expected: LOCAL_READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/health' }),
  },
  'GET /api/model-status': {
    expected: LOCAL_READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/model-status' }),
  },
  'GET /api/metrics': {
    expected: LOCAL_READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/metrics' }),
  },
  'GET /metrics': {
    expected: LOCAL_READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/metrics' }),
  },
  'GET /api/events': {
    expected: READERS,
    success: 200,
    stream: true,
    request: () => ({ method: 'GET', url: '/api/events' }),
  },
  'POST /api/ingest': {
    expected: AGENTS,
    success: 200,
    request: (f) => ({
      method: 'POST',
      url: '/api/ingest',
      payload: { agentId: f.agentId, results: [frameResult(1)] },
    }),
  },
  'PUT /api/frames/:id': {
    expected: AGENTS,
    success: 200,
    request: (f) => ({
      method: 'PUT',
      url: `/api/frames/${f.resultId}`,
      headers: { 'content-type': 'image/jpeg' },
      payload: f.jpeg,
    }),
  },
  'GET /api/frames/:id': {
    expected: READERS,
    success: 200,
    request: (f) => ({ method: 'GET', url: `/api/frames/${f.resultId}` }),
  },
  'POST /api/agents/register': {
    expected: AGENTS,
    success: 200,
    request: () => ({
      method: 'POST',
      url: '/api/agents/register',
      payload: { camera: 'cam-m', version: '1' },
    }),
  },
  'POST /api/agents/:id/heartbeat': {
    expected: AGENTS,
    success: 200,
    request: (f) => ({
      method: 'POST',
      url: `/api/agents/${f.agentId}/heartbeat`,
      payload: {
        cameraFps: 1,
        processFps: 1,
        skippedFps: 0,
        droppedFrames: 0,
        outboxDepth: 0,
        outboxBytes: 0,
        shedCount: 0,
        modelVersion: 'seed-1',
        inferenceMsP50: null,
        inferenceMsP99: null,
      },
    }),
  },
  'GET /api/agents/:id/settings': {
    expected: AGENTS,
    success: 200,
    request: (f) => ({ method: 'GET', url: `/api/agents/${f.agentId}/settings` }),
  },
  'GET /api/agents': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/agents' }),
  },
  'GET /api/settings/agent': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/settings/agent' }),
  },
  'PUT /api/settings/agent': {
    expected: ADMINS,
    success: 200,
    request: () => ({ method: 'PUT', url: '/api/settings/agent', payload: { jpegQuality: 80 } }),
  },
  'GET /api/inspection-chain': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/inspection-chain' }),
  },
  'PUT /api/inspection-chain': {
    expected: ADMINS,
    success: 200,
    request: () => ({
      method: 'PUT',
      url: '/api/inspection-chain',
      payload: {
        camera: null,
        chain: { stages: [], vetoClass: null, mmPerPixel: null, maxCrops: 4, rules: [] },
      },
    }),
  },
  'POST /api/rollouts': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/rollouts',
      payload: { kind: 'shadow', candidateVersion: 'v-none' },
    }),
  },
  'GET /api/rollouts': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/rollouts' }),
  },
  'GET /api/rollouts/:id': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/rollouts/ro-none' }),
  },
  'POST /api/rollouts/:id/promote': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/rollouts/ro-none/promote',
      payload: { reason: 'matrix' },
    }),
  },
  'POST /api/rollouts/:id/rollback': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/rollouts/ro-none/rollback',
      payload: { reason: 'matrix' },
    }),
  },
  'GET /api/inspection-logs': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/inspection-logs?limit=5' }),
  },
  'GET /api/inspection-logs/:id': {
    expected: READERS,
    success: 200,
    request: ({ resultId }) => ({ method: 'GET', url: `/api/inspection-logs/${resultId}` }),
  },
  'POST /api/tokens': {
    expected: ADMINS,
    success: 201,
    request: () => ({
      method: 'POST',
      url: '/api/tokens',
      payload: { name: 'matrix', scope: 'viewer' },
    }),
  },
  'GET /api/tokens': {
    expected: ADMINS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/tokens' }),
  },
  'GET /api/session': {
    expected: { scopes: ['agent', 'viewer', 'labeler', 'admin'], openOnLoopback: false },
    success: 200,
    request: () => ({ method: 'GET', url: '/api/session' }),
  },
  'DELETE /api/tokens/:id': {
    expected: ADMINS,
    success: 200,
    request: (f) => ({ method: 'DELETE', url: `/api/tokens/${f.throwawayTokenId}` }),
  },
  // Model registry: with no model registered, allowed callers get the registry's own answers.
  'GET /api/models': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/models' }),
  },
  'GET /api/models/:version': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/models/v-none' }),
  },
  'POST /api/models': {
    expected: ADMINS,
    success: 422,
    request: () => ({
      method: 'POST',
      url: '/api/models?version=v-matrix',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from('not an onnx model'),
    }),
  },
  'GET /api/models/:version/artifact': {
    expected: ARTIFACT_READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/models/v-none/artifact' }),
  },
  'GET /api/models/:version/weights': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/models/v-none/weights' }),
  },
  'POST /api/models/:version/promote': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/models/v-none/promote',
      payload: { alias: 'staging', reason: 'matrix' },
    }),
  },
  'POST /api/models/aliases/:alias/rollback': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/models/aliases/staging/rollback',
      payload: { reason: 'matrix' },
    }),
  },
  'GET /api/models/aliases/:alias/history': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/models/aliases/production/history' }),
  },
  'POST /api/predict': {
    expected: READERS,
    // Nothing is in production in this fixture: 503 MODEL_NOT_SERVING.
    success: 503,
    request: (f) => ({
      method: 'POST',
      url: '/api/predict',
      headers: { 'content-type': 'image/jpeg' },
      payload: f.jpeg,
    }),
  },
  'POST /api/reload': {
    expected: ADMINS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/reload' }),
  },
  'GET /api/agents/:id/events': {
    expected: AGENTS,
    success: 200,
    stream: true,
    request: (f) => ({ method: 'GET', url: `/api/agents/${f.agentId}/events` }),
  },
  // Jobs (an unknown id: an allowed caller gets past auth to the 404).
  'GET /api/jobs': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/jobs?limit=5' }),
  },
  'GET /api/jobs/workers': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/jobs/workers' }),
  },
  'GET /api/jobs/:id': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/jobs/job-none' }),
  },
  'POST /api/jobs/:id/cancel': {
    expected: ADMINS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/jobs/job-none/cancel' }),
  },
  'POST /api/jobs/:id/retry': {
    expected: ADMINS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/jobs/job-none/retry' }),
  },
  // Drift monitoring.
  'GET /api/metrics/drift': {
    expected: LOCAL_READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/metrics/drift' }),
  },
  'GET /api/metrics/drift/history': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/metrics/drift/history' }),
  },
  'POST /api/metrics/drift/check': {
    expected: ADMINS,
    // No worker runs here: the check is queued (deduplicated on repeat calls), 202.
    success: 202,
    request: () => ({ method: 'POST', url: '/api/metrics/drift/check?camera=cam-m' }),
  },
  'POST /api/metrics/drift/baseline': {
    expected: ADMINS,
    success: 200,
    request: () => ({ method: 'POST', url: '/api/metrics/drift/baseline', payload: {} }),
  },
  'GET /api/settings/drift': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/settings/drift' }),
  },
  'PUT /api/settings/drift': {
    expected: ADMINS,
    success: 200,
    request: () => ({
      method: 'PUT',
      url: '/api/settings/drift',
      payload: { checkEverySeconds: 60 },
    }),
  },
  // Retraining: a training is queued in the fixture (no worker runs it), so a trigger is
  // refused with 409 for every allowed caller, and cancel names a job that does not exist.
  'GET /api/retraining/conditions': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/retraining/conditions' }),
  },
  'POST /api/retraining/trigger': {
    expected: ADMINS,
    success: 409,
    request: () => ({ method: 'POST', url: '/api/retraining/trigger', payload: {} }),
  },
  'GET /api/retraining/status': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/retraining/status' }),
  },
  'GET /api/retraining/history': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/retraining/history?limit=5' }),
  },
  'POST /api/retraining/cancel': {
    expected: ADMINS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/retraining/cancel',
      payload: { jobId: 'job-none' },
    }),
  },
  'GET /api/settings/retraining': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/settings/retraining' }),
  },
  'PUT /api/settings/retraining': {
    expected: ADMINS,
    success: 200,
    request: () => ({
      method: 'PUT',
      url: '/api/settings/retraining',
      payload: { cooldownMinutes: 30 },
    }),
  },
  // Labeling queue and datasets: item routes use an id that does not exist, so every allowed
  // caller gets the same answer (404) without changing anything.
  'GET /api/labeling-queue': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/labeling-queue?limit=5' }),
  },
  'GET /api/labeling-queue/next': {
    expected: LABELERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/labeling-queue/next' }),
  },
  'GET /api/labeling-queue/stats': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/labeling-queue/stats' }),
  },
  'GET /api/labeling-queue/history': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/labeling-queue/history' }),
  },
  'GET /api/labeling-queue/export': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/labeling-queue/export?format=yolo' }),
  },
  'GET /api/labeling-queue/:id': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: '/api/labeling-queue/lq-matrix' }),
  },
  'POST /api/labeling-queue/:id/claim': {
    expected: LABELERS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/labeling-queue/lq-matrix/claim' }),
  },
  'POST /api/labeling-queue/:id/label': {
    expected: LABELERS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/labeling-queue/lq-matrix/label',
      payload: { boxes: [{ className: 'crack', box: { x1: 1, y1: 1, x2: 9, y2: 9 } }] },
    }),
  },
  'POST /api/labeling-queue/:id/skip': {
    expected: LABELERS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/labeling-queue/lq-matrix/skip', payload: {} }),
  },
  'POST /api/labeling-queue/:id/flag': {
    expected: LABELERS,
    success: 404,
    request: () => ({
      method: 'POST',
      url: '/api/labeling-queue/lq-matrix/flag',
      payload: { reason: 'missed a dent' },
    }),
  },
  'POST /api/labeling-queue/:id/approve': {
    expected: LABELERS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/labeling-queue/lq-matrix/approve' }),
  },
  'POST /api/labeling-queue/:id/reject': {
    expected: LABELERS,
    success: 404,
    request: () => ({ method: 'POST', url: '/api/labeling-queue/lq-matrix/reject' }),
  },
  'POST /api/labeling-queue/review': {
    expected: LABELERS,
    success: 200,
    request: () => ({
      method: 'POST',
      url: '/api/labeling-queue/review',
      payload: { action: 'approve', ids: ['lq-matrix'] },
    }),
  },
  'GET /api/settings/labeling': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/settings/labeling' }),
  },
  'PUT /api/settings/labeling': {
    expected: ADMINS,
    success: 200,
    request: () => ({
      method: 'PUT',
      url: '/api/settings/labeling',
      payload: { leaseSeconds: 300 },
    }),
  },
  'GET /api/settings/classes': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/settings/classes' }),
  },
  'PUT /api/settings/classes': {
    expected: ADMINS,
    success: 200,
    request: () => ({
      method: 'PUT',
      url: '/api/settings/classes',
      payload: { classes: ['scratch', 'crack', 'dent', 'stain'] },
    }),
  },
  'GET /api/datasets': {
    expected: READERS,
    success: 200,
    request: () => ({ method: 'GET', url: '/api/datasets' }),
  },
  'GET /api/datasets/:id': {
    expected: READERS,
    success: 404,
    request: () => ({ method: 'GET', url: `/api/datasets/${'0'.repeat(64)}` }),
  },
  'POST /api/datasets': {
    expected: ADMINS,
    success: 400,
    // Nothing is labelled in the matrix: "nothing to snapshot".
    request: () => ({ method: 'POST', url: '/api/datasets', payload: {} }),
  },
  'POST /api/datasets/import': {
    expected: ADMINS,
    success: 422,
    request: () => ({
      method: 'POST',
      url: '/api/datasets/import',
      headers: { 'content-type': 'application/gzip' },
      payload: Buffer.from('not a tar archive '.repeat(40)),
    }),
  },
};

type Caller =
  | { kind: 'scope'; scope: Scope }
  | { kind: 'none' }
  | { kind: 'revoked' }
  | { kind: 'expired' }
  | { kind: 'malformed'; header: string }
  | { kind: 'forwarded' };

const CALLERS: Caller[] = [
  ...SCOPES.map((scope): Caller => ({ kind: 'scope', scope })),
  { kind: 'none' },
  { kind: 'revoked' },
  { kind: 'expired' },
  { kind: 'malformed', header: 'Bearer not-a-token' },
  { kind: 'malformed', header: 'Basic YWRtaW46YWRtaW4=' },
  { kind: 'malformed', header: 'Bearer' },
  { kind: 'forwarded' },
];

function describeCaller(caller: Caller): string {
  switch (caller.kind) {
    case 'scope':
      return `${caller.scope} token`;
    case 'malformed':
      return `header "${caller.header}"`;
    case 'forwarded':
      return 'no token via a local proxy';
    case 'none':
    case 'revoked':
    case 'expired':
      return `${caller.kind} token`;
  }
}

/** 'allowed', or the refusal status a caller must get from `address`. */
function expectedOutcome(
  expected: Expected,
  caller: Caller,
  address: string,
): 'allowed' | 401 | 403 {
  const local = address === LOOPBACK && expected.openOnLoopback;
  switch (caller.kind) {
    case 'scope':
      return expected.scopes.includes(caller.scope) || local ? 'allowed' : 403;
    case 'none':
      return local ? 'allowed' : 401;
    case 'forwarded':
      return 401;
    case 'revoked':
    case 'expired':
    case 'malformed':
      return 401;
  }
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`auth matrix on ${target.dialect}`, () => {
    let server: TestServer;
    let fixture: Fixture;
    let revoked: string;
    let expired: string;
    let clock = Date.now();

    beforeAll(async () => {
      server = await openTestServer(target, { now: () => clock });
      const admin = server.auth('admin');
      const register = await server.app.inject({
        method: 'POST',
        url: '/api/agents/register',
        headers: admin,
        payload: { camera: 'cam-m', version: '1' },
      });
      const agentId = register.json<{ agentId: string }>().agentId;
      await server.app.inject({
        method: 'POST',
        url: '/api/ingest',
        headers: admin,
        payload: { results: [frameResult(1)] },
      });
      const jpeg = await testJpeg();
      const upload = await server.app.inject({
        method: 'PUT',
        url: `/api/frames/${frameResult(1).id}`,
        headers: { ...admin, 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
      expect(upload.statusCode).toBe(200);
      const throwaway = await server.services.auth.createToken(
        { name: 'throwaway', scope: 'viewer' },
        null,
      );
      const revokedToken = await server.services.auth.createToken(
        { name: 'revoked', scope: 'admin' },
        null,
      );
      await server.services.auth.revokeToken(revokedToken.id);
      revoked = revokedToken.token;
      expired = (
        await server.services.auth.createToken(
          { name: 'old', scope: 'admin', expiresAt: clock + 1 },
          null,
        )
      ).token;
      clock += 10;
      await server.services.jobs.enqueue(
        'training.run',
        { trigger: 'manual' },
        { dedupeKey: 'training.run' },
      );
      fixture = { agentId, resultId: frameResult(1).id, jpeg, throwawayTokenId: throwaway.id };
    });
    afterAll(() => server.close());

    function headersFor(caller: Caller): Record<string, string> {
      switch (caller.kind) {
        case 'scope':
          return server.auth(caller.scope);
        case 'none':
          return {};
        case 'revoked':
          return { authorization: `Bearer ${revoked}` };
        case 'expired':
          return { authorization: `Bearer ${expired}` };
        case 'malformed':
          return { authorization: caller.header };
        case 'forwarded':
          return { 'x-forwarded-for': '198.51.100.1' };
      }
    }

    it('has a row for every route and a route for every row', () => {
      const routes = server.app.routeCatalogue
        .filter((route) => !('public' in route.access))
        .map((route) => `${route.method} ${route.url}`)
        .sort();
      expect(routes).toEqual(Object.keys(ROWS).sort());
      const publicRoutes = server.app.routeCatalogue.filter((route) => 'public' in route.access);
      // Public: the OpenAPI UI and the dashboard's static files (`/*`, no data).
      expect(
        publicRoutes.every((route) => route.url.startsWith('/docs') || route.url === '/*'),
      ).toBe(true);
    });

    it('declares exactly the access each row expects', () => {
      for (const route of server.app.routeCatalogue) {
        if ('public' in route.access) continue;
        const row = ROWS[`${route.method} ${route.url}`];
        expect(
          { scopes: [...route.access.scopes].sort(), open: route.access.openOnLoopback === true },
          route.url,
        ).toEqual({
          scopes: [...(row?.expected.scopes ?? [])].sort(),
          open: row?.expected.openOnLoopback,
        });
      }
    });

    for (const [name, row] of Object.entries(ROWS)) {
      it(`${name}: allows and refuses exactly the expected callers`, async () => {
        const outcomes: string[] = [];
        const wanted: string[] = [];
        for (const address of [REMOTE, LOOPBACK]) {
          for (const caller of CALLERS) {
            const base = row.request(fixture);
            const response = await server.app.inject({
              ...base,
              remoteAddress: address,
              headers: { ...base.headers, ...headersFor(caller) },
              ...(row.stream === true ? { payloadAsStream: true } : {}),
            });
            const status = response.statusCode;
            let body: string;
            if (row.stream === true) {
              const stream = response.stream();
              if (status === 200) {
                stream.destroy();
                body = '';
              } else {
                body = await text(stream);
              }
            } else {
              body = response.body;
            }
            const outcome = expectedOutcome(row.expected, caller, address);
            const label = `${describeCaller(caller)} from ${address}`;
            wanted.push(`${label}: ${outcome === 'allowed' ? row.success : outcome}`);
            outcomes.push(`${label}: ${status}`);
            if (status === 401 || status === 403) {
              const code = (JSON.parse(body) as { error: { code: string } }).error.code;
              expect(code, label).toBe(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
            }
          }
        }
        expect(outcomes).toEqual(wanted);
      });
    }

    it('accepts ?access_token= only on routes that declare tokenInQuery', async () => {
      for (const [name, row] of Object.entries(ROWS)) {
        const base = row.request(fixture);
        const separator = base.url.includes('?') ? '&' : '?';
        const response = await server.app.inject({
          ...base,
          url: `${base.url}${separator}access_token=${server.tokens.admin}`,
          remoteAddress: REMOTE,
          ...(row.stream === true ? { payloadAsStream: true } : {}),
        });
        if (row.stream === true) response.stream().destroy();
        expect(response.statusCode, name).toBe(name === 'GET /api/events' ? 200 : 401);
      }
    });

    it('serves the OpenAPI document to anyone, from anywhere', async () => {
      const response = await server.app.inject({
        method: 'GET',
        url: '/docs/json',
        remoteAddress: REMOTE,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json<{ openapi: string }>().openapi).toBe('3.1.0');
    });
  });
}
