/**
 * The dashboard's build: React 19 via @vitejs/plugin-react, output in web/dist (served by the
 * server at `/`, see src/http/dashboard.plugin.ts). `npm run build:web` runs it;
 * `npx vite --config web/vite.config.ts` serves it with hot reload, proxying /api to a server
 * on 127.0.0.1:8080 (what `npm start` runs).
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  plugins: [react()],
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
