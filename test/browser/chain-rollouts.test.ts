/**
 * Issue 18 in Chromium against a real server fed by two real agents (cam-1, cam-2):
 * - an inspection whose result carries stage outputs (ingested through the API as an agent
 *   with a chain would send it, with its JPEG) shows the crop class, the area in px and mm²,
 *   the rule that decided it, and draws the mask polygon over the frame;
 * - the inspection chain editor refuses a bad value at its field without sending anything,
 *   then saves a valid chain, read back through the API;
 * - a canary rollout is started from the models page, shows its metrics, and is rolled back
 *   from the page with a reason, which the alias history shows.
 */
import type { Page, Request } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InspectionChainsResponse } from '../../src/shared/api/inspection-chain.js';
import type {
  InspectionLogItem,
  InspectionLogsResponse,
} from '../../src/shared/api/inspection-logs.js';
import type { AliasHistoryResponse } from '../../src/shared/api/models.js';
import type { RolloutListResponse } from '../../src/shared/api/rollouts.js';
import type { FrameResult } from '../../src/shared/domain.js';
import { SEED_MODEL, startStack, until, type Stack } from './harness.js';

// A shared 2-core machine: waits for the page are generous (they end as soon as it holds).
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
let stack: Stack;
let page: Page;
const CANDIDATE = 'seed-v1-canary';

async function read<T>(path: string): Promise<T> {
  const answer = await stack.request('GET', path);
  expect(answer.status).toBe(200);
  return answer.body as T;
}

