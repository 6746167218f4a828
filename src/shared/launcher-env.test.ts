import { describe, expect, it } from 'vitest';
import { withoutLauncherMalloc } from './launcher-env.js';

describe('withoutLauncherMalloc', () => {
  it('drops what the launcher added and keeps what the user set', () => {
    const env = {
      PATH: '/usr/bin',
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '131072',
      VISIONLOOP_MALLOC_ADDED: 'MALLOC_MMAP_THRESHOLD_',
    };
    expect(withoutLauncherMalloc(env)).toEqual({ PATH: '/usr/bin', MALLOC_ARENA_MAX: '4' });
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe('131072');
  });

  it('drops both when the launcher set both, and only MALLOC_* names', () => {
    expect(
      withoutLauncherMalloc({
        MALLOC_ARENA_MAX: '2',
        MALLOC_MMAP_THRESHOLD_: '131072',
        HOME: '/root',
        VISIONLOOP_MALLOC_ADDED: 'MALLOC_ARENA_MAX HOME MALLOC_MMAP_THRESHOLD_',
      }),
    ).toEqual({ HOME: '/root' });
  });

  it('leaves an environment the launcher did not touch as it is', () => {
    expect(withoutLauncherMalloc({ MALLOC_ARENA_MAX: '8', PATH: '/bin' })).toEqual({
      MALLOC_ARENA_MAX: '8',
      PATH: '/bin',
    });
  });
});
