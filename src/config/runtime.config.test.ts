import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from './runtime.config.js';

describe('loadRuntimeConfig: VISIONLOOP_TRAINER_DEVICE', () => {
  it('is unset by default (the trainer then picks auto)', () => {
    expect(loadRuntimeConfig({}).VISIONLOOP_TRAINER_DEVICE).toBeUndefined();
    expect(loadRuntimeConfig({ VISIONLOOP_TRAINER_DEVICE: '' }).VISIONLOOP_TRAINER_DEVICE).toBe(
      undefined,
    );
  });

  it('takes auto, cpu, cuda and cuda:N, trimmed and lower-cased', () => {
    const device = (value: string) =>
      loadRuntimeConfig({ VISIONLOOP_TRAINER_DEVICE: value }).VISIONLOOP_TRAINER_DEVICE;
    expect(device('auto')).toBe('auto');
    expect(device(' CPU ')).toBe('cpu');
    expect(device('cuda')).toBe('cuda');
    expect(device('cuda:1')).toBe('cuda:1');
  });

  it('refuses anything else, naming the variable and the choices', () => {
    for (const value of ['gpu', 'cuda:', 'cuda:x', 'cuda1', 'mps']) {
      expect(() => loadRuntimeConfig({ VISIONLOOP_TRAINER_DEVICE: value })).toThrow(
        'VISIONLOOP_TRAINER_DEVICE: auto, cpu, cuda or cuda:N (N = 0, 1, …)',
      );
    }
  });
});
