/**
 * The inspection thresholds end to end: an admin changes the fail threshold and the detection
 * confidence on the settings page in Chromium, and a running `visionloop agent` process (its
 * own process, as people run it, streaming the synthetic line to a real server) applies them
 * to its next results without a restart. A detection confidence above the fail threshold is
 * shown at its field and nothing is sent.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSettings } from '../../src/shared/api/agents.js';
import type { InspectionLogItem } from '../../src/shared/api/inspection-logs.js';
import { startStack, until, type Stack } from './harness.js';

/** The machine is shared: a test that takes 10 s alone may take ten times that under load. */
const TEST_TIMEOUT_MS = 300_000;
const NEW_DETECTION_CONFIDENCE = 0.6;
const NEW_FAIL_THRESHOLD = 0.9;

let stack: Stack;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 5, agentProcesses: true });
  page = await stack.newPage({ scope: 'admin', path: '/settings' });
  await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  await page.getByLabel('Fail threshold').waitFor();
}, 420_000);
afterAll(async () => stack?.stop(), 60_000);

/** The agent's newest stored results, newest first. */
async function newestResults(limit = 100): Promise<InspectionLogItem[]> {
  const answer = await stack.request('GET', `/api/inspection-logs?camera=cam-1&limit=${limit}`);
  expect(answer.status).toBe(200);
  return (answer.body as { items: InspectionLogItem[] }).items;
}

/** True when `result` was made under the new thresholds. */
function madeUnderNewThresholds(result: InspectionLogItem): boolean {
  const kept = result.detections.every((d) => d.confidence >= NEW_DETECTION_CONFIDENCE);
  const fails = result.detections.some((d) => d.confidence >= NEW_FAIL_THRESHOLD);
  return kept && result.decision === (fails ? 'FAIL' : 'PASS');
}

/** A PASS with a box at or above the default fail threshold: only the new threshold allows it. */
function passedOnlyUnderNew(result: InspectionLogItem): boolean {
  return result.decision === 'PASS' && result.detections.some((d) => d.confidence >= 0.5);
}

describe('inspection thresholds', () => {
  it(
    'refuses a detection confidence above the fail threshold at its field, sending nothing',
    async () => {
      const before = (await stack.request('GET', '/api/settings/agent')).body as AgentSettings;
      const form = page.getByRole('form', { name: 'Inspection thresholds' });
      const writes: string[] = [];
      page.on('request', (request) => {
        if (request.method() !== 'GET') writes.push(request.url());
      });
      await page.getByLabel('Fail threshold').fill('0.4');
      await page.getByLabel('Detection confidence').fill('0.45');
      await form.getByRole('button', { name: 'Save inspection thresholds' }).click();
      const field = page.getByLabel('Detection confidence', { exact: true });
      await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true');
      const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
      const errorId = describedBy.split(' ').find((id) => id.endsWith('-error')) ?? '';
      expect(await page.locator(`[id="${errorId}"]`).textContent()).toContain(
        'detectionConfidence (0.45) must be ≤ failThreshold (0.4)',
      );
      await stack.shot(page, 'settings-thresholds-error');
      page.removeAllListeners('request');
      expect(writes).toEqual([]);
      expect((await stack.request('GET', '/api/settings/agent')).body).toEqual(before);
      await form.getByRole('button', { name: 'Undo changes' }).click();
      expect(await page.getByLabel('Fail threshold').inputValue()).toBe('0.5');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'applies a threshold changed in the browser to the running agent’s next results',
    async () => {
      // Under the defaults (0.25 / 0.5) the line shows boxes the new thresholds would drop or
      // decide otherwise; how often depends on the parts passing (a few parts carry most of
      // them), so wait until the newest 500 results hold at least 15 such results.
      let before: InspectionLogItem[] = [];
      await until(
        '15 results the new thresholds would change, under the defaults',
        async () => {
          before = await newestResults(500);
          return before.filter((r) => !madeUnderNewThresholds(r)).length >= 15;
        },
        240_000,
      );
      expect(before.length).toBeGreaterThanOrEqual(15);

      const form = page.getByRole('form', { name: 'Inspection thresholds' });
      await page.getByLabel('Fail threshold').fill(String(NEW_FAIL_THRESHOLD));
      await page.getByLabel('Detection confidence').fill(String(NEW_DETECTION_CONFIDENCE));
      await form.getByRole('button', { name: 'Save inspection thresholds' }).click();
      await expect.poll(() => form.getByRole('status').textContent()).toMatch(/^Saved/);
      await stack.shot(page, 'settings-thresholds');
      const stored = (await stack.request('GET', '/api/settings/agent')).body as AgentSettings;
      expect(stored).toMatchObject({
        failThreshold: NEW_FAIL_THRESHOLD,
        detectionConfidence: NEW_DETECTION_CONFIDENCE,
      });
      const savedAt = Date.now();

      // The agent hears of the change with its next heartbeat (every 5 s), without a restart;
      // from then on every result keeps to the new thresholds.
      let applied: InspectionLogItem[] = [];
      let since: InspectionLogItem[] = [];
      await until(
        '30 results in a row under the new thresholds, one of them a PASS the defaults would fail',
        async () => {
          since = (await newestResults(500)).filter((r) => r.capturedAt > savedAt);
          applied = since.slice(0, 30);
          return (
            applied.length === 30 &&
            applied.every(madeUnderNewThresholds) &&
            since.some(passedOnlyUnderNew)
          );
        },
        240_000,
      );
      // Proof that the new fail threshold is in force: a box between 0.6 and 0.9 judged PASS,
      // which the default fail threshold (0.5) would have failed.
      expect(since.some(passedOnlyUnderNew)).toBe(true);
      // The new fail threshold decides: a FAIL only at 0.9 or above, and boxes from 0.6 up.
      for (const result of applied) {
        const top = Math.max(0, ...result.detections.map((d) => d.confidence));
        expect(result.decision).toBe(top >= NEW_FAIL_THRESHOLD ? 'FAIL' : 'PASS');
        for (const d of result.detections) {
          expect(d.confidence).toBeGreaterThanOrEqual(NEW_DETECTION_CONFIDENCE);
        }
      }
    },
    TEST_TIMEOUT_MS,
  );
});
