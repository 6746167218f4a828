/**
 * The labeling queue and the review view in Chromium, against a real server fed by a real
 * agent on the synthetic line (its sampler queues frames; the test turns the random strategy up
 * through the settings API so items arrive within seconds, then sampling off so the numbers
 * hold still). A labeler labels one item by drawing a box with the mouse and one with the
 * keyboard only, skips one; their own label is refused to them in the review view; a second
 * labeler approves both as a selection; the queue's numbers on the page follow each step.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ROOT, startStack, until } from './harness.js';
import type { Stack } from './harness.js';

interface Counts {
  pending: number;
  labeled: number;
  approved: number;
  skipped: number;
}
interface Item {
  id: string;
  status: string;
  reason: string;
  labels: { className: string; box: { x1: number; y1: number; x2: number; y2: number } }[] | null;
  labeledBy: { name: string | null } | null;
}

describe('labeling queue and review', { timeout: 120_000 }, () => {
  let stack: Stack;
  let alice: string;
  let bob: string;

  async function counts(): Promise<Counts> {
    const stats = await stack.request('GET', '/api/labeling-queue/stats');
    return (stats.body as { counts: Counts }).counts;
  }
  async function item(id: string): Promise<Item> {
    return (await stack.request('GET', `/api/labeling-queue/${id}`)).body as Item;
  }
  /** The number the page shows for one of the queue's statistics. */
  async function shown(page: Page, stat: string): Promise<number> {
    const text = await page.getByRole('group', { name: stat, exact: true }).innerText();
    return Number(/(\d+)\s*$/.exec(text)?.[1] ?? NaN);
  }
  /** The item the labeling page shows (from its facts list). */
  async function itemOnScreen(page: Page): Promise<string> {
    const facts = page.getByRole('region', { name: /this session/ });
    const text = await facts.innerText();
    return /lq-[0-9a-f-]+/.exec(text)?.[0] ?? '';
  }
  async function boxCount(page: Page): Promise<number> {
    const heading = await page.getByRole('heading', { name: /^Boxes \(\d+\)$/ }).innerText();
    return Number(/\((\d+)\)/.exec(heading)?.[1]);
  }

  beforeAll(async () => {
    stack = await startStack({ agents: 1, fps: 2 });
    alice = await stack.token('labeler', 'alice');
    bob = await stack.token('labeler', 'bob');
    // Every frame is a sample (up to 30 a minute) until enough wait, then none, so the numbers
    // below move only through the test's own actions.
    const more = await stack.request('PUT', '/api/settings/agent', {
      body: {
        sampling: { strategies: { random: { keepProbability: 1 } }, caps: { perMinute: 30 } },
      },
    });
    expect(more.status).toBe(200);
    await until('five queued items', async () => (await counts()).pending >= 5, 40_000);
    await stack.request('PUT', '/api/settings/agent', { body: { sampling: { enabled: false } } });
    // Frames sampled before the agent saw the change may still be on their way: wait until the
    // count holds still for two heartbeats.
    let last = -1;
    await until(
      'the queue to stop growing',
      async () => {
        const now = (await counts()).pending;
        const still = now === last;
        last = now;
        if (!still) await new Promise((resolve) => setTimeout(resolve, 2_000));
        return still;
      },
      30_000,
    );
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  it('labels with the mouse and with the keyboard, skips, and a second labeler approves', async () => {
    const start = await counts();
    expect(start).toMatchObject({ labeled: 0, approved: 0, skipped: 0 });
    expect(start.pending).toBeGreaterThanOrEqual(5);

    const page = await stack.newPage({ token: alice, path: '/labeling' });
    onTestFailed(async () => {
      await stack.shot(page, 'labeling-failure', { fullPage: true });
    });
    await page.getByRole('heading', { name: 'Labeling', level: 1 }).waitFor();
    await page.getByRole('region', { name: 'Item 1 of 1 this session' }).waitFor();
    await expect.poll(() => shown(page, 'Pending'), { timeout: 15_000 }).toBe(start.pending - 1);
    await expect.poll(() => shown(page, 'In progress'), { timeout: 15_000 }).toBe(1);
    const first = await itemOnScreen(page);
    // Why it was sampled, as the item says (uncertain frames rank above random ones).
    const reason = (await item(first)).reason;
    const reasonShown = { low_confidence: 'Low confidence', random: 'Random sample' }[reason];
    expect(reasonShown, reason).toBeDefined();
    await page
      .getByText(reasonShown ?? '')
      .first()
      .waitFor();
    // The next item is fetched (with its image) before this one is submitted.
    await page.getByText('next item ready').waitFor();

    // The `?` overlay lists the shortcuts; Esc closes it.
    await page.keyboard.press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    expect(await help.getByText('Submit the boxes and go to the next item').count()).toBe(1);
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });

    // 1. Mouse: Draw box, drag on the frame from (100,100) to (220,200) frame pixels, class
    //    crack from the picker, Label.
    const preLabels = await boxCount(page);
    await page.getByRole('button', { name: /Draw box/ }).click();
    const image = page.getByRole('img', { name: /^Frame of cam-1/ });
    const area = await image.boundingBox();
    if (area === null) throw new Error('the frame is not on screen');
    const at = (x: number, y: number) =>
      [area.x + (x / 640) * area.width, area.y + (y / 480) * area.height] as const;
    await page.mouse.move(...at(100, 100));
    await page.mouse.down();
    await page.mouse.move(...at(160, 150), { steps: 4 });
    await page.mouse.move(...at(220, 200), { steps: 4 });
    await page.mouse.up();
    await expect.poll(() => boxCount(page), { timeout: 15_000 }).toBe(preLabels + 1);
    await page
      .getByRole('group', { name: 'Class (new box and selected box)' })
      .getByRole('button', { name: /crack/ })
      .click();
    await stack.shot(page, 'labeling');
    copyScreenshot('labeling');
    const preloaded = await page.locator('[data-preloaded]').getAttribute('data-preloaded');
    await page.getByRole('button', { name: /^Label/ }).click();

    await page.getByRole('region', { name: 'Item 2 of 2 this session' }).waitFor();
    const second = await itemOnScreen(page);
    expect(second).toBe(preloaded);
    const firstStored = await item(first);
    expect(firstStored.status).toBe('labeled');
    expect(firstStored.labeledBy?.name).toBe('alice');
    expect(firstStored.labels).toHaveLength(preLabels + 1);
    const drawn = firstStored.labels?.find(
      (label) => label.className === 'crack' && label.box.x1 < 110 && label.box.x1 > 90,
    );
    expect(drawn, JSON.stringify(firstStored.labels)).toBeDefined();
    for (const [key, want] of [
      ['x1', 100],
      ['y1', 100],
      ['x2', 220],
      ['y2', 200],
    ] as const) {
      expect(Math.abs((drawn?.box[key] ?? -99) - want), key).toBeLessThanOrEqual(1);
    }

    // 2. Keyboard only: select and delete the model's boxes, R + Enter places a box at the
    //    centre, Shift+→ twice moves it 20 px, Ctrl+Shift+↓ makes it 10 px taller, 2 = crack,
    //    undo and redo, Ctrl+Enter.
    await page.mouse.move(0, 0);
    const modelBoxes = await boxCount(page);
    for (let i = 0; i < modelBoxes; i++) {
      await page.keyboard.press('s');
      await page.keyboard.press('Delete');
    }
    await expect.poll(() => boxCount(page), { timeout: 15_000 }).toBe(0);
    await page.keyboard.press('r');
    await page.keyboard.press('Enter');
    await expect.poll(() => boxCount(page), { timeout: 15_000 }).toBe(1);
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Control+Shift+ArrowDown');
    await page.keyboard.press('2');
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+Shift+z');
    await page.keyboard.press('Control+Shift+z');
    expect(await page.getByRole('combobox', { name: 'Class of box 1' }).inputValue()).toBe('crack');
    await page.keyboard.press('Control+Enter');
    await page.getByRole('region', { name: 'Item 3 of 3 this session' }).waitFor();
    const secondStored = await item(second);
    expect(secondStored.status).toBe('labeled');
    // Default box: a sixth of the frame (107×80) centred at (320, 240) → (267,200)–(374,280).
    expect(secondStored.labels).toEqual([
      { className: 'crack', box: { x1: 287, y1: 200, x2: 394, y2: 290 } },
    ]);

    // 3. Skip with Ctrl+Space.
    const third = await itemOnScreen(page);
    await page.keyboard.press('Control+Space');
    await page.getByRole('region', { name: 'Item 4 of 4 this session' }).waitFor();
    expect((await item(third)).status).toBe('skipped');
    await expect.poll(() => shown(page, 'Labeled'), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => shown(page, 'Skipped'), { timeout: 15_000 }).toBe(1);

    // D goes back to the skipped item, read-only; F returns.
    await page.keyboard.press('d');
    await page.getByRole('region', { name: 'Item 3 of 4 this session' }).waitFor();
    expect(await page.getByRole('button', { name: /^Label/ }).isDisabled()).toBe(true);
    await page.keyboard.press('f');
    await page.getByRole('region', { name: 'Item 4 of 4 this session' }).waitFor();

    // The labeler may not approve their own label: the review view shows the refusal.
    await page.getByRole('link', { name: 'Review' }).click();
    await page.getByRole('heading', { name: 'Review labels' }).waitFor();
    await page.getByRole('option', { name: new RegExp(first) }).click();
    await page.keyboard.press('a');
    const refusal = page.getByRole('status').filter({ hasText: 'refused 1' });
    await refusal.waitFor();
    expect(await refusal.innerText()).toMatch(/labeled by you: a second reviewer must approve/);
    expect((await item(first)).status).toBe('labeled');

    // 4. A second labeler approves both labels as a selection, with the keyboard.
    const review = await stack.newPage({ token: bob, path: '/labeling/review' });
    await review.getByRole('heading', { name: 'Review labels' }).waitFor();
    const rows = review.getByRole('option');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => shown(review, 'Labeled'), { timeout: 15_000 }).toBe(2);
    await review.getByRole('listbox', { name: 'Labels waiting for review' }).focus();
    await review.keyboard.press('Control+a');
    await expect
      .poll(() => review.getByRole('option', { selected: true }).count(), { timeout: 15_000 })
      .toBe(2);
    await review.getByRole('img', { name: /labeled boxes/ }).waitFor();
    await stack.shot(review, 'labeling-review');
    copyScreenshot('labeling-review');
    await review.keyboard.press('a');
    await review.getByRole('status').filter({ hasText: 'Approved 2' }).waitFor();
    expect((await item(first)).status).toBe('approved');
    expect((await item(second)).status).toBe('approved');
    await expect.poll(() => shown(review, 'Approved'), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => shown(review, 'Labeled'), { timeout: 15_000 }).toBe(0);
    // The first labeler's page follows live.
    await expect.poll(() => shown(page, 'Approved'), { timeout: 15_000 }).toBe(2);
    const end = await counts();
    expect(end).toMatchObject({ labeled: 0, approved: 2, skipped: 1, claimed: 1 });
    expect(end.pending).toBe(start.pending - 4);
  });

  it('shows a viewer the queue without actions; the API refuses them', async () => {
    const page = await stack.newPage({ scope: 'viewer', path: '/labeling' });
    await page.getByRole('heading', { name: 'Labeling', level: 1 }).waitFor();
    await page.getByText('may read the queue but not label').waitFor();
    expect(await page.getByRole('button', { name: /^Label/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Review' }).click();
    await page.getByRole('heading', { name: 'Review labels' }).waitFor();
    expect(await page.getByRole('button', { name: /Approve|Reject/ }).count()).toBe(0);
    const viewer = await stack.token('viewer');
    const refused = await stack.request('POST', '/api/labeling-queue/review', {
      token: viewer,
      body: { action: 'approve', ids: ['lq-x'] },
    });
    expect(refused.status).toBe(403);
  });
});

function copyScreenshot(name: string): void {
  mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true });
  copyFileSync(
    join(ROOT, 'test-results', `${name}.png`),
    join(ROOT, 'docs', 'images', `dashboard-${name}.png`),
  );
}
