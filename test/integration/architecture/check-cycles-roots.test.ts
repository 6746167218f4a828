/**
 * scripts/check-cycles.mjs with several roots (`npm run check:cycles` checks src and web/src):
 * each tree is its own graph, a cycle in either fails the run and is named under its root, and
 * the project's two trees have none (issue 16).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../../scripts/check-cycles.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, out: result.stdout + result.stderr };
}

describe('check-cycles over several roots', () => {
  it('fails when one of two trees has a cycle, and names that tree only', () => {
    dir = mkdtempSync(join(tmpdir(), 'check-cycles-roots-'));
    const files: Record<string, string> = {
      'clean/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'clean/b.ts': 'export const b = 1;\n',
      // The web tree's old shape: the page table lazily imports a page that imports it back.
      'web/routes.tsx': "export const ROUTES = [() => import('./pages/Page.js')];\n",
      'web/pages/Page.tsx':
        "import type { ROUTES } from '../routes.js';\nexport type R = typeof ROUTES;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const result = run(join(dir, 'clean'), join(dir, 'web'));
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/no import cycle in 2 files \(1 imports\) under .*clean\//);
    expect(result.out).toMatch(/1 import cycle\(s\) in .*web\/ \(2 files, 2 imports\)/);
    expect(result.out).toMatch(/web\/pages\/Page\.tsx, .*web\/routes\.tsx/);

    const json = JSON.parse(run(join(dir, 'clean'), join(dir, 'web'), '--json').out) as {
      files: number;
      cycles: unknown[];
    }[];
    expect(json.map((tree) => [tree.files, tree.cycles.length])).toEqual([
      [2, 0],
      [2, 1],
    ]);
  }, 120_000);

  it('finds no cycle in src/ and web/src/', () => {
    const result = run('src', 'web/src');
    expect(result.out).toMatch(/no import cycle in \d+ files \(\d+ imports\) under src\//);
    expect(result.out).toMatch(/no import cycle in \d+ files \(\d+ imports\) under web\/src\//);
    expect(result.status).toBe(0);
  }, 120_000);
});
