/**
 * scripts/check-cycles.mjs on small real trees: it finds a loop through `import type`, an
 * `export … from` and a dynamic `import()`, names the files, exits 1; it passes a tree without
 * one and ignores the same words inside strings and comments. With several roots
 * (`npm run check:cycles` checks src and web/src) each tree is its own graph, a cycle in either
 * fails the run and is named under its root, and the project's two trees have none (issue 16).
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

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'check-cycles-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, 'src', path)), { recursive: true });
    writeFileSync(join(dir, 'src', path), text);
  }
  return join(dir, 'src');
}

/**
 * Runs the script as `npm run check:cycles` does, on one or more roots and flags (TypeScript
 * loads in each run: seconds).
 */
function run(...args: string[]): { status: number | null; out: string } {
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, out: result.stdout + result.stderr };
}

function cyclesOf(root: string): { status: number | null; cycles: unknown[] } {
  const result = run(root, '--json');
  return {
    status: result.status,
    cycles: (JSON.parse(result.out) as { cycles: unknown[] }).cycles,
  };
}

describe('check-cycles', () => {
  it('finds a loop made of a type import, a re-export and a dynamic import', () => {
    const root = tree({
      'a/app.ts':
        "import type { Options } from '../b/options.js';\nexport const x: Options = {};\n",
      'b/options.ts': "export { helper } from './helper.js';\nexport type Options = object;\n",
      'b/helper.ts': "export const helper = () => import('../a/app.js');\n",
      'c/free.ts': "import { helper } from '../b/options.js';\nexport const y = helper;\n",
    });
    const text = run(root);
    expect(text.status).toBe(1);
    expect(text.out).toContain('1 import cycle(s)');
    expect(text.out).toContain('3 files');
    const result = cyclesOf(root);
    expect(result.status).toBe(1);
    expect(result.cycles).toEqual([
      {
        files: [
          expect.stringMatching(/src\/a\/app\.ts$/),
          expect.stringMatching(/src\/b\/helper\.ts$/),
          expect.stringMatching(/src\/b\/options\.ts$/),
        ],
        example: [
          expect.stringMatching(/a\/app\.ts$/),
          expect.stringMatching(/b\/options\.ts$/),
          expect.stringMatching(/b\/helper\.ts$/),
          expect.stringMatching(/a\/app\.ts$/),
        ],
      },
    ]);
  }, 120_000);

  it('passes a tree whose only "imports" back are in strings and comments', () => {
    const root = tree({
      'a/app.ts': "import { b } from '../b/b.js';\nexport const a = b;\n",
      'b/b.ts':
        "// import { a } from '../a/app.js';\n" +
        "export const b = `import('../a/app.js')` + \"from '../a/app.js'\";\n",
    });
    const result = run(root);
    expect(result.status).toBe(0);
    expect(result.out).toContain('no import cycle in 2 files (1 imports)');
  }, 120_000);
});

describe('check-cycles over several roots', () => {
  it('fails when one of two trees has a cycle, and names that tree only', () => {
    const root = tree({
      'clean/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'clean/b.ts': 'export const b = 1;\n',
      // The web tree's old shape: the page table lazily imports a page that imports it back.
      'web/routes.tsx': "export const ROUTES = [() => import('./pages/Page.js')];\n",
      'web/pages/Page.tsx':
        "import type { ROUTES } from '../routes.js';\nexport type R = typeof ROUTES;\n",
    });
    const result = run(join(root, 'clean'), join(root, 'web'));
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/no import cycle in 2 files \(1 imports\) under .*clean\//);
    expect(result.out).toMatch(/1 import cycle\(s\) in .*web\/ \(2 files, 2 imports\)/);
    expect(result.out).toMatch(/web\/pages\/Page\.tsx, .*web\/routes\.tsx/);

    const json = JSON.parse(run(join(root, 'clean'), join(root, 'web'), '--json').out) as {
      files: number;
      cycles: unknown[];
    }[];
    expect(json.map((graph) => [graph.files, graph.cycles.length])).toEqual([
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
