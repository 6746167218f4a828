#!/usr/bin/env node
// The compiled CLI's entry. The `visionloop` command is bin/visionloop, which sets glibc's malloc
// settings (bin/malloc-env.sh) and execs node on this file; running it directly skips them.
// `npm start` / `npm test` build dist/ first; after a fresh clone run `npm run build` (or either
// of those) before calling this directly.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('visionloop is not built yet: run `npm run build` (or `npm start`) first.');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
