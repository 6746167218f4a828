/**
 * The models page in Chromium against a real server (seed model registered at start, a real
 * agent on the synthetic line): the seed's metrics from its metrics.json show side by side
 * with a second version's; an admin promotes the second version to `production` with a reason
 * and rolls it back, both visible in the alias history and through the API; a version the
 * gate rejected needs the explicit override (checkbox + reason); a viewer sees no actions.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AliasHistoryResponse, ModelListResponse } from '../../src/shared/api/models.js';
import { SEED_MODEL, startStack, type Stack } from './harness.js';

// A shared 2-core machine: waits for the page are generous (they end as soon as it holds).
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
let stack: Stack;
let page: Page;
const SECOND = 'seed-v1-copy';
const REJECTED = 'seed-v1-rejected';

async function read<T>(path: string): Promise<T> {
  const answer = await stack.request('GET', path);
  expect(answer.status).toBe(200);
  return answer.body as T;
}

async function production(): Promise<string | undefined> {
  const list = await read<ModelListResponse>('/api/models');
  return list.aliases.find((a) => a.alias === 'production')?.version;
}

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 2 });
  // A second version: the seed file uploaded again under another name, through the API.
  const upload = await fetch(stack.url(`/api/models?version=${SECOND}&notes=browser%20test`), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.adminToken}`,
      'content-type': 'application/octet-stream',
    },
    body: readFileSync(SEED_MODEL),
  });
  expect(upload.status).toBe(201);
  // A candidate the promotion gate rejected (as a retraining registers one).
  await stack.server.services.models.register({
    artifact: readFileSync(SEED_MODEL),
    version: REJECTED,
    source: 'trained',
    parentVersion: 'seed-v1',
    metrics: {
      holdouts: { recent: { map50: 0.41, map50_95: 0.2, images: 40, objects: 70 } },
      gate: {
        decision: 'rejected',
        passed: false,
        reasons: ['recent holdout: no gain over production'],
      },
    },
    trainerParams: { jobId: 'job_browser_test', epochs: 3, imgsz: 320, trigger: 'manual' },
    actor: 'training',
  });
  page = await stack.newPage({ scope: 'admin', path: `/models/${SECOND}` });
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
}, 120_000);
afterAll(async () => {
  // Pages first: their live streams would hold the server's close open.
  await Promise.all(stack?.browser.contexts().map((context) => context.close()) ?? []);
  await stack?.stop();
}, 120_000);

describe('models page', () => {
  it("shows the seed's metrics side by side with the other versions", async () => {
    const metrics = page.getByRole('region', { name: 'Metrics side by side' });
    const nominal = metrics.getByRole('row', { name: /^mAP@0\.5 · nominal/ });
    await nominal.waitFor();
    // The numbers of the shipped metrics.json beside the seed (night: trained on nominal only).
    const seed = JSON.parse(readFileSync(join(dirname(SEED_MODEL), 'metrics.json'), 'utf8')) as {
      testSets: Record<string, { map50: number; perClass: Record<string, number> }>;
    };
    const score = (set: string) => seed.testSets[set];
    await expect.poll(() => nominal.textContent()).toContain(score('nominal')?.map50.toFixed(3));
    const night = await metrics.getByRole('row', { name: /^mAP@0\.5 · night/ }).textContent();
    expect(night).toContain(score('night')?.map50.toFixed(3));
    await expect
      .poll(() => metrics.getByRole('row', { name: /^AP@0\.5 scratch · nominal/ }).textContent())
      .toContain(score('nominal')?.perClass.scratch?.toFixed(3));
    // Speed: the agents' measured inference time of the version they serve (seed-v1).
    const speed = metrics.getByRole('row', { name: /^Inference on the agents/ });
    await expect.poll(() => speed.textContent()).toMatch(/—\s*\d+(\.\d+)?\s*—/);
    await stack.shot(page, 'models');
  }, 120_000);

  it('promotes a version to production with a reason, then rolls it back', async () => {
    const form = page.getByRole('form', { name: `Promote ${SECOND}` });
    // No reason: nothing is sent, the field says why.
    await form.getByRole('button', { name: 'Promote' }).click();
    await expect.poll(() => form.getByText(/Say why/).count()).toBe(1);
    expect(await production()).toBe('seed-v1');

    await form.getByLabel('Reason').fill('browser test: same weights, new name');
    await form.getByRole('button', { name: 'Promote' }).click();
    await expect
      .poll(() => form.getByRole('status').textContent())
      .toContain(`production now points at ${SECOND}`);
    expect(await production()).toBe(SECOND);
    const history = page.getByRole('region', { name: 'Alias history' });
    await expect
      .poll(() => history.getByRole('row', { name: /browser test: same weights/ }).count())
      .toBe(1);

    await page.getByRole('button', { name: 'Roll back production' }).click();
    const rollback = page.getByRole('form', { name: 'Roll back production' });
    await rollback.getByLabel('Rollback reason').fill('browser test: back to the seed');
    await rollback.getByRole('button', { name: 'Roll back production' }).click();
    await expect.poll(production).toBe('seed-v1');
    await expect
      .poll(() =>
        history.getByRole('row', { name: /rollback.*browser test: back to the seed/ }).count(),
      )
      .toBe(1);
    const stored = await read<AliasHistoryResponse>('/api/models/aliases/production/history');
    expect(stored.history.slice(0, 2).map((e) => [e.action, e.fromVersion, e.toVersion])).toEqual([
      ['rollback', SECOND, 'seed-v1'],
      ['promote', 'seed-v1', SECOND],
    ]);
    await stack.shot(page, 'models-after-rollback', { fullPage: true });
  }, 120_000);

  it('asks for an explicit override to promote a version the gate rejected', async () => {
    await page.getByRole('link', { name: REJECTED }).first().click();
    const form = page.getByRole('form', { name: `Promote ${REJECTED}` });
    await form.waitFor();
    // Lineage: parent and training run.
    const version = page.getByRole('region', { name: `Version ${REJECTED}` });
    await expect.poll(() => version.textContent()).toContain('job job_browser_test');
    await form.getByLabel('Alias').fill('staging');
    await form.getByLabel('Reason').fill('browser test: try it on staging');
    await form.getByRole('button', { name: 'Promote' }).click();
    await expect
      .poll(() => form.getByText('The promotion gate rejected this version.').count())
      .toBe(1);
    expect(
      (await read<ModelListResponse>('/api/models')).aliases.map((a) => a.alias),
    ).not.toContain('staging');
    await form.getByLabel(/Override the gate/).check();
    await form.getByRole('button', { name: 'Override and promote' }).click();
    await expect
      .poll(() => form.getByRole('status').textContent())
      .toContain(`staging now points at ${REJECTED}`);
    const staging = await read<AliasHistoryResponse>('/api/models/aliases/staging/history');
    expect(staging.history[0]?.reason).toMatch(/browser test: try it on staging/);
  }, 120_000);

  it('shows a viewer no promote or rollback actions, and the API refuses them', async () => {
    const viewer = await stack.newPage({ scope: 'viewer', path: '/models' });
    await viewer.getByRole('region', { name: 'Aliases' }).waitFor();
    await viewer.getByRole('region', { name: /^Version / }).waitFor();
    expect(await viewer.getByRole('button', { name: /Promote|Roll back/ }).count()).toBe(0);
    const token = await stack.token('viewer');
    const refused = await stack.request('POST', `/api/models/${SECOND}/promote`, {
      token,
      body: { alias: 'production', reason: 'viewer tries' },
    });
    expect(refused.status).toBe(403);
  }, 120_000);
});
