import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_PAGE_ROOTS, isDashboardPagePath } from '../shared/dashboard.js';
import { dashboardRoutes, defaultDashboardDir, packageRoot } from './dashboard.plugin.js';

const dirs: string[] = [];
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function appFor(distDir: string): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(dashboardRoutes, { distDir });
  await app.ready();
  apps.push(app);
  return app;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vl-dashboard-'));
  dirs.push(dir);
  return dir;
}

describe('the dashboard plugin', () => {
  it('finds web/dist from the package root, not the working directory', () => {
    expect(defaultDashboardDir()).toBe(join(packageRoot(), 'web', 'dist'));
    expect(packageRoot()).not.toContain('/src/');
  });

  it('answers 503 with how to build when web/dist is missing', async () => {
    const app = await appFor(join(tempDir(), 'absent'));
    const html = await app.inject({ url: '/', headers: { accept: 'text/html' } });
    expect(html.statusCode).toBe(503);
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.body).toContain('npm run build:web');
    const json = await app.inject({ url: '/models', headers: { accept: 'application/json' } });
    expect(json.statusCode).toBe(503);
    expect(json.json()).toMatchObject({ error: { code: 'DASHBOARD_NOT_BUILT' } });
  });

  it('serves files with cache headers and index.html for app paths', async () => {
    const dist = tempDir();
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dist, 'robots.txt'), 'User-agent: *');
    writeFileSync(join(tempDir(), 'secret.txt'), 'no');
    const app = await appFor(dist);

    for (const url of ['/', '/models', '/inspections/abc?camera=cam-1']) {
      const page = await app.inject({ url, headers: { accept: 'text/html' } });
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.body).toContain('<div id="root">');
    }
    const asset = await app.inject({ url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const plain = await app.inject({ url: '/robots.txt' });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['cache-control']).toBe('public, max-age=0');

    // Not the page: a missing asset, a non-HTML client, the API, docs, metrics, traversal.
    expect((await app.inject({ url: '/assets/gone-1.js' })).statusCode).toBe(404);
    const json = await app.inject({ url: '/models', headers: { accept: 'application/json' } });
    expect(json.statusCode).toBe(404);
    for (const url of ['/api/nope', '/docs/nope', '/metrics/x', '/api', '/etc/passwd', '/x']) {
      const answer = await app.inject({ url, headers: { accept: 'text/html' } });
      expect(answer.statusCode, url).toBe(404);
    }
    const traversal = await app.inject({ url: '/../secret.txt', headers: { accept: 'text/html' } });
    expect(traversal.body).not.toBe('no');
    const encoded = await app.inject({ url: '/%2e%2e/secret.txt' });
    expect(encoded.body).not.toBe('no');
  });

  it("answers every page of the dashboard's router, and only those", () => {
    const routes = readFileSync(join(packageRoot(), 'web', 'src', 'app', 'routes.tsx'), 'utf8');
    const paths = [...routes.matchAll(/path: '([^']+)'/g)].map((match) => match[1] ?? '');
    expect(paths.length).toBeGreaterThanOrEqual(DASHBOARD_PAGE_ROOTS.length + 1);
    for (const path of paths) expect(isDashboardPagePath(path), path).toBe(true);
    for (const root of DASHBOARD_PAGE_ROOTS) {
      expect(
        paths.some((path) => path.startsWith(`/${root}`)),
        root,
      ).toBe(true);
    }
    expect(isDashboardPagePath('/etc/passwd')).toBe(false);
  });
});
