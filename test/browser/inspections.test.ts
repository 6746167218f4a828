/**
 * The inspections page in Chromium against a real server fed by a real agent on the synthetic
 * line: the list filters by decision (kept in the URL, answered by the API's filter), pages on
 * with the API's cursor, refuses a bad time range at its field without sending anything, and
 * opens a frame's detail (image, boxes, detections, features, decision, model version) that
 * matches what the API stored.
 */
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type {
  InspectionLogItem,
  InspectionLogsResponse,
} from '../../src/shared/api/inspection-logs.js';
import { startStack, until, type Stack } from './harness.js';

// A shared 2-core machine: waits for the page are generous (they end as soon as it holds).
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
let stack: Stack;
let page: Page;
/** A failing result whose JPEG the agent uploaded. */
let withFrame: InspectionLogItem;

async function read<T>(path: string): Promise<T> {
  const answer = await stack.request('GET', path);
  expect(answer.status).toBe(200);
  return answer.body as T;
}

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 8 });
  // Enough FAIL results for two pages of 5, one of them with its image uploaded.
  await until(
    'failing results with an uploaded frame',
    async () => {
      const fails = await read<InspectionLogsResponse>(
        '/api/inspection-logs?decision=FAIL&limit=20',
      );
      const found = fails.items.find((item) => item.hasFrame);
      if (found !== undefined) withFrame = found;
      return fails.items.length >= 12 && found !== undefined;
    },
    90_000,
  );
  page = await stack.newPage({ scope: 'viewer', path: '/inspections?limit=5' });
  await page.getByRole('heading', { name: 'Inspections', level: 1 }).waitFor();
}, 150_000);
afterAll(async () => {
  await Promise.all(stack?.browser.contexts().map((context) => context.close()) ?? []);
  await stack?.stop();
}, 120_000);

/** The decision cells of the result table. */
async function decisions(): Promise<string[]> {
  const rows = page.getByRole('table', { name: /Frame results/ }).getByRole('row');
  const texts = await rows.allTextContents();
  return texts.slice(1).map((text) => /(PASS|FAIL)/.exec(text)?.[1] ?? '?');
}

describe('inspections page', () => {
  it('filters by decision through the URL and pages with the cursor', async () => {
    const filters = page.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('Decision').selectOption('FAIL');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('decision')).toBe('FAIL');
    await expect.poll(decisions).toEqual(['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL']);
    const pagination = page.getByRole('navigation', { name: 'Pages of results' });
    await expect.poll(() => pagination.textContent()).toContain('Results 1–5');
    const firstPage = await page.getByRole('table', { name: /Frame results/ }).textContent();
    await pagination.getByRole('button', { name: 'Next →' }).click();
    await expect.poll(() => pagination.textContent()).toContain('Results 6–10');
    await expect.poll(decisions).toEqual(['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL']);
    expect(await page.getByRole('table', { name: /Frame results/ }).textContent()).not.toBe(
      firstPage,
    );
    await pagination.getByRole('button', { name: '← Previous' }).click();
    await expect.poll(() => pagination.textContent()).toContain('Results 1–5');
    await stack.shot(page, 'inspections');
  }, 120_000);

  it('shows a bad time range at its field and sends nothing', async () => {
    const filters = page.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('From').fill('2026-03-02T10:00');
    await filters.getByLabel('To').fill('2026-03-01T10:00');
    const sent: string[] = [];
    const record = (request: Request) => {
      if (request.url().includes('/api/inspection-logs')) sent.push(request.url());
    };
    page.on('request', record);
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => filters.getByText('Must be after “From”.').count()).toBe(1);
    page.off('request', record);
    expect(sent).toEqual([]);
    expect(new URL(page.url()).searchParams.get('from')).toBeNull();
    await filters.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('decision')).toBeNull();
  }, 120_000);

  it("opens a frame's detail: image, boxes, features, decision and model version", async () => {
    // From the list: the first failing row opens its detail, as the API stored it.
    await page.goto(stack.url('/inspections?decision=FAIL&limit=5'));
    const firstRow = page
      .getByRole('table', { name: /Frame results/ })
      .getByRole('row')
      .nth(1);
    await firstRow.getByRole('link', { name: /^Open / }).click();
    await page.getByRole('heading', { name: /^Inspection .+ · frame \d+$/ }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1) ?? '');
    const opened = await read<InspectionLogItem>(`/api/inspection-logs/${id}`);
    expect(opened.decision).toBe('FAIL');
    await page
      .getByRole('heading', { name: `Inspection ${opened.camera} · frame ${opened.frameIndex}` })
      .waitFor();
    const detections = page.getByRole('region', { name: 'Detections' }).getByRole('row');
    expect(await detections.count()).toBe(Math.max(1, opened.detections.length) + 1);

    // A result with its JPEG: the image (fetched with the token) and one box per detection.
    const stored = withFrame;
    await page.goto(stack.url(`/inspections/${stored.id}`));
    await page
      .getByRole('heading', { name: `Inspection ${stored.camera} · frame ${stored.frameIndex}` })
      .waitFor();
    const image = page.getByRole('img', { name: new RegExp(`frame ${stored.frameIndex}: FAIL`) });
    await expect.poll(() => image.evaluate((node) => node.tagName)).toBe('IMG');
    await expect
      .poll(() => image.evaluate((node) => (node as HTMLImageElement).naturalWidth))
      .toBe(stored.width);
    expect(await page.locator('figure svg rect').count()).toBe(stored.detections.length);
    const decision = page.getByRole('region', { name: 'Decision' });
    expect(await decision.textContent()).toContain('FAIL');
    expect(await decision.getByRole('link', { name: stored.modelVersion }).count()).toBe(1);
    const features = await page.getByRole('region', { name: 'Image features' }).textContent();
    expect(features).toContain(`Brightness${stored.features.brightness.toFixed(3)}`);
    expect(features).toContain(`Edge density${stored.features.edgeDensity.toFixed(3)}`);
    await stack.shot(page, 'inspection-detail');
  }, 120_000);
});
