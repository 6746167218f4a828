import { describe, expect, it } from 'vitest';
import {
  builtInTrainerCommand,
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
