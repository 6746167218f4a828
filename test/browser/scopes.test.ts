/**
 * What each token scope sees and may do, in Chromium against a real server fed by a real agent:
 * a `viewer` sees no action button on any page and the API refuses every action with 403
 * FORBIDDEN; a `labeler` sees the labeling actions but no admin ones (and the API agrees); an
 * admin sees the admin actions (so the checks below do look at real buttons); a revoked or
 * expired token returns to the sign-in page with a message.
 *
 * The buttons seen on each page, per scope, are written to test-results/scopes-buttons.json.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../src/shared/api/common.js';
import type { InspectionLogsResponse } from '../../src/shared/api/inspection-logs.js';
import type { QueueListResponse } from '../../src/shared/api/labeling.js';
import type { ModelListResponse } from '../../src/shared/api/models.js';
import type { CreatedToken } from '../../src/shared/api/tokens.js';
import { RESULTS_DIR, startStack, type Stack } from './harness.js';

/** Buttons that change something only an admin may change. */
const ADMIN_ACTION =
  /^(save|undo changes|create token|copy token|revoke|confirm revoke|promote|roll ?back|start retraining|trigger|retrain|cancel|retake|take (a )?baseline|check now|upload|reload|delete model)/i;
/** Buttons that work the labeling queue (labelers and admins). */
const LABELING_ACTION =
  /^(label|no defects|skip|flag|approve|reject|draw box|delete box|select box|[1-9] |undo|redo|submit|claim)/i;

interface SeenButton {
  name: string;
  enabled: boolean;
}

/** The machine is shared: a test that takes 5 s alone may take ten times that under load. */
const TEST_TIMEOUT_MS = 120_000;

let stack: Stack;
/** Page paths, with an inspection and a model version of this stack. */
let pages: string[];
let productionVersion: string;
let queueItemId: string;
/** A page signed in with a token that expires while the other tests run. */
let expiring: { page: Page; token: string };
const seen: Record<string, Record<string, SeenButton[]>> = {};

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 2 });
  // A viewer token that expires in 30 s, signed in now; the last test finds it expired.
  const created = await stack.request('POST', '/api/tokens', {
    body: { name: 'short-lived', scope: 'viewer', expiresAt: Date.now() + 30_000 },
  });
  expect(created.status).toBe(201);
  const shortLived = (created.body as CreatedToken).token;
  expiring = { token: shortLived, page: await stack.newPage({ token: shortLived, path: '/' }) };
  await expiring.page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  // Every inferred frame sampled for labeling, so the queue has items to act on.
  const sampling = await stack.request('PUT', '/api/settings/agent', {
    body: { sampling: { strategies: { random: { enabled: true, keepProbability: 1 } } } },
  });
  expect(sampling.status).toBe(200);
  let queue: QueueListResponse | null = null;
  for (let attempt = 0; attempt < 600; attempt++) {
    const answer = await stack.request('GET', '/api/labeling-queue?limit=5');
    queue = answer.body as QueueListResponse;
    if (queue.items.length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(queue?.items.length).toBeGreaterThanOrEqual(2);
  queueItemId = queue!.items[queue!.items.length - 1]!.id;
  const logs = (await stack.request('GET', '/api/inspection-logs?limit=1'))
    .body as InspectionLogsResponse;
  const models = (await stack.request('GET', '/api/models')).body as ModelListResponse;
  productionVersion = models.aliases.find((a) => a.alias === 'production')!.version;
  pages = [
    '/',
    '/inspections',
    `/inspections/${encodeURIComponent(logs.items[0]!.id)}`,
    '/labeling',
    '/labeling/review',
    '/drift',
    '/retraining',
    '/models',
    `/models/${encodeURIComponent(productionVersion)}`,
    '/settings',
  ];
}, 180_000);

afterAll(async () => {
  if (Object.keys(seen).length > 0) {
    writeFileSync(join(RESULTS_DIR, 'scopes-buttons.json'), `${JSON.stringify(seen, null, 2)}\n`);
  }
  await stack?.stop();
}, 60_000);

/** Counts the page's API requests in flight (not the live stream, which never ends). */
function trackRequests(page: Page): () => number {
  let inflight = 0;
  const isApi = (url: string): boolean => url.includes('/api/') && !url.includes('/api/events');
  page.on('request', (request) => {
    if (isApi(request.url())) inflight++;
  });
  const done = (request: { url(): string }): void => {
    if (isApi(request.url())) inflight--;
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  return () => inflight;
}

/** Two animation frames: React has rendered what the last event asked for. */
function nextPaint(page: Page): Promise<unknown> {
  return page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  );
}

