import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
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

  it('sends the build’s brotli or gzip copy to browsers that accept it, never compressing itself', async () => {
    const dist = tempDir();
    mkdirSync(join(dist, 'assets'));
    const page = '<!doctype html><div id="root"></div>';
    const script = 'console.log("a dashboard chunk");'.repeat(50);
    writeFileSync(join(dist, 'index.html'), page);
    writeFileSync(join(dist, 'index.html.br'), brotliCompressSync(page));
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), script);
    writeFileSync(join(dist, 'assets', 'index-abc123.js.br'), brotliCompressSync(script));
    writeFileSync(join(dist, 'assets', 'index-abc123.js.gz'), gzipSync(script));
    writeFileSync(join(dist, 'assets', 'plain-1.js'), script);
    const app = await appFor(dist);

    const brotli = await app.inject({
      url: '/assets/index-abc123.js',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(brotli.statusCode).toBe(200);
    expect(brotli.headers['content-encoding']).toBe('br');
    expect(brotli.headers['content-type']).toContain('javascript');
    expect(brotli.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(brotliDecompressSync(brotli.rawPayload).toString()).toBe(script);
    const gzip = await app.inject({
      url: '/assets/index-abc123.js',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(script);
    // No copy, or a client that takes none: the file as it is.
    for (const [url, encoding] of [
      ['/assets/plain-1.js', 'gzip, br'],
      ['/assets/index-abc123.js', 'identity'],
    ] as const) {
      const answer = await app.inject({ url, headers: { 'accept-encoding': encoding } });
      expect(answer.headers['content-encoding'], url).toBeUndefined();
      expect(answer.body, url).toBe(script);
    }
    // The page too, still no-cache.
    const html = await app.inject({
      url: '/models',
      headers: { accept: 'text/html', 'accept-encoding': 'br' },
    });
    expect(html.headers['content-encoding']).toBe('br');
    expect(html.headers['cache-control']).toBe('no-cache');
    expect(brotliDecompressSync(html.rawPayload).toString()).toBe(page);
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
    // The page table (web/src/app/paths.ts) that the router and index.html's first load use.
    const routes = readFileSync(join(packageRoot(), 'web', 'src', 'app', 'paths.ts'), 'utf8');
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
