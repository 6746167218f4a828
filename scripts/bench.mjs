#!/usr/bin/env node
// Runs every bench/*.bench.ts (or those named on the command line) one after another and
// prints one JSON line per benchmark, then writes them all to bench/results/latest.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wanted = process.argv.slice(2);
const benches = readdirSync(join(root, 'bench'))
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => wanted.length === 0 || wanted.some((w) => name.startsWith(w)))
  .sort();
const results = [];
for (const name of benches) {
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', join('bench', name)], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = run.stdout.trim().split('\n').filter(Boolean).pop() ?? '';
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    result = {
      bench: name,
      error: `exit ${run.status}; no JSON on stdout`,
      output: run.stdout.slice(-500),
    };
  }
  result.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
  results.push(result);
  console.log(JSON.stringify(result));
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(root, 'bench', 'results', 'latest.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);
