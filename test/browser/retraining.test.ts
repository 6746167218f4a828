/**
 * The retraining page in Chromium against a real server, a real job worker (the real PyTorch
 * trainer) and a real agent: the conditions say why each holds; an admin starts a training
 * with a reason, watches the progress bar and the epoch move, then cancels it (a full training
 * on two shared cores takes minutes; the end-to-end suite runs one to the end); the history
 * shows the run with its reason and outcome. A viewer sees no trigger or cancel.
 *
 * Skipped when no Python with PyTorch is installed.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RetrainingStatus } from '../../src/shared/api/retraining.js';
import {
  TINY_TRAINING,
  addSyntheticLabels,
  trainerPython,
} from '../integration/retraining/fixtures.js';
import { startStack, type Stack } from './harness.js';

const python = trainerPython();

// A shared 2-core machine: waits for the page are generous (they end as soon as it holds).
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
let stack: Stack;
let page: Page;

async function status(): Promise<RetrainingStatus> {
  return (await stack.request('GET', '/api/retraining/status')).body as RetrainingStatus;
}

describe.skipIf(python === null)('retraining page', () => {
  beforeAll(async () => {
    stack = await startStack({ agents: 1, fps: 2, worker: true });
    // A tiny budget, many epochs (so progress can be watched), no automatic trainings.
    const settings = await stack.request('PUT', '/api/settings/retraining', {
      body: { ...TINY_TRAINING, epochs: 40, imgsz: 64, enabled: false, autoPromote: false },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
    await addSyntheticLabels({ services: stack.server.services, workDir: stack.dataDir }, 16, 5);
    page = await stack.newPage({ scope: 'admin', path: '/retraining' });
    await page.getByRole('heading', { name: 'Retraining', level: 1 }).waitFor();
  }, 150_000);
  afterAll(async () => {
    await Promise.all(stack?.browser.contexts().map((context) => context.close()) ?? []);
    await stack?.stop();
  }, 120_000);

  it('lists the conditions with why each holds or not', async () => {
    const conditions = page.getByRole('list', { name: 'Policy conditions' });
    await conditions.waitFor();
    const enabled = conditions
      .getByRole('listitem')
      .filter({ hasText: 'Automatic retraining enabled' });
    await expect.poll(() => enabled.textContent()).toMatch(/does not hold/);
    await expect
      .poll(() =>
        conditions
          .getByRole('listitem')
          .filter({ hasText: 'Enough new reviewed labels' })
          .textContent(),
      )
      .toMatch(/holds/);
  }, 120_000);

  it('starts a training with a reason, shows its progress moving, and cancels it', async () => {
    const form = page.getByRole('form', { name: 'Start a training' });
    // No reason: the field says so and nothing starts.
    await form.getByRole('button', { name: 'Start retraining' }).click();
    await expect.poll(() => form.getByText(/Say why you start a training/).count()).toBe(1);
    expect((await status()).state).toBe('idle');

    await form.getByLabel('Reason').fill('browser test: watch it train');
    await form.getByRole('button', { name: 'Start retraining' }).click();
    const current = page.getByRole('region', { name: 'Current training' });
    const bar = current.getByRole('progressbar');
    await bar.waitFor({ timeout: 60_000 });
    // The trainer reports epochs: the label and the bar move past the first ones.
    const epochOf = async () => {
      const label =
        (await current.locator('label[for="retraining-progress-bar"]').textContent()) ?? '';
      return Number(/epoch (\d+) of 40/.exec(label)?.[1] ?? -1);
    };
    await expect.poll(epochOf, { timeout: 150_000, interval: 500 }).toBeGreaterThanOrEqual(1);
    const first = await epochOf();
    const firstValue = Number(await bar.getAttribute('value'));
    await stack.shot(page, 'retraining');
    await expect.poll(epochOf, { timeout: 120_000, interval: 500 }).toBeGreaterThan(first);
    expect(Number(await bar.getAttribute('value'))).toBeGreaterThan(firstValue);
    const running = await status();
    expect(running).toMatchObject({ state: 'running', stage: 'training', epochs: 40 });
    expect(running.loss).not.toBeNull();
    expect(await current.textContent()).toContain(running.trigger === 'manual' ? 'manual' : '?');

    await current.getByRole('button', { name: 'Cancel training' }).click();
    await expect.poll(async () => (await status()).state, { timeout: 60_000 }).toBe('cancelled');
    await expect.poll(() => current.textContent(), { timeout: 30_000 }).toContain('Cancelled');
    const history = page.getByRole('region', { name: 'History' });
    const run = history.getByRole('row', { name: /browser test: watch it train/ });
    await expect.poll(() => run.textContent(), { timeout: 40_000 }).toContain('Cancelled');
    await stack.shot(page, 'retraining-cancelled', { fullPage: true });
  }, 420_000);

  it('shows a viewer no trigger or cancel, and the API refuses them', async () => {
    const viewer = await stack.newPage({ scope: 'viewer', path: '/retraining' });
    await viewer.getByRole('list', { name: 'Policy conditions' }).waitFor();
    expect(
      await viewer.getByRole('button', { name: /Start retraining|Cancel training/ }).count(),
    ).toBe(0);
    expect(await viewer.getByRole('form', { name: 'Start a training' }).count()).toBe(0);
    const token = await stack.token('viewer');
    const refused = await stack.request('POST', '/api/retraining/trigger', {
      token,
      body: { reason: 'viewer tries' },
    });
    expect(refused.status).toBe(403);
  }, 120_000);
});
