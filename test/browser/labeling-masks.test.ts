/**
 * Mask outlines and crop classes on the labeling page, in Chromium against a real server with
 * a real agent: a frame result carrying stage outputs (as an agent with a three-stage chain
 * sends it, sampled, with its JPEG) becomes a queue item whose box starts with the segmenter's
 * outline and the classifier's class; the shipped classifier, promoted to
 * `classify-production`, gives the crop classes to pick from. A labeler redraws the outline
 * with the mouse (P, four clicks, Enter), drags one point, picks another crop class and
 * submits; the label read back through the API carries the outline and the class.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import type { InspectionLogsResponse } from '../../src/shared/api/inspection-logs.js';
import type { LabelingItem } from '../../src/shared/api/labeling.js';
import type { FrameResult } from '../../src/shared/domain.js';
import { ROOT, startStack, until, type Stack } from './harness.js';

vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });
const CLASSIFIER = join(ROOT, 'models', 'seed-classify', 'model.onnx');
// The test's own detection box on the frame and the segmenter's outline inside it.
const BOX = { x1: 100, y1: 100, x2: 260, y2: 220 };
const STAGE_POLYGON = [120, 110, 240, 130, 180, 210];

let stack: Stack;
let itemId: string;

async function readItem(id: string): Promise<LabelingItem> {
  const answer = await stack.request('GET', `/api/labeling-queue/${id}`);
  expect(answer.status).toBe(200);
  return answer.body as LabelingItem;
}

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 2 });
  // Only the test's item in the queue from now on.
  const off = await stack.request('PUT', '/api/settings/agent', {
    body: { sampling: { enabled: false } },
  });
  expect(off.status).toBe(200);

  const upload = await fetch(stack.url('/api/models?version=cls-seed'), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.adminToken}`,
      'content-type': 'application/octet-stream',
    },
    body: readFileSync(CLASSIFIER),
  });
  expect(upload.status).toBe(201);
  const promote = await stack.request('POST', '/api/models/cls-seed/promote', {
    body: { alias: 'classify-production', reason: 'browser test', force: true },
  });
  expect(promote.status, JSON.stringify(promote.body)).toBe(200);

  let base: FrameResult | undefined;
  await until(
    'a stored result with its image',
    async () => {
      const page = await stack.request('GET', '/api/inspection-logs?limit=50');
      base = (page.body as InspectionLogsResponse).items.find((item) => item.hasFrame);
      return base !== undefined;
    },
    60_000,
  );
  const source = base!;
  const result: FrameResult = {
    id: `${source.id}-staged`,
    camera: source.camera,
    frameIndex: source.frameIndex,
    capturedAt: source.capturedAt + 1,
    width: source.width,
    height: source.height,
    detections: [{ classId: 0, className: 'scratch', confidence: 0.71, box: BOX }],
    uncertain: false,
    decision: 'FAIL',
    features: source.features,
    latencies: source.latencies,
    modelVersion: source.modelVersion,
    inferred: true,
    sampling: { reasons: ['random'], priority: 1000, phash: '0123456789abcdef' },
    stages: {
      versions: { classify: 'cls-seed', segment: 'seg-test' },
      detections: [
        {
          classification: { classId: 1, className: 'minor', confidence: 0.8 },
          segmentation: { areaPx: 6000, areaMm2: null, polygon: STAGE_POLYGON },
          vetoed: false,
        },
      ],
      totalAreaPx: 6000,
      totalAreaMm2: null,
      maxSeverity: 1,
      timings: { classifyMs: 2, segmentMs: 4 },
    },
  };
  const agentToken = await stack.token('agent');
  const ingest = await stack.request('POST', '/api/ingest', {
    token: agentToken,
    body: { results: [result] },
  });
  expect(ingest.status).toBeLessThan(300);
  const jpeg = await fetch(stack.url(`/api/frames/${source.id}`), {
    headers: { authorization: `Bearer ${stack.adminToken}` },
  });
  const frame = await fetch(stack.url(`/api/frames/${result.id}`), {
    method: 'PUT',
    headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'image/jpeg' },
    body: Buffer.from(await jpeg.arrayBuffer()),
  });
  expect(frame.status).toBeLessThan(300);
  await until(
    'the staged frame in the labeling queue',
    async () => {
      const queue = await stack.request('GET', '/api/labeling-queue?status=pending&limit=500');
      const found = (queue.body as { items: LabelingItem[] }).items.find(
        (item) => item.predictionId === result.id,
      );
      if (found !== undefined) itemId = found.id;
      return found !== undefined;
    },
    30_000,
  );
}, 150_000);
afterAll(async () => {
  await stack?.stop();
}, 120_000);

describe('mask outlines and crop classes on the labeling page', () => {
  it('starts from the stage outputs, redraws the outline, picks a class, and stores both', async () => {
    const labeler = await stack.token('labeler', 'carol');
    const page: Page = await stack.newPage({ token: labeler, path: '/labeling' });
    onTestFailed(async () => {
      await page.screenshot({ path: '/tmp/dash-shots/test-labeling-masks-failure.png' });
    });
    await page.getByRole('region', { name: 'Item 1 of 1 this session' }).waitFor();
    expect(await page.locator('[data-item-id]').getAttribute('data-item-id')).toBe(itemId);
    const item = await readItem(itemId);
    const width = item.width ?? 0;
    const height = item.height ?? 0;

    // Pre-filled from the stage outputs: the outline (3 points) and the crop class.
    const cropClass = page.getByRole('combobox', { name: 'Box 1 crop class' });
    await expect.poll(() => cropClass.inputValue()).toBe('minor');
    expect(await page.getByText('outline 3 points').count()).toBe(1);
    expect(await cropClass.locator('option').allTextContents()).toEqual([
      'crop class: none',
      'not_defect',
      'minor',
      'major',
      'critical',
    ]);
    expect(await page.locator('[data-mask-of="1"]').getAttribute('points')).toBe(
      '120,110 240,130 180,210',
    );

    // Redraw it with the mouse: P on the selected box, four clicks, Enter.
    await page.getByRole('button', { name: /^Select box 1/ }).click();
    await page.keyboard.press('p');
    const image = page.getByRole('img', { name: /^Frame of cam-/ });
    const area = await image.boundingBox();
    if (area === null) throw new Error('the frame is not on screen');
    const at = (x: number, y: number) =>
      [area.x + (x / width) * area.width, area.y + (y / height) * area.height] as const;
    const drawn = [110, 110, 250, 110, 250, 210, 110, 210];
    for (let index = 0; index < drawn.length; index += 2) {
      await page.mouse.click(...at(drawn[index]!, drawn[index + 1]!));
    }
    await expect
      .poll(() => page.locator('[data-outline-draft]').getAttribute('data-outline-draft'))
      .toBe('4');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByText('outline 4 points').count()).toBe(1);

    // The selected box's outline shows its 4 points as handles; drag the third from (250,210)
    // to (230,190).
    const handles = page.locator('[data-vertex]');
    await expect.poll(() => handles.count()).toBe(4);
    // (Measured again: the toolbar's buttons changed while outlining.)
    const after = await image.boundingBox();
    if (after !== null) Object.assign(area, after);
    const third = await handles.nth(2).boundingBox();
    if (third === null) throw new Error('the third point is not on screen');
    expect(Math.abs(third.x + third.width / 2 - at(250, 210)[0])).toBeLessThan(2);
    await page.mouse.move(third.x + third.width / 2, third.y + third.height / 2);
    await page.mouse.down();
    await page.mouse.move(...at(240, 200), { steps: 3 });
    await page.mouse.move(...at(230, 190), { steps: 3 });
    await page.mouse.up();
    await cropClass.selectOption('critical');
    await page.screenshot({ path: '/tmp/dash-shots/test-labeling-masks.png', fullPage: true });
    await page.getByRole('button', { name: /^Label/ }).click();

    await expect.poll(async () => (await readItem(itemId)).status).toBe('labeled');
    const stored = await readItem(itemId);
    expect(stored.labels).toHaveLength(1);
    const label = stored.labels![0]!;
    expect(label.className).toBe('scratch');
    expect(label.box).toEqual(BOX);
    expect(label.cropClass).toBe('critical');
    const want = [110, 110, 250, 110, 230, 190, 110, 210];
    expect(label.polygon, JSON.stringify(label.polygon)).toHaveLength(want.length);
    for (const [index, value] of want.entries()) {
      expect(
        Math.abs((label.polygon?.[index] ?? -99) - value),
        `coordinate ${index}`,
      ).toBeLessThanOrEqual(1);
    }
  }, 150_000);
});
