/**
 * The settings page in Chromium against a real server fed by a real agent: an admin changes
 * the uncertainty band and a drift threshold and the API stores them; bad input shows at its
 * field and sends no request; a refusal the server still makes (another admin changed the
 * settings meanwhile) is shown; a token is created, its secret shown once and copied, then
 * revoked and refused by the API.
 */
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSettings } from '../../src/shared/api/agents.js';
import type { DriftSettings } from '../../src/shared/api/drift.js';
import type { TokenListResponse } from '../../src/shared/api/tokens.js';
import { startStack, type Stack } from './harness.js';

/** The machine is shared: a test that takes 5 s alone may take ten times that under load. */
const TEST_TIMEOUT_MS = 120_000;

let stack: Stack;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ agents: 1, fps: 2 });
  page = await stack.newPage({ scope: 'admin', path: '/settings' });
  await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  await page.getByLabel('Band low').waitFor();
  await page.getByLabel('Drift share threshold (yellow)').waitFor();
}, 180_000);
afterAll(async () => stack?.stop(), 60_000);

async function read<T>(path: string): Promise<T> {
  const answer = await stack.request('GET', path);
  expect(answer.status).toBe(200);
  return answer.body as T;
}

/** The error text shown next to the field labelled `label` (via its aria-describedby). */
async function fieldError(label: string): Promise<string> {
  return page.getByLabel(label, { exact: true }).evaluate((input) => {
    const ids = (input.getAttribute('aria-describedby') ?? '').split(' ');
    return ids
      .map((id) => (id.endsWith('-error') ? (document.getElementById(id)?.textContent ?? '') : ''))
      .join('')
      .replace(/^■\s*/, '');
  });
}

/** Requests that would change something on the server, recorded while `action` runs. */
async function writesDuring(action: () => Promise<void>): Promise<string[]> {
  const writes: string[] = [];
  const record = (request: Request): void => {
    if (request.method() === 'GET') return;
    const body = request.postData();
    writes.push(`${request.method()} ${request.url()}${body === null ? '' : ` ${body}`}`);
  };
  page.on('request', record);
  try {
    await action();
    // Let anything the click started reach the network before the listener goes.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
  } finally {
    page.off('request', record);
  }
  return writes;
}

