/**
 * The dashboard's build: React 19 via @vitejs/plugin-react, output in web/dist (served by the
 * server at `/`, see src/http/dashboard.plugin.ts), with brotli and gzip copies of each file. `npm run build:web` runs it;
 * `npx vite --config web/vite.config.ts` serves it with hot reload, proxying /api to a server
 * on 127.0.0.1:8080 (what `npm start` runs).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

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
      outDir = config.build.outDir;
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

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  plugins: [react(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:8080' } },
  },
});
