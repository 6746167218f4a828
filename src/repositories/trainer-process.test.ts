import { describe, expect, it } from 'vitest';
import { trainerArgs, trainerThreads } from './trainer-process.js';

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
