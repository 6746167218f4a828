/**
 * bin/visionloop, the `visionloop` command: a POSIX sh launcher that puts bin/malloc-env.sh's
 * glibc malloc settings into the environment and execs node on bin/visionloop.js. These tests
 * run it with VISIONLOOP_NODE pointing at a stand-in "node" (a script that execs the real node
 * on a printer) to see exactly what environment, arguments and pid the node process gets; and
 * check that package.json and the container start through it.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/processes.js';

const LAUNCHER = join(ROOT, 'bin', 'visionloop');

interface Printed {
  pid: number;
  argv: string[];
  env: Record<
    'MALLOC_ARENA_MAX' | 'MALLOC_MMAP_THRESHOLD_' | 'VISIONLOOP_MALLOC_ADDED',
    string | null
  >;
}

let dir: string;
let fakeNode: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-launcher-'));
  const printer = join(dir, 'print-env.mjs');
  writeFileSync(
    printer,
    `const pick = (name) => process.env[name] ?? null;
console.log(JSON.stringify({
  pid: process.pid,
  argv: process.argv.slice(2),
  env: {
    MALLOC_ARENA_MAX: pick('MALLOC_ARENA_MAX'),
    MALLOC_MMAP_THRESHOLD_: pick('MALLOC_MMAP_THRESHOLD_'),
    VISIONLOOP_MALLOC_ADDED: pick('VISIONLOOP_MALLOC_ADDED'),
  },
}));
`,
  );
  fakeNode = join(dir, 'fake-node');
  // exec keeps the pid: the printed pid is the launcher's only if every step execs.
  writeFileSync(fakeNode, `#!/bin/sh\nexec '${process.execPath}' '${printer}' "$@"\n`, {
    mode: 0o755,
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `command args` with `env` on top of a copy of this process's env minus MALLOC_*. */
async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; pid: number | undefined; stdout: string; stderr: string }> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('MALLOC_') && !name.startsWith('VISIONLOOP_MALLOC'),
    ),
  );
  const child = spawn(command, args, {
    env: { ...base, VISIONLOOP_NODE: fakeNode, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((done) => child.once('close', done));
  return { code, pid: child.pid, stdout, stderr };
}

async function printed(env: Record<string, string> = {}, args: string[] = []): Promise<Printed> {
  const result = await run(LAUNCHER, args, env);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Printed;
}

describe('bin/visionloop', () => {
  it('starts node with the malloc settings, as one process, passing the arguments on', async () => {
    const result = await run(LAUNCHER, ['server', '--port', '8080', 'two words'], {});
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Printed;
    expect(out.env).toEqual({
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      VISIONLOOP_MALLOC_ADDED: 'MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_',
    });
    expect(out.argv).toEqual([
      join(realpathSync(ROOT), 'bin', 'visionloop.js'),
      'server',
      '--port',
      '8080',
      'two words',
    ]);
    // The node process is the one that was spawned: signals (SIGKILL too) reach node.
    expect(out.pid).toBe(result.pid);
  });

  it('finds bin/visionloop.js through npm-style relative symlinks', async () => {
    // node_modules/.bin/visionloop -> ../visionloop/bin/visionloop, node_modules/visionloop -> ROOT
    const modules = join(dir, 'node_modules');
    mkdirSync(join(modules, '.bin'), { recursive: true });
    symlinkSync(ROOT, join(modules, 'visionloop'));
    symlinkSync('../visionloop/bin/visionloop', join(modules, '.bin', 'visionloop'));
    // and a second hop, as a user's ~/bin link to it would add
    symlinkSync(join(modules, '.bin', 'visionloop'), join(dir, 'vl'));
    const result = await run(join(dir, 'vl'), ['--version'], {});
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Printed;
    expect(out.argv).toEqual([join(realpathSync(ROOT), 'bin', 'visionloop.js'), '--version']);
    expect(out.env.MALLOC_ARENA_MAX).toBe('2');
  });

  it("keeps a user's own values, even an empty one, and fills in only the missing ones", async () => {
    expect((await printed({ MALLOC_ARENA_MAX: '4' })).env).toEqual({
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '131072',
      VISIONLOOP_MALLOC_ADDED: 'MALLOC_MMAP_THRESHOLD_',
    });
    expect((await printed({ MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '' })).env).toEqual({
      MALLOC_ARENA_MAX: '',
      MALLOC_MMAP_THRESHOLD_: '65536',
      VISIONLOOP_MALLOC_ADDED: '',
    });
    // A launcher started by a visionloop process keeps the outer launcher's list.
    expect(
      (
        await printed({
          MALLOC_ARENA_MAX: '2',
          MALLOC_MMAP_THRESHOLD_: '131072',
          VISIONLOOP_MALLOC_ADDED: 'MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_',
        })
      ).env.VISIONLOOP_MALLOC_ADDED,
    ).toBe('MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_');
  });

  it('sets nothing with VISIONLOOP_MALLOC=default and names a bad value', async () => {
    expect((await printed({ VISIONLOOP_MALLOC: 'default' })).env).toEqual({
      MALLOC_ARENA_MAX: null,
      MALLOC_MMAP_THRESHOLD_: null,
      VISIONLOOP_MALLOC_ADDED: null,
    });
    expect((await printed({ VISIONLOOP_MALLOC: 'tuned' })).env.MALLOC_ARENA_MAX).toBe('2');
    const bad = await run(LAUNCHER, ['--version'], { VISIONLOOP_MALLOC: 'off' });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(
      "visionloop: VISIONLOOP_MALLOC must be 'tuned' or 'default', not 'off'\n",
    );
  });

  it('is what package.json and the container run', () => {
    accessSync(LAUNCHER, constants.X_OK);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ visionloop: 'bin/visionloop' });
    expect(pkg.scripts.start).toBe('bin/visionloop up');
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(
      'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/visionloop/bin/visionloop"]',
    );
  });
});
