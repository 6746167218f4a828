import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  builtInTrainerCommand,
  findPythonAsync,
  parseTrainerCommand,
  trainerArgs,
  trainerThreads,
} from './trainer-process.js';

describe('trainerThreads', () => {
  it('leaves a core to inspection on a small machine, and keeps an explicit setting', () => {
    expect(trainerThreads(0, 1)).toBe(1);
    expect(trainerThreads(0, 2)).toBe(1);
    expect(trainerThreads(0, 4)).toBe(3);
    expect(trainerThreads(0, 16)).toBe(4);
    expect(trainerThreads(undefined, 2)).toBe(1);
    expect(trainerThreads(3, 2)).toBe(3);
  });

  it('passes the resolved thread count to the trainer', () => {
    const args = trainerArgs({ data: 'd', out: 'o', threads: 5, lr: 0.002 });
    expect(args.slice(args.indexOf('--threads'), args.indexOf('--threads') + 2)).toEqual([
      '--threads',
      '5',
    ]);
    expect(args).toContain('--lr');
    expect(trainerArgs({ data: 'd', out: 'o', threads: 0 })).toContain('--threads');
  });
});

describe('trainer commands', () => {
  it('splits a configured command on whitespace and appends the contract arguments', () => {
    const command = parseTrainerCommand('  /opt/yolo-trainer.py   --gpu 0 ');
    expect(command).toEqual({
      program: '/opt/yolo-trainer.py',
      args: ['--gpu', '0'],
      builtIn: false,
    });
    expect(trainerArgs({ data: 'd', out: 'o', epochs: 3 }, command.args)).toEqual([
      '--gpu',
      '0',
      'train',
      '--data',
      'd',
      '--out',
      'o',
      '--epochs',
      '3',
    ]);
    expect(() => parseTrainerCommand('   ')).toThrow('the trainer command is empty');
  });

  it('runs the built-in trainer as a Python module', () => {
    const command = builtInTrainerCommand('/usr/bin/python3');
    expect(trainerArgs({ data: 'd', out: 'o' }, command.args).slice(0, 3)).toEqual([
      '-m',
      'visionloop_trainer',
      'train',
    ]);
  });
});

describe('findPythonAsync', () => {
  it('probes the interpreter without blocking the event loop and returns the preferred one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vl-python-'));
    try {
      // A stand-in interpreter whose "import torch" takes 0.6 s and succeeds.
      const slow = join(dir, 'python-slow');
      await writeFile(slow, '#!/bin/sh\nsleep 0.6\nexit 0\n');
      await chmod(slow, 0o755);
      let ticks = 0;
      const timer = setInterval(() => (ticks += 1), 20);
      const found = await findPythonAsync(slow);
      clearInterval(timer);
      expect(found).toBe(slow);
      // The timers kept firing while the probe ran (spawnSync would have frozen them at 0).
      expect(ticks).toBeGreaterThan(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