beforeAll(async () => {
  stack = await startStack({ agents: 2, fps: 4 });
  // A detect candidate: the seed file again under another name, through the API.
  const upload = await fetch(stack.url(`/api/models?version=${CANDIDATE}`), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.adminToken}`,
      'content-type': 'application/octet-stream',
    },
    body: readFileSync(SEED_MODEL),
  });
  expect(upload.status).toBe(201);
  page = await stack.newPage({ scope: 'admin', path: '/' });
}, 150_000);
afterAll(async () => {
  await Promise.all(stack?.browser.contexts().map((context) => context.close()) ?? []);
  await stack?.stop();
}, 120_000);

describe('multi-stage inspection and rollouts in the dashboard', () => {
  it('shows an inspection’s crop class, area and deciding rule and draws its mask', async () => {
    let source: InspectionLogItem | undefined;
    await until(
      'a stored result with its image and a detection',
      async () => {
        const page1 = await read<InspectionLogsResponse>('/api/inspection-logs?limit=100');
        source = page1.items.find((item) => item.hasFrame && item.detections.length > 0);
        return source !== undefined;
      },
      90_000,
    );
    const base = source!;
    const detection = base.detections[0]!;
    const { x1, y1, x2, y2 } = detection.box;
    const polygon = [x1 + 2, y1 + 2, x2 - 2, y1 + 4, (x1 + x2) / 2, y2 - 2];
    const result: FrameResult = {
      id: `${base.id}-staged`,
      camera: base.camera,
      frameIndex: base.frameIndex,
      capturedAt: base.capturedAt + 1,
      width: base.width,
      height: base.height,
      detections: [detection],
      uncertain: false,
      decision: 'FAIL',
      features: base.features,
      latencies: base.latencies,
      modelVersion: base.modelVersion,
      inferred: true,
      decidedBy: 'big-area',
      stages: {
        versions: { classify: 'cls-test', segment: 'seg-test' },
        detections: [
          {
            classification: { classId: 2, className: 'deep-crack', confidence: 0.876 },
            segmentation: { areaPx: 412, areaMm2: 3.1, polygon },
            vetoed: false,
          },
        ],
        totalAreaPx: 412,
        totalAreaMm2: 3.1,
        maxSeverity: 2,
        timings: { classifyMs: 3.2, segmentMs: 7.5 },
      },
    };
    const agentToken = await stack.token('agent');
    const ingest = await stack.request('POST', '/api/ingest', {
      token: agentToken,
      body: { results: [result] },
    });
    expect(ingest.status).toBeLessThan(300);
    const jpeg = await fetch(stack.url(`/api/frames/${base.id}`), {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    const upload = await fetch(stack.url(`/api/frames/${result.id}`), {
      method: 'PUT',
      headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'image/jpeg' },
      body: Buffer.from(await jpeg.arrayBuffer()),
    });
    expect(upload.status).toBeLessThan(300);

    await page.goto(stack.url(`/inspections?camera=${result.camera}&decision=FAIL&limit=50`));
    const row = page
      .getByRole('table', { name: /Frame results/ })
      .getByRole('row', { name: /rule big-area/ });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('deep-crack · 412 px · 3.10 mm²');

    await page.goto(stack.url(`/inspections/${encodeURIComponent(result.id)}`));
    const decision = page.getByRole('region', { name: 'Decision' });
    await expect.poll(() => decision.textContent()).toContain('Decided byrule big-area');
    expect(await decision.textContent()).toContain('classify 3.2 ms · segment 7.5 ms');
    const detections = page.getByRole('region', { name: 'Detections' });
    const cells = await detections.getByRole('row').nth(1).textContent();
    expect(cells).toContain('deep-crack 88 %');
    expect(cells).toContain('412 px · 3.10 mm²');
    const mask = page.locator('figure svg polygon');
    await expect.poll(() => mask.count()).toBe(1);
    const points = await mask.getAttribute('points');
    expect(points).toBe(
      `${polygon[0]},${polygon[1]} ${polygon[2]},${polygon[3]} ${polygon[4]},${polygon[5]}`,
    );
    await page.screenshot({ path: '/tmp/dash-shots/test-inspection-stages.png', fullPage: true });
  }, 150_000);

  it('refuses a bad chain value at its field, then saves a valid chain', async () => {
    await page.goto(stack.url('/settings'));
    const form = page.getByRole('form', { name: 'Inspection chain' });
    await form.getByLabel('Max crops per frame').waitFor();
    const sent: string[] = [];
    const record = (request: Request) => {
      if (request.url().includes('/api/inspection-chain') && request.method() === 'PUT') {
        sent.push(request.url());
      }
    };
    page.on('request', record);
    await form.getByLabel('Max crops per frame').fill('100');
    await form.getByRole('button', { name: 'Save the default chain' }).click();
    await expect.poll(() => form.getByText(/Too big: expected number to be <=64/).count()).toBe(1);
    expect(sent).toEqual([]);

    await form.getByLabel('Max crops per frame').fill('8');
    await form.getByLabel('mm per pixel').fill('0.05');
    await page.getByLabel('New rule').selectOption('any-defect');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await form.getByLabel('Rule 1 id').fill('any-sure-defect');
    await form.getByLabel('Rule 1 min confidence').fill('0.6');
    await form.getByRole('button', { name: 'Save the default chain' }).click();
    await expect
      .poll(() => form.getByRole('status').textContent())
      .toContain('Default chain saved');
    page.off('request', record);
    expect(sent).toHaveLength(1);
    const stored = await read<InspectionChainsResponse>('/api/inspection-chain');
    expect(stored.default).toEqual({
      stages: [],
      vetoClass: 'not_defect',
      mmPerPixel: 0.05,
      maxCrops: 8,
      rules: [{ id: 'any-sure-defect', when: 'any-defect', minConfidence: 0.6 }],
    });
    await page.getByRole('region', { name: 'Inspection chain' }).screenshot({
      path: '/tmp/dash-shots/test-chain-saved.png',
    });
  }, 120_000);

  it('starts a canary, shows its metrics and rolls it back with a reason', async () => {
    await page.goto(stack.url('/models'));
    const panel = page.getByRole('region', { name: 'Rollouts' });
    await panel.getByRole('button', { name: 'Start a rollout…' }).click();
    const form = panel.getByRole('form', { name: 'Start a rollout' });
    await form.getByLabel('Candidate').selectOption(CANDIDATE);
    await form.getByLabel('Cameras').fill('cam-1');
    await form.getByLabel('Min canary frames').fill('100000');
    await form.getByLabel('Rollout reason').fill('browser test: canary on cam-1');
    await form.getByRole('button', { name: 'Start the canary' }).click();

    const detail = panel.getByRole('region', { name: 'Rollout detail' });
    await expect.poll(() => detail.textContent()).toContain(`Canary of ${CANDIDATE}`);
    const metrics = detail.getByRole('table', { name: 'Candidate against baseline' });
    expect(await metrics.getByRole('row').count()).toBe(6);
    for (const name of [
      'Frames',
      'Defect rate',
      'Uncertain rate',
      'Disagreement',
      'Inference p50',
    ]) {
      expect(await metrics.getByRole('row', { name: new RegExp(`^${name}`) }).count()).toBe(1);
    }
    // Frames reach the canary's side as the agents send them (re-read every 5 s).
    await expect
      .poll(
        async () =>
          Number(
            /^Frames\s*(\d+)/.exec(
              (await metrics.getByRole('row', { name: /^Frames/ }).textContent()) ?? '',
            )?.[1] ?? 0,
          ),
        { timeout: 60_000 },
      )
      .toBeGreaterThan(0);
    expect(await detail.getByText('waiting for frames').count()).toBe(1);
    await detail.screenshot({ path: '/tmp/dash-shots/test-rollout-running.png' });

    await detail.getByRole('button', { name: 'Roll back…' }).click();
    const end = detail.getByRole('form', { name: 'Roll back the rollout' });
    await end.getByRole('button', { name: 'Roll back the rollout' }).click();
    await expect.poll(() => end.getByText(/Say why/).count()).toBe(1);
    await end.getByLabel('Roll back reason').fill('browser test: back to the seed');
    await end.getByRole('button', { name: 'Roll back the rollout' }).click();
    await expect.poll(() => detail.textContent()).toContain('rolled back');
    const list = await read<RolloutListResponse>('/api/rollouts');
    expect(list.rollouts.map((r) => [r.candidateVersion, r.state])).toEqual([
      [CANDIDATE, 'rolled-back'],
    ]);
    const history = page.getByRole('region', { name: 'Alias history' });
    await expect
      .poll(() =>
        history
          .getByRole('row', { name: /canary rollback.*browser test: back to the seed/ })
          .count(),
      )
      .toBe(1);
    const stored = await read<AliasHistoryResponse>('/api/models/aliases/production/history');
    expect(stored.history[0]?.action).toBe('canary-rollback');
    expect(stored.history[0]?.reason).toContain('browser test: back to the seed');
    await page.screenshot({ path: '/tmp/dash-shots/test-rollout-rolled-back.png', fullPage: true });
  }, 180_000);
});
