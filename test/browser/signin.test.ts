/**
 * Signing in to the dashboard, in Chromium against a real server and agent: the admin token
 * opens the overview; a wrong token is refused at the field and nothing else shows; a token
 * revoked while the page is open returns the user to sign-in with a message on the next API
 * answer; the server serves the built page with its cache headers and an SPA fallback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from './harness.js';
import type { Stack } from './harness.js';

describe('dashboard sign-in', { timeout: 60_000 }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ agents: 1, fps: 5 });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('signs in with the admin token; sign-out returns to the form', async () => {
    const page = await stack.newPage({ signedOut: true });
    await page.getByRole('heading', { name: 'Sign in to VisionLoop' }).waitFor();
    await stack.shot(page, 'signin');
    await page.getByLabel('API token').fill(stack.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Pages' }).isVisible()).toBe(true);
    expect(await page.getByText('browser-test admin').textContent()).toContain('(admin)');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to VisionLoop' }).waitFor();
    // A reload stays signed out (the token was forgotten).
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to VisionLoop' }).waitFor();
    await page.context().close();
  });

  it('shows the refusal of a wrong token at the field', async () => {
    const page = await stack.newPage({ signedOut: true });
    const field = page.getByLabel('API token');
    await field.fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.getByRole('alert').filter({ hasText: 'not a VisionLoop token' });
    await error.waitFor();
    expect(await field.getAttribute('aria-invalid')).toBe('true');

    // Well-formed but unknown: the server refuses it, the message says so.
    await field.fill(`vl_${'A'.repeat(43)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'does not accept this token' }).waitFor();
    await stack.shot(page, 'signin-error');
    expect(await page.getByRole('navigation', { name: 'Pages' }).count()).toBe(0);

    // An agent token is refused too: it cannot read the dashboard's data.
    await field.fill(await stack.token('agent'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'agent token' }).waitFor();
    await page.context().close();
  });

  it('returns to sign-in with a message when the token is revoked', async () => {
    const viewer = await stack.token('viewer', 'soon revoked');
    const page = await stack.newPage({ token: viewer });
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await stack.revoke(viewer);
    // The overview polls the API; its next answer is a 401, which signs out.
    await page.getByRole('heading', { name: 'Sign in to VisionLoop' }).waitFor({ timeout: 20_000 });
    expect(await page.getByRole('alert').first().textContent()).toContain('session ended');
    await stack.shot(page, 'signin-revoked');
    await page.context().close();
  });

  it('serves the built page: SPA fallback, cache headers, API 404s stay JSON', async () => {
    const index = await fetch(stack.url('/models'), { headers: { accept: 'text/html' } });
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    expect(html).toContain('<div id="root">');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(stack.url(asset));
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect(script.headers.get('content-type')).toContain('javascript');

    const missingAsset = await fetch(stack.url('/assets/nope-123.js'));
    expect(missingAsset.status).toBe(404);
    const api = await fetch(stack.url('/api/nope'), { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});
