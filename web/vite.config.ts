/**
 * The dashboard's build: React 19 via @vitejs/plugin-react, output in web/dist (served by the
 * server at `/`, see src/http/dashboard.plugin.ts), with brotli and gzip copies of each file. `npm run build:web` runs it;
 * `npx vite --config web/vite.config.ts` serves it with hot reload, proxying /api to a server
 * on 127.0.0.1:8080 (what `npm start` runs).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin, type Rollup } from 'vite';
import { bootScript, type BootRoute } from './src/app/boot.js';
import { PAGES } from './src/app/paths.js';

/**
 * Writes `<file>.br` and `<file>.gz` beside every built .js, .css and .html file, once at build
 * time; the server sends them to browsers that accept them (@fastify/static's `preCompressed`).
 * node:zlib only, no plugin dependency.
 */
function precompress(): Plugin {
  let outDir = '';
  const compressible = /\.(js|css|html)$/;
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return {
    name: 'visionloop-precompress',
    apply: 'build',
    configResolved(config) {
      // Relative to the project root (web/), not to the working directory.
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      for (const file of walk(outDir).filter((path) => compressible.test(path))) {
        const content = readFileSync(file);
        writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

/** Where index.html asks for the start-up script. */
const BOOT_MARKER = '<!-- visionloop:boot -->';

/**
 * The first-load map: for each page of paths.ts, the files its lazy import needs that the
 * entry does not already load (its chunk, the chunks it imports statically, recursively, and
 * their CSS), as absolute URLs under `base`. Without a bundle (dev server) no files: Vite
 * serves modules one by one there.
 */
export function firstLoadRoutes(
  pagesDir: string,
  bundle: Rollup.OutputBundle | undefined,
  base = '/',
): BootRoute[] {
  const chunks = Object.values(bundle ?? {}).filter(
    (item): item is Rollup.OutputChunk => item.type === 'chunk',
  );
  const byFile = new Map(chunks.map((chunk) => [chunk.fileName, chunk]));
  const closure = (roots: readonly Rollup.OutputChunk[]): Rollup.OutputChunk[] => {
    const seen = new Map<string, Rollup.OutputChunk>();
    const stack = [...roots];
    for (let chunk = stack.pop(); chunk !== undefined; chunk = stack.pop()) {
      if (seen.has(chunk.fileName)) continue;
      seen.set(chunk.fileName, chunk);
      for (const file of chunk.imports) {
        const imported = byFile.get(file);
        if (imported !== undefined) stack.push(imported);
      }
    }
    return [...seen.values()];
  };
  const initial = new Set(closure(chunks.filter((chunk) => chunk.isEntry)).map((c) => c.fileName));
  return PAGES.map((page) => {
    if (bundle === undefined) return { path: page.path, files: [], prefetch: page.prefetch ?? [] };
    const moduleId = join(pagesDir, `${page.module}.tsx`);
    const chunk = chunks.find((candidate) => candidate.facadeModuleId === moduleId);
    if (chunk === undefined) {
      throw new Error(`visionloop-boot: no chunk for ${page.path}'s page module ${moduleId}`);
    }
    const needed = closure([chunk]).filter((c) => !initial.has(c.fileName));
    // The page's own chunk first: it is what the browser needs first.
    needed.sort((a, b) => Number(b === chunk) - Number(a === chunk));
    const css = needed.flatMap((c) => [...(c.viteMetadata?.importedCss ?? [])]);
    const files = [...needed.map((c) => c.fileName), ...new Set(css)].map(
      (file) => `${base}${file}`,
    );
    return { path: page.path, files, prefetch: page.prefetch ?? [] };
  });
}

/**
 * Replaces the entry's `<link rel="stylesheet" href="<base>assets/….css">` in index.html by a
 * `<style>` holding that file (the app shell's few KiB): a linked stylesheet blocks the first
 * paint, the start-up script after it and the entry's execution until it has arrived, one more
 * round trip to a server that may be busy ingesting. The file stays in assets/. Without a
 * bundle (dev server) the HTML is unchanged.
 */
export function inlineEntryCss(
  html: string,
  bundle: Rollup.OutputBundle | undefined,
  base = '/',
): string {
  if (bundle === undefined) return html;
  return html.replace(
    /<link rel="stylesheet"(?: crossorigin)? href="([^"]+\.css)">/g,
    (link, href: string) => {
      const asset = Object.values(bundle).find(
        (item): item is Rollup.OutputAsset =>
          item.type === 'asset' && `${base}${item.fileName}` === href,
      );
      if (asset === undefined) return link;
      const css =
        typeof asset.source === 'string'
          ? asset.source
          : Buffer.from(asset.source).toString('utf8');
      // `</style` inside the CSS would end the element early; CSS has no reason to hold it.
      if (/<\/style/i.test(css)) return link;
      // The link stays, disabled (not fetched, not applied): Vite's loader of lazy chunks
      // looks for `link[rel=stylesheet]` with the CSS's URL before adding one, and a second
      // copy of these rules after the pages' own CSS would override them.
      return `<style>${css}</style>\n    <link rel="stylesheet" href="${href}" disabled>`;
    },
  );
}

/**
 * Writes app/boot.ts's start-up script into index.html at BOOT_MARKER, with the first-load
 * map of the bundle just built (docs/dashboard.md#speed).
 */
function bootPreload(): Plugin {
  let pagesDir = '';
  let base = '/';
  return {
    name: 'visionloop-boot',
    configResolved(config) {
      pagesDir = join(config.root, 'src', 'pages');
      base = config.base;
    },
    transformIndexHtml: {
      order: 'post',
      handler(html, context) {
        if (!html.includes(BOOT_MARKER)) {
          throw new Error(`visionloop-boot: index.html has no ${BOOT_MARKER}`);
        }
        const routes = firstLoadRoutes(pagesDir, context.bundle, base);
        return inlineEntryCss(html, context.bundle, base).replace(
          BOOT_MARKER,
          () => `<script>${bootScript(routes)}</script>`,
        );
      },
    },
  };
}

/**
 * The chunk the pages share: the API contracts (src/shared), components and hooks the lazy
 * pages use, one file instead of a dozen small ones (each a request on a server busy ingesting).
 * Modules the entry already loads stay in the entry, and uPlot's wrapper stays lazy (only the
 * charts load it). Pages stay one chunk each.
 */
const SHARED_CHUNK = /[\\/](src[\\/]shared|web[\\/]src[\\/](components|lib))[\\/]/;
const ENTRY_ONLY = /[\\/]web[\\/](src[\\/]main\.tsx|index\.html)$/;
const LAZY_ONLY = /[\\/](UPlotChart|Histogram)\.tsx$|[\\/]node_modules[\\/]/;

/** `name` for rolldown's code-splitting group: 'shared' for the modules above, else null. */
function sharedChunkName() {
  const initial = new Map<string, boolean>();
  /** True when the entry reaches `id` by static imports (it is in the entry's chunks). */
  const isInitial = (
    id: string,
    info: (id: string) => Rollup.ModuleInfo | null,
    seen = new Set<string>(),
  ): boolean => {
    const known = initial.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return false;
    seen.add(id);
    const module = info(id);
    const result =
      module !== null &&
      (module.isEntry || module.importers.some((importer) => isInitial(importer, info, seen)));
    if (seen.size === 1 || result) initial.set(id, result);
    return result;
  };
  return (id: string, context: { getModuleInfo: (id: string) => Rollup.ModuleInfo | null }) =>
    SHARED_CHUNK.test(id) && !LAZY_ONLY.test(id) && !isInitial(id, (m) => context.getModuleInfo(m))
      ? 'shared'
      : null;
}

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  plugins: [react(), bootPreload(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One stylesheet for the whole app (~25 KiB, ~6 KiB compressed), written into index.html
    // (inlineEntryCss): a lazy page then waits for no CSS file of its own, which on a server
    // busy ingesting arrived last (measured: a 1.6 KiB page stylesheet answered ~1 s after
    // the page's JavaScript, and the page could not mount before it).
    cssCodeSplit: false,
    rolldownOptions: {
      output: {
        codeSplitting: {
          // Only the matched modules, not their dependencies: the shared chunk must not pull
          // the entry's modules (zod, the API client) away from it.
          includeDependenciesRecursively: false,
          groups: [
            // Everything the entry loads but main.tsx itself: React, zod, the contracts and
            // the client the entry needs, the app shell. The lazy chunks import from it; the
            // entry is main.tsx's few lines plus this one file, which Vite modulepreloads from
            // index.html. (Without this group the bundler splits what the entry and the shared
            // chunk have in common into a chunk or two of its own, named after whichever
            // module comes first.)
            { name: 'core', test: (id) => !ENTRY_ONLY.test(id), tags: ['$initial'] },
            { name: sharedChunkName(), debugName: 'shared' },
          ],
        },
      },
    },
  },
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:8080' } },
  },
});
