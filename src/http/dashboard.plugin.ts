/**
 * Serves the dashboard (web/'s Vite build, `web/dist`) at `/`, with an SPA fallback: any GET
 * outside `/api`, `/docs` and `/metrics` that is not a built file and accepts text/html gets
 * `index.html`, so a reload on `/models` or a shared link works. Hashed assets
 * (`/assets/*-<hash>.js`) are cached for a year as immutable; `index.html` is `no-cache`, so a
 * new build shows on the next load. Files go brotli- or gzip-compressed when the build holds
 * a `.br`/`.gz` copy and the browser accepts it (nothing is compressed per request).
 *
 * When web/dist has no index.html the dashboard answers 503 with how to build it
 * (`npm run build:web`); the API is unaffected. web/dist is found from the package root (the
 * directory holding package.json above this module), never from the working directory.
 * It never serves anything outside web/dist.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isDashboardPagePath } from '../shared/dashboard.js';

/** Paths the dashboard never answers: the API, the OpenAPI UI and Prometheus' text. */
const NOT_DASHBOARD = /^\/(api|docs|metrics)(\/|$|\?)/;

/** The package root: the nearest directory above this module that holds package.json. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

/** Where the dashboard's build lives: `<package root>/web/dist`. */
export function defaultDashboardDir(): string {
  return join(packageRoot(), 'web', 'dist');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept === '' || accept.includes('text/html') || accept.includes('*/*');
}

const NOT_BUILT_MESSAGE =
  'the dashboard is not built: run `npm run build:web` (or `npm start`, which builds it), ' +
  'then reload';

function notBuilt(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  void reply.code(503).header('cache-control', 'no-store');
  if ((request.headers.accept ?? '').includes('text/html')) {
    return reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><meta charset="utf-8"><title>VisionLoop: dashboard not built</title>' +
          '<body style="font-family:system-ui;margin:3rem;max-width:40rem">' +
          '<h1>The dashboard is not built</h1>' +
          '<p>Run <code>npm run build:web</code> in the VisionLoop directory (or ' +
          '<code>npm start</code>, which builds it), then reload this page.</p>' +
          '<p>The API is up: <a href="/docs">/docs</a>.</p></body>',
      );
  }
  return reply.send({ error: { code: 'DASHBOARD_NOT_BUILT', message: NOT_BUILT_MESSAGE } });
}

export interface DashboardOptions {
  /** The directory holding the build (index.html, assets/). Default: defaultDashboardDir(). */
  distDir?: string;
}

/** The dashboard's static files and SPA fallback. Public: the files hold no data. */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const root = resolve(options.distDir ?? defaultDashboardDir());
  // serve: false — only the reply.sendFile decorator; this plugin decides what is served.
  // preCompressed: the build's .br/.gz copies go to browsers that accept them (web/vite.config.ts).
  await app.register(fastifyStatic, { root, serve: false, preCompressed: true });

  app.get(
    '/*',
    { config: { access: { public: true } }, schema: { hide: true } },
    (request, reply) => {
      let path: string;
      try {
        path = decodeURIComponent(request.url.split('?')[0] ?? '/');
      } catch {
        return reply.callNotFound();
      }
      if (NOT_DASHBOARD.test(path)) return reply.callNotFound();
      if (!isFile(join(root, 'index.html'))) return notBuilt(request, reply);
      const relative = normalize(path).replace(/^([/\\])+/, '');
      const file = join(root, relative);
      if (relative !== '' && file.startsWith(root + sep) && isFile(file)) {
        const hashed = relative.startsWith(`assets${sep}`) || relative.startsWith('assets/');
        return hashed
          ? reply.sendFile(relative, { maxAge: '365d', immutable: true })
          : reply.sendFile(relative, { maxAge: 0, immutable: false });
      }
      // A missing asset is a 404, not the page: a stale index.html must not get HTML as JS.
      // Nor is a path that is not one of the app's pages (a stray or normalized `..` path).
      if (relative.startsWith('assets') || !acceptsHtml(request) || !isDashboardPagePath(path)) {
        return reply.callNotFound();
      }
      void reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html', { cacheControl: false });
    },
  );
};
