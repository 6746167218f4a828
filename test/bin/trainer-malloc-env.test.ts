/**
 * The trainer's Python process does not inherit the malloc settings bin/visionloop added
 * (bin/malloc-env.sh): with the fixed mmap threshold PyTorch spends about twice the CPU time
 * per training step. A user's own values still reach it. Runs `runTrainer` with a configured
 * trainer command (a sh script) that reports the variables it was started with.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runTrainer, type TrainerCommand } from '../../src/repositories/trainer-process.js';

const NAMES = ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'VISIONLOOP_MALLOC_ADDED'] as const;
const saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));

let dir: string;
let command: TrainerCommand;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-trainer-env-'));
  const program = join(dir, 'trainer.sh');
  // Contract: `train --data D --out O …`; writes O/model.onnx and prints a done event.
  writeFileSync(
    program,
    `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
mkdir -p "$out" && : > "$out/model.onnx"
printf '{"event":"done","metrics":{},"arena":"%s","mmap":"%s","added":"%s"}\\n' \\
  "\${MALLOC_ARENA_MAX-unset}" "\${MALLOC_MMAP_THRESHOLD_-unset}" "\${VISIONLOOP_MALLOC_ADDED-unset}"
`,
  );
  chmodSync(program, 0o755);
  command = { program, args: [], builtIn: false };
});

afterEach(() => {
  for (const name of NAMES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

type TrainerEnv = Partial<Record<(typeof NAMES)[number], string>>;

/** Starts the trainer with exactly `env` of NAMES set; what it saw (`unset` for none). */
async function trainerEnv(env: TrainerEnv) {
  for (const name of NAMES) delete process.env[name];
  Object.assign(process.env, env);
  const done = await runTrainer(command, { data: join(dir, 'data'), out: join(dir, 'out') });
  return { arena: done.arena, mmap: done.mmap, added: done.added };
}

const CASES: { name: string; env: TrainerEnv; seen: Awaited<ReturnType<typeof trainerEnv>> }[] = [
  {
    name: 'leaves out the malloc settings the launcher added',
    env: {
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      VISIONLOOP_MALLOC_ADDED: 'MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_',
    },
    seen: { arena: 'unset', mmap: 'unset', added: 'unset' },
  },
  {
    name: "keeps the user's own arena limit beside a threshold the launcher added",
    env: {
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '131072',
      VISIONLOOP_MALLOC_ADDED: 'MALLOC_MMAP_THRESHOLD_',
    },
    seen: { arena: '4', mmap: 'unset', added: 'unset' },
  },
  {
    name: "keeps the user's own threshold when the launcher added nothing",
    env: { MALLOC_MMAP_THRESHOLD_: '65536' },
    seen: { arena: 'unset', mmap: '65536', added: 'unset' },
  },
];

describe('the trainer process environment', () => {
  it.each(CASES)('$name', async ({ env, seen }) => {
    expect(await trainerEnv(env)).toEqual(seen);
  });
});