/**
 * Opens `path` client-side (like a click in the nav) and waits until the page has settled: its
 * code loaded, no API request in flight across two paints, no loading text.
 */
async function open(page: Page, path: string, inflight: () => number): Promise<void> {
  await page.evaluate((to) => {
    history.pushState(null, '', to);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, path);
  await nextPaint(page);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  await expect
    .poll(
      async () => {
        if (inflight() > 0) return 'busy';
        await nextPaint(page);
        if (inflight() > 0) return 'busy';
        return (await page.getByText(/^(Loading|Taking the next item)/).count()) === 0
          ? 'settled'
          : 'loading';
      },
      { timeout: 15_000 },
    )
    .toBe('settled');
}

/** Every visible button of the page: its accessible name (aria-label or text) and state. */
function buttonsOf(page: Page): Promise<SeenButton[]> {
  return page.locator('button, [role="button"]').evaluateAll((elements) =>
    elements
      .filter((e) => (e as HTMLElement).getClientRects().length > 0)
      .map((e) => ({
        name: (e.getAttribute('aria-label') ?? e.textContent ?? '').replace(/\s+/g, ' ').trim(),
        enabled:
          !(e as HTMLButtonElement).disabled &&
          e.getAttribute('aria-disabled') !== 'true' &&
          e.closest('fieldset:disabled') === null,
      })),
  );
}

/** Visits every page as `scope`; returns the enabled buttons per page. */
async function tour(scope: Scope, paths: readonly string[]): Promise<Record<string, string[]>> {
  const page = await stack.newPage({ scope });
  const inflight = trackRequests(page);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  const enabled: Record<string, string[]> = {};
  seen[scope] = {};
  for (const path of paths) {
    await open(page, path, inflight);
    const buttons = await buttonsOf(page);
    seen[scope][path] = buttons;
    enabled[path] = buttons.filter((b) => b.enabled).map((b) => b.name);
  }
  if (scope === 'viewer') {
    await open(page, '/settings', inflight);
    await stack.shot(page, 'settings-viewer');
    expect(await page.getByLabel('Band low').isDisabled()).toBe(true);
  }
  await page.context().close();
  return enabled;
}

const matching = (names: Record<string, string[]>, pattern: RegExp): string[] =>
  Object.entries(names).flatMap(([path, list]) =>
    list.filter((name) => pattern.test(name)).map((name) => `${path}: ${name}`),
  );

describe('scopes in the dashboard', () => {
  it(
    'an admin sees the admin and labeling actions (the checks below look at real buttons)',
    async () => {
      const enabled = await tour('admin', ['/labeling', '/retraining', '/models', '/settings']);
      const admin = matching(enabled, ADMIN_ACTION);
      expect(admin).toEqual(
        expect.arrayContaining([
          '/settings: Save drift monitor',
          '/settings: Save uncertainty band and sampling',
          '/settings: Create token',
        ]),
      );
      expect(admin.some((b) => b.startsWith('/retraining: Start retraining'))).toBe(true);
      expect(admin.some((b) => b.startsWith('/models: Promote'))).toBe(true);
      expect(admin.some((b) => /^\/models: Roll ?back/i.test(b))).toBe(true);
      expect(matching(enabled, LABELING_ACTION).some((b) => b.startsWith('/labeling: Label'))).toBe(
        true,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a viewer sees no action button on any page',
    async () => {
      const enabled = await tour('viewer', pages);
      expect(Object.keys(enabled)).toEqual(pages);
      expect(matching(enabled, ADMIN_ACTION)).toEqual([]);
      expect(matching(enabled, LABELING_ACTION)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a labeler sees the labeling actions but no admin ones',
    async () => {
      // Every page where an action could be (the overview and inspections have none).
      const enabled = await tour(
        'labeler',
        pages.filter((path) => path !== '/' && !path.startsWith('/inspections')),
      );
      expect(matching(enabled, ADMIN_ACTION)).toEqual([]);
      const labeling = matching(enabled, LABELING_ACTION);
      expect(labeling).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\/labeling: Label/),
          expect.stringMatching(/^\/labeling: Skip/),
          expect.stringMatching(/^\/labeling: Flag as mistake/),
        ]),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the API refuses the actions to a viewer, and the admin ones to a labeler (403)',
    async () => {
      const viewer = await stack.token('viewer', 'scopes viewer');
      const labeler = await stack.token('labeler', 'scopes labeler');
      const tokens = (await stack.request('GET', '/api/tokens')).body as {
        tokens: { id: string }[];
      };
      const someTokenId = tokens.tokens[0]!.id;
      const adminActions: [method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown][] = [
        ['PUT', '/api/settings/agent', { sampling: { strategies: { uncertainty: { low: 0.1 } } } }],
        ['PUT', '/api/settings/drift', { driftShareThreshold: 0.5 }],
        ['PUT', '/api/settings/retraining', { enabled: false }],
        ['PUT', '/api/settings/labeling', { requireApproval: false }],
        ['POST', '/api/tokens', { name: 'sneaky', scope: 'admin' }],
        ['DELETE', `/api/tokens/${someTokenId}`],
        ['POST', '/api/retraining/trigger', { reason: 'scope test' }],
        ['POST', '/api/retraining/cancel', { jobId: 'job-none' }],
        [
          'POST',
          `/api/models/${encodeURIComponent(productionVersion)}/promote`,
          { alias: 'staging', reason: 'scope test' },
        ],
        ['POST', '/api/models/aliases/production/rollback', { reason: 'scope test' }],
      ];
      const labelingActions: typeof adminActions = [
        ['POST', `/api/labeling-queue/${queueItemId}/claim`],
        ['POST', `/api/labeling-queue/${queueItemId}/skip`, {}],
        ['POST', `/api/labeling-queue/${queueItemId}/flag`, { reason: 'scope test' }],
        ['POST', `/api/labeling-queue/${queueItemId}/approve`],
      ];
      const refusals = async (token: string, actions: typeof adminActions) => {
        const statuses: string[] = [];
        for (const [method, path, body] of actions) {
          const answer = await stack.request(method, path, { token, body });
          const code = (answer.body as { error?: { code?: string } }).error?.code ?? '';
          statuses.push(`${method} ${path} → ${answer.status} ${code}`);
        }
        return statuses;
      };
      const forbidden = (actions: typeof adminActions) =>
        actions.map(([method, path]) => `${method} ${path} → 403 FORBIDDEN`);

      expect(await refusals(viewer, [...adminActions, ...labelingActions])).toEqual(
        forbidden([...adminActions, ...labelingActions]),
      );
      expect(await refusals(labeler, adminActions)).toEqual(forbidden(adminActions));
      // The labeler's own action goes through (on an item nobody holds now).
      const pending = (await stack.request('GET', '/api/labeling-queue?status=pending&limit=50'))
        .body as QueueListResponse;
      const free = pending.items[pending.items.length - 1]!.id;
      const claim = await stack.request('POST', `/api/labeling-queue/${free}/claim`, {
        token: labeler,
      });
      expect(claim.status).toBe(200);
      // And nothing the refused calls asked for happened.
      const drift = (await stack.request('GET', '/api/settings/drift')).body as {
        driftShareThreshold: number;
      };
      expect(drift.driftShareThreshold).not.toBe(0.5);
      const list = (await stack.request('GET', '/api/tokens')).body as {
        tokens: { name: string }[];
      };
      expect(list.tokens.map((t) => t.name)).not.toContain('sneaky');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a revoked token returns to the sign-in page with a message',
    async () => {
      const token = await stack.token('viewer', 'soon revoked');
      const page = await stack.newPage({ token, path: '/models' });
      await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
      await stack.revoke(token);
      // A click in the nav makes the page ask the server; it may have noticed by itself first
      // (a poll, or the live stream refused), and then the link is already gone.
      await page
        .getByRole('link', { name: 'Retraining' })
        .click({ timeout: 2_000 })
        .catch(() => undefined);
      const notice = page.getByText('Your session ended: the token was revoked or has expired.');
      await notice.waitFor({ timeout: 15_000 });
      expect(await page.getByLabel(/token/i).count()).toBeGreaterThan(0);
      await stack.shot(page, 'signin-session-ended');
      // Staying signed out after a reload.
      await page.reload();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an expired token returns to the sign-in page with a message',
    async () => {
      const { page, token } = expiring;
      // Wait (without a timed assertion) until the server no longer takes it.
      await expect
        .poll(async () => (await stack.request('GET', '/api/session', { token })).status, {
          timeout: 40_000,
          interval: 250,
        })
        .toBe(401);
      // The dashboard may have noticed by itself (a poll, or the live stream refused); a click
      // in the nav makes it ask the server in any case.
      await page
        .getByRole('link', { name: 'Inspections' })
        .click({ timeout: 2_000 })
        .catch(() => undefined);
      await page
        .getByText('Your session ended: the token was revoked or has expired.')
        .waitFor({ timeout: 15_000 });
      expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(1);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );
});
