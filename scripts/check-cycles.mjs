#!/usr/bin/env node
/**
 * Import-cycle check for src/ and web/src/ (issue 16; part of `npm run check` as `check:cycles`).
 *
 * Reads every src/**\/*.ts(x) file (tests included: a test that imports a module that imports the
 * test's own module back is a cycle as well), collects the module specifiers of `import … from`,
 * side-effect `import '…'`, `export … from` and dynamic `import('…')`, resolves the relative ones
 * (`./x.js` → `./x.ts` or `.tsx`, a directory → its index.ts) and finds the strongly connected components
 * of the graph with Tarjan's algorithm. Any component with more than one file (or a file that
 * imports itself) is a cycle: they are printed, one per block, and the exit code is 1.
 *
 * `import type` edges count too, on purpose: a type-only loop still means two modules that can
 * only be understood together, and the layer rules (docs/architecture-rules.md) forbid the
 * upward half of it anyway. Bare specifiers (packages, `node:` builtins) are ignored.
 * No new dependency: the specifiers come from `ts.preProcessFile` of the TypeScript compiler
 * the project already builds with (a regex would also match `from '…'` inside strings).
 *
 * Usage: node scripts/check-cycles.mjs [root…=src] [--json]   (`npm run check:cycles` checks
 * src and web/src; each root is its own graph)
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const named = args.filter((a) => !a.startsWith('--'));
const roots = (named.length === 0 ? ['src'] : named).map((root) => resolve(root));

/** @param {string} dir @returns {string[]} */
function listTs(dir) {
  /** @type {string[]} */
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/**
 * The module specifiers a file imports: TypeScript's own pre-processor (the scanner `tsc` uses
 * to find a program's files), so strings, comments and template literals are read as the
 * compiler reads them. It reports `import`/`import type`/`export … from`, side-effect imports
 * and dynamic `import('…')`.
 * @param {string} source @returns {string[]}
 */
export function specifiersOf(source) {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return [...new Set(importedFiles.map((file) => file.fileName))];
}

/** @param {string} fromFile @param {string} specifier @returns {string | null} */
function resolveSpecifier(fromFile, specifier) {
  if (!specifier.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.js$/, '.tsx'),
    base,
    `${base}.ts`,
    `${base}.tsx`,
    join(base, 'index.ts'),
  ];
  for (const candidate of candidates) {
    if (/\.tsx?$/.test(candidate) && existsSync(candidate) && statSync(candidate).isFile()) {
      return candidate;
    }
  }
  return null;
}

/** Tarjan's strongly connected components (iterative, so deep graphs cannot overflow). */
function stronglyConnected(graph) {
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  for (const start of graph.keys()) {
    if (indexOf.has(start)) continue;
    const work = [{ node: start, edges: [...graph.get(start)], next: 0 }];
    indexOf.set(start, index);
    low.set(start, index);
    index++;
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (frame.next < frame.edges.length) {
        const target = frame.edges[frame.next++];
        if (!indexOf.has(target)) {
          indexOf.set(target, index);
          low.set(target, index);
          index++;
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, edges: [...(graph.get(target) ?? [])], next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node), indexOf.get(target)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent), low.get(frame.node)));
      }
      if (low.get(frame.node) === indexOf.get(frame.node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** One concrete loop inside a component (BFS from its first file back to itself), for reading. */
function exampleLoop(graph, component) {
  const members = new Set(component);
  const start = [...component].sort()[0];
  const previous = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const target of graph.get(node) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]));
        return [...path, start];
      }
      if (!previous.has(target)) {
        previous.set(target, node);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

/**
 * The cycles among the files under `root` (imports leaving `root` are not followed: each tree
 * is checked on its own).
 */
function cyclesUnder(root) {
  const files = listTs(root);
  /** @type {Map<string, Set<string>>} */
  const graph = new Map();
  for (const file of files) {
    const targets = new Set();
    for (const specifier of specifiersOf(readFileSync(file, 'utf8'))) {
      const target = resolveSpecifier(file, specifier);
      if (target && target.startsWith(root)) targets.add(target);
    }
    graph.set(file, targets);
  }
  const cycles = stronglyConnected(graph)
    .filter((c) => c.length > 1 || graph.get(c[0])?.has(c[0]))
    .map((c) => ({
      files: c.map((f) => relative(process.cwd(), f)).sort(),
      example: exampleLoop(graph, c).map((f) => relative(process.cwd(), f)),
    }))
    .sort((a, b) => b.files.length - a.files.length);
  const edges = [...graph.values()].reduce((n, s) => n + s.size, 0);
  return { root: relative(process.cwd(), root) || '.', files: files.length, edges, cycles };
}

const results = roots.map(cyclesUnder);
if (asJson) {
  // One root: the object as before; several: an array of them.
  console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
} else {
  for (const { root, files, edges, cycles } of results) {
    if (cycles.length === 0) {
      console.log(
        `check-cycles: no import cycle in ${files} files (${edges} imports) under ${root}/`,
      );
      continue;
    }
    console.error(
      `check-cycles: ${cycles.length} import cycle(s) in ${root}/ (${files} files, ${edges} imports):`,
    );
    for (const [i, cycle] of cycles.entries()) {
      console.error(`\n${i + 1}. ${cycle.files.length} files: ${cycle.files.join(', ')}`);
      console.error(`   e.g. ${cycle.example.join(' → ')}`);
    }
  }
}
process.exitCode = results.some((result) => result.cycles.length > 0) ? 1 : 0;