describe('settings page', () => {
  it(
    'stores a new uncertainty band and drift threshold (read back through the API)',
    async () => {
      await stack.shot(page, 'settings');
      await stack.shot(page, 'settings-full', { fullPage: true });
      const sampling = page.getByRole('form', { name: 'Uncertainty band and sampling' });
      await page.getByLabel('Band low').fill('0.35');
      await page.getByLabel('Band high').fill('0.75');
      // The watch used below for "nothing sent" does see a save: one PUT of the changed fields.
      const saves = await writesDuring(async () => {
        await sampling.getByRole('button', { name: 'Save uncertainty band and sampling' }).click();
        await expect
          .poll(() => sampling.getByRole('status').textContent())
          .toMatch(/^Saved \(revision \d+\)/);
      });
      expect(saves).toEqual([
        `PUT ${stack.url('/api/settings/agent')} ` +
          JSON.stringify({ sampling: { strategies: { uncertainty: { low: 0.35, high: 0.75 } } } }),
      ]);
      const agent = await read<AgentSettings>('/api/settings/agent');
      expect(agent.sampling?.strategies.uncertainty).toMatchObject({ low: 0.35, high: 0.75 });

      const drift = page.getByRole('form', { name: 'Drift monitor' });
      await page.getByLabel('Drift share threshold (yellow)').fill('0.4');
      await page.getByLabel('Red share threshold').fill('0.8');
      await drift.getByRole('button', { name: 'Save drift monitor' }).click();
      await expect.poll(() => drift.getByRole('status').textContent()).toMatch(/^Saved/);
      const stored = await read<DriftSettings>('/api/settings/drift');
      expect(stored).toMatchObject({ driftShareThreshold: 0.4, redShareThreshold: 0.8 });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows bad input next to its field and sends nothing',
    async () => {
      const before = {
        agent: await read<AgentSettings>('/api/settings/agent'),
        drift: await read<DriftSettings>('/api/settings/drift'),
      };
      const sampling = page.getByRole('form', { name: 'Uncertainty band and sampling' });
      const drift = page.getByRole('form', { name: 'Drift monitor' });
      const writes = await writesDuring(async () => {
        // The band's low at or above its high.
        await page.getByLabel('Band low').fill('0.8');
        await page.getByLabel('Band high').fill('0.6');
        await sampling.getByRole('button', { name: 'Save uncertainty band and sampling' }).click();
        await expect.poll(() => fieldError('Band high')).toBe('low (0.8) must be below high (0.6)');
        // The first bad field takes the focus.
        expect(
          await page.getByLabel('Band high').evaluate((e) => e === document.activeElement),
        ).toBe(true);
        await stack.shot(page, 'settings-field-error');

        // A drift share above 1 and a negative count.
        await page.getByLabel('Drift share threshold (yellow)').fill('1.5');
        await page.getByLabel('Window samples').fill('-5');
        await drift.getByRole('button', { name: 'Save drift monitor' }).click();
        await expect.poll(() => fieldError('Drift share threshold (yellow)')).toBe('Must be < 1');
        expect(await fieldError('Window samples')).toBe('Must be ≥ 5');
        expect(await page.getByLabel('Window samples').getAttribute('aria-invalid')).toBe('true');
        // Fixing one field clears its error as the person types; the other stays.
        await page.getByLabel('Window samples').fill('50');
        await expect.poll(() => fieldError('Window samples')).toBe('');
        expect(await fieldError('Drift share threshold (yellow)')).toBe('Must be < 1');
        await drift.getByRole('button', { name: 'Save drift monitor' }).click();
      });
      await stack.shot(page, 'settings-field-error-drift');
      expect(writes).toEqual([]);
      expect(await read<AgentSettings>('/api/settings/agent')).toEqual(before.agent);
      expect(await read<DriftSettings>('/api/settings/drift')).toEqual(before.drift);

      for (const form of [sampling, drift]) {
        await form.getByRole('button', { name: 'Undo changes' }).click();
      }
      expect(await page.getByLabel('Band low').inputValue()).toBe('0.35');
      expect(await page.getByLabel('Drift share threshold (yellow)').inputValue()).toBe('0.4');
      expect(await fieldError('Drift share threshold (yellow)')).toBe('');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows the server’s refusal when the settings changed under the form',
    async () => {
      // Another admin raises the yellow threshold; this page still shows 0.4.
      const other = await stack.request('PUT', '/api/settings/drift', {
        body: { driftShareThreshold: 0.6 },
      });
      expect(other.status).toBe(200);
      const drift = page.getByRole('form', { name: 'Drift monitor' });
      // 0.5 ≥ 0.4 passes the form's check; the server merges it with 0.6 and refuses.
      await page.getByLabel('Red share threshold').fill('0.5');
      await drift.getByRole('button', { name: 'Save drift monitor' }).click();
      const refusal = drift.getByRole('alert').filter({ hasText: 'The server refused the change' });
      await refusal.waitFor();
      expect(await refusal.textContent()).toContain(
        'invalid drift settings: redShareThreshold must be ≥ driftShareThreshold (INVALID_ARGUMENT)',
      );
      expect((await read<DriftSettings>('/api/settings/drift')).redShareThreshold).toBe(0.8);
      // The form now shows the other admin's value beside this one's edit, and why they
      // clash, so a second Save cannot send the stale 0.4 back.
      await expect
        .poll(() => page.getByLabel('Drift share threshold (yellow)').inputValue())
        .toBe('0.6');
      expect(await page.getByLabel('Red share threshold').inputValue()).toBe('0.5');
      await expect
        .poll(() => fieldError('Red share threshold'))
        .toBe('redShareThreshold must be ≥ driftShareThreshold');
      await drift.getByRole('button', { name: 'Undo changes' }).click();
      expect(await page.getByLabel('Red share threshold').inputValue()).toBe('0.8');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'creates a token, shows its secret once with a copy button, and revokes it',
    async () => {
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], {
        origin: stack.url(''),
      });
      const tokens = page.getByRole('region', { name: 'API tokens' });
      const createForm = page.getByRole('form', { name: 'Create a token' });

      // No name: the field says so and nothing is sent.
      const refused = await writesDuring(async () => {
        await createForm.getByRole('button', { name: 'Create token' }).click();
        await expect.poll(() => fieldError('Token name')).toBe('Enter a name');
      });
      expect(refused).toEqual([]);

      await page.getByLabel('Token name').fill('line 2 tablet');
      await page.getByLabel('Scope').selectOption('labeler');
      await createForm.getByRole('button', { name: 'Create token' }).click();
      const secretBox = page.getByLabel('New token secret');
      await secretBox.waitFor();
      const secret = await secretBox.inputValue();
      expect(secret).toMatch(/^vl_[A-Za-z0-9_-]{43}$/);
      expect(await page.getByRole('region', { name: 'New token' }).textContent()).toContain(
        'it is shown only this once',
      );
      // The secret works, with the scope chosen.
      const session = await stack.request('GET', '/api/session', { token: secret });
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ name: 'line 2 tablet', scope: 'labeler' });

      await page.getByRole('button', { name: 'Copy token' }).click();
      await expect
        .poll(() =>
          page.getByRole('region', { name: 'New token' }).getByRole('status').textContent(),
        )
        .toBe('Copied to the clipboard.');
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
      await stack.shot(page, 'settings-token-created');

      await page.getByRole('button', { name: 'Done, hide it' }).click();
      expect(await page.getByLabel('New token secret').count()).toBe(0);
      expect(await page.content()).not.toContain(secret);
      // The list never carries a secret, even after a reload.
      await page.reload();
      await tokens.getByRole('table').waitFor();
      const row = tokens.getByRole('row').filter({ hasText: 'line 2 tablet' });
      await row.waitFor();
      expect(await row.textContent()).toContain('Active');
      expect(await page.content()).not.toContain(secret);

      // By keyboard: Enter on Revoke, and the confirmation takes the focus.
      await row.getByRole('button', { name: 'Revoke token line 2 tablet' }).focus();
      await page.keyboard.press('Enter');
      const confirm = row.getByRole('button', { name: 'Confirm revoke' });
      await expect.poll(() => confirm.evaluate((e) => e === document.activeElement)).toBe(true);
      await page.keyboard.press('Enter');
      await expect.poll(() => row.textContent()).toContain('Revoked');
      expect(await row.getByRole('button').count()).toBe(0);
      const after = await stack.request('GET', '/api/session', { token: secret });
      expect(after.status).toBe(401);
      const list = await read<TokenListResponse>('/api/tokens');
      expect(list.tokens.find((t) => t.name === 'line 2 tablet')?.revokedAt).toEqual(
        expect.any(Number),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
