/**
 * The drift monitor in Chromium against a real server, a real job worker and a real agent on
 * the synthetic line: with small drift settings the camera's baseline fills in seconds and a
 * real drift check compares a window with it; the page shows the overall state, the share
 * against its threshold, each feature's test, the reference and current distributions drawn
 * over each other (uPlot canvases), and the 7-day timeline.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DriftCheckResponse, DriftStatusResponse } from '../../src/shared/api/drift.js';
import { FEATURE_NAMES } from '../../src/shared/domain.js';
import { startStack, until, type Stack } from './harness.js';

// A shared 2-core machine: waits for the page are generous (they end as soon as it holds).
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
let stack: Stack;
let page: Page;
let status: DriftStatusResponse;

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 5, worker: true });
  const settings = await stack.request('PUT', '/api/settings/drift', {
    // No scheduled checks (a day apart): only this test's checks write reports, so the page and
    // the status read here show the same one.
    body: {
      baselineSamples: 10,
      windowSamples: 10,
      minSamples: 5,
      minSpacingSeconds: 0,
      checkEverySeconds: 86_400,
    },
  });
  expect(settings.status).toBe(200);
  // Checks until one compared a full window with the baseline (the baseline fills first).
  await until(
    'a drift check that tested the features',
    async () => {
      const check = await stack.request('POST', '/api/metrics/drift/check?camera=cam-1&wait=true');
      const body = check.body as DriftCheckResponse;
      const camera = body.cameras?.find((c) => c.camera === 'cam-1');
      return camera !== undefined && (camera.status === 'ok' || camera.status === 'drift');
    },
    90_000,
  );
  status = (await stack.request('GET', '/api/metrics/drift')).body as DriftStatusResponse;
  page = await stack.newPage({ scope: 'viewer', path: '/drift' });
  await page.getByRole('heading', { name: 'Drift monitor', level: 1 }).waitFor();
}, 150_000);
afterAll(async () => {
  await Promise.all(stack?.browser.contexts().map((context) => context.close()) ?? []);
  await stack?.stop();
}, 120_000);

describe('drift page', () => {
  it("shows the overall state, the share against its threshold and each feature's test", async () => {
    const camera = status.cameras.find((c) => c.camera === 'cam-1');
    if (camera === undefined) throw new Error('no report for cam-1');
    const overall = page.getByRole('region', { name: 'Overall' });
    await expect.poll(() => overall.textContent()).toContain('Threshold30 %');
    const meter = overall.getByRole('meter', { name: 'Drift share against the thresholds' });
    expect(await meter.getAttribute('aria-valuenow')).toBe(
      String(Math.round((status.overall.driftShare ?? 0) * 100)),
    );

    const table = page.getByRole('table', { name: 'Feature tests of cam-1' });
    await table.waitFor();
    for (const feature of FEATURE_NAMES) {
      const row = table.getByRole('row', { name: new RegExp(`^${feature}`) });
      const stored = camera.features.find((f) => f.feature === feature);
      if (stored?.pValue == null) continue;
      const text = await row.textContent();
      expect(text).toMatch(/stable|drifted/);
      expect(text).toContain(stored.statistic?.toFixed(3) ?? '');
    }
  }, 120_000);

  it('draws reference and current distributions of every image feature, and the timeline', async () => {
    const panel = page.getByRole('region', { name: 'Distributions: reference vs current' });
    for (const feature of FEATURE_NAMES) {
      const chart = panel.getByRole('img', {
        name: `${feature}: reference and current distribution`,
      });
      await chart.waitFor();
      // uPlot drew into a canvas of the chart's width.
      await expect.poll(() => chart.locator('canvas').count()).toBe(1);
    }
    const week = page.getByRole('region', { name: 'Last 7 days' });
    const timeline = week.getByRole('img', {
      name: /Drift share over the last 7 days against the 30 %/,
    });
    await timeline.waitFor();
    expect(await timeline.locator('canvas').count()).toBe(1);
    await expect.poll(() => week.textContent()).toMatch(/[1-9]\d* checks of cam-1/);
    await stack.shot(page, 'drift', { fullPage: true });
  }, 120_000);
});
