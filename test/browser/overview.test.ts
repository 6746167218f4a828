/**
 * The overview in Chromium against a real server fed by a real agent on the synthetic line
 * (seed model, 5 FPS): it shows live numbers that change (live frames, FPS), the production
 * version, the labeling queue, the drift level, the component states and the per-camera row;
 * a lost live connection shows itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startStack } from './harness.js';
import type { Stack } from './harness.js';

/** The number shown in a Stat tile, by its label. */
async function statValue(page: Page, label: string): Promise<string> {
  const tile = page.locator('.stat').filter({ has: page.getByText(label, { exact: true }) });
  return ((await tile.locator('.stat-value').textContent()) ?? '').trim();
}

describe('dashboard overview', { timeout: 90_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ agents: 1, fps: 5 });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('shows live numbers that change, the production version, queue and drift', async () => {
    const page = await stack.newPage({ scope: 'viewer' });
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

    // Live frames arrive over /api/events and the count grows.
    await expect
      .poll(async () => Number(await statValue(page, 'Live frames')), { timeout: 30_000 })
      .toBeGreaterThan(0);
    const first = Number(await statValue(page, 'Live frames'));
    await expect
      .poll(async () => Number(await statValue(page, 'Live frames')), { timeout: 30_000 })
      .toBeGreaterThan(first);

    // FPS from /api/metrics: a real number near the agent's 5 FPS.
    await expect
      .poll(async () => Number(await statValue(page, 'Frames / s')), { timeout: 30_000 })
      .toBeGreaterThan(0);
    const framesBefore = Number(await statValue(page, 'Frames (60 s)'));
    await expect
      .poll(async () => Number(await statValue(page, 'Frames (60 s)')), { timeout: 30_000 })
      .toBeGreaterThan(framesBefore);

    // The production version is the seed's, as the API says.
    const status = await stack.request('GET', '/api/model-status');
    const production = (status.body as { production?: { version: string } | null }).production;
    expect(production?.version).toBeTruthy();
    await expect.poll(() => statValue(page, 'Production')).toBe(production?.version);

    // Queue size: the API's pending count (it may move while we look: poll until they agree).
    await expect
      .poll(
        async () => {
          const stats = await stack.request('GET', '/api/labeling-queue/stats');
          const pending = (stats.body as { counts: { pending: number } }).counts.pending;
          return (await statValue(page, 'Queue pending')) === String(pending);
        },
        { timeout: 30_000 },
      )
      .toBe(true);

    // Component states: server OK, the agent online, no job worker in this stack, drift shown.
    const components = page.getByRole('region', { name: 'Components' });
    await expect.poll(() => components.getByText('Agent cam-1').count()).toBe(1);
    const agentRow = components.locator('li').filter({ hasText: 'Agent cam-1' });
    await expect.poll(async () => (await agentRow.textContent()) ?? '').toContain('Online');
    const serverRow = components.locator('li').filter({ hasText: 'Server' });
    await expect.poll(async () => (await serverRow.textContent()) ?? '').toContain('OK');
    const workerRow = components.locator('li').filter({ hasText: 'Job worker' });
    await expect.poll(async () => (await workerRow.textContent()) ?? '').toContain('None running');
    const driftRow = components.locator('li').filter({ hasText: 'Drift' });
    expect(await driftRow.locator('[data-level]').getAttribute('data-level')).toMatch(
      /^(green|yellow|red|unknown)$/,
    );

    // The camera row: FPS and rates for cam-1.
    const cameras = page.getByRole('region', { name: 'Cameras' });
    const row = cameras.getByRole('row').filter({ hasText: 'cam-1' });
    await expect
      .poll(async () => (await row.textContent()) ?? '', { timeout: 20_000 })
      .toMatch(/Online/);
    const cells = await row.getByRole('cell').allTextContents();
    expect(Number(cells[2])).toBeGreaterThan(0); // camera FPS
    expect(cells[6]).toMatch(/%$/); // defect rate

    // The live connection state is shown as text.
    expect(await page.getByRole('status').filter({ hasText: 'Live' }).first().textContent()).toBe(
      '● Live',
    );

    // The live strip fills with stored frames (uncertain or sampled) once some arrive.
    await expect
      .poll(
        () =>
          page
            .getByRole('list', { name: 'Recent frames with stored images' })
            .locator('figure')
            .count(),
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThan(0);
    // …and their JPEGs load (the agent uploads them just after the results).
    await expect
      .poll(
        () =>
          page
            .getByRole('list', { name: 'Recent frames with stored images' })
            .locator('img')
            .count(),
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThan(0);
    await stack.shot(page, 'overview', { fullPage: true });
    await page.context().close();
  });
});
