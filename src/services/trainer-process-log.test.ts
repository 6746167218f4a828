import { describe, expect, it } from 'vitest';
import {
  MAX_TRAINING_LOG_CHARS,
  describeTrainerDevice,
  trainerDeviceOf,
  trainerDeviceParams,
  trainerProcessLog,
  type TrainerDevice,
  type TrainerEpochProgress,
} from './trainer-process-log.js';

describe('trainerProcessLog', () => {
  it('keeps every event (start included) and stderr line, and reads the device from start', () => {
    let clock = 1_000;
    const epochs: TrainerEpochProgress[] = [];
    const starts: (TrainerDevice | null)[] = [];
    const log = trainerProcessLog({
      epochs: 4,
      now: () => clock,
      onEpoch: (progress) => epochs.push(progress),
      onStart: (device) => starts.push(device),
    });
    log.onLog('[visionloop-trainer] loading 8 train + 4 val images at 128');
    const start = { event: 'start', epochs: 4, device: 'cuda:0', device_name: 'NVIDIA L4' };
    log.onEvent(start);
    expect(starts).toEqual([{ device: 'cuda:0', name: 'NVIDIA L4' }]);
    clock += 30_000; // 30 s for the first epoch: 90 s left for the other three
    log.onEvent({ event: 'epoch', epoch: 1, epochs: 4, loss: 3.5, elapsed_s: 30 });
    clock += 10_000;
    log.onEvent({ event: 'epoch', epoch: 2, epochs: 4, loss: 3.1, val_map50: 0.25, elapsed_s: 40 });
    expect(epochs).toEqual([
      { epoch: 1, epochs: 4, loss: 3.5, valMap50: null, etaSeconds: 90 },
      { epoch: 2, epochs: 4, loss: 3.1, valMap50: 0.25, etaSeconds: 40 },
    ]);
    expect(log.device()).toEqual({ device: 'cuda:0', name: 'NVIDIA L4' });
    const lines = log.text().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('[visionloop-trainer] loading 8 train + 4 val images at 128');
    expect(JSON.parse(lines[1]!)).toEqual(start);
  });

  it("takes the epoch count asked for when an epoch event leaves it out, and the done event's device", () => {
    const epochs: TrainerEpochProgress[] = [];
    const log = trainerProcessLog({ epochs: 10, now: () => 0, onEpoch: (p) => epochs.push(p) });
    log.onEvent({ event: 'start' }); // a configured trainer may not say
    expect(log.device()).toBeNull();
    log.onEvent({ event: 'epoch', epoch: 3, loss: Number.NaN });
    expect(epochs).toEqual([{ epoch: 3, epochs: 10, loss: null, valMap50: null, etaSeconds: 0 }]);
    log.onEvent({ event: 'done', model: 'm.onnx', device: 'cpu', device_name: null });
    expect(log.device()).toEqual({ device: 'cpu', name: null });
  });

  it(`stops keeping lines past ${MAX_TRAINING_LOG_CHARS} characters`, () => {
    const log = trainerProcessLog({ epochs: 1, onEpoch: () => undefined });
    const line = 'x'.repeat(99_999); // 100 000 characters with its newline
    for (let i = 0; i < 15; i++) log.onLog(line);
    // Lines are kept while the total is at most the cap: the 11th crosses it, then none.
    expect(log.text().split('\n')).toHaveLength(11);
  });
});

describe('trainer device fields', () => {
  it('reads, describes and records them', () => {
    expect(trainerDeviceOf({ event: 'start', device: 'cpu', device_name: null })).toEqual({
      device: 'cpu',
      name: null,
    });
    expect(trainerDeviceOf({ event: 'start', device: '' })).toBeNull();
    expect(trainerDeviceOf({ event: 'start', device: 3 })).toBeNull();
    expect(describeTrainerDevice({ device: 'cpu', name: null })).toBe('cpu');
    expect(describeTrainerDevice({ device: 'cuda:1', name: 'NVIDIA A100-SXM4-40GB' })).toBe(
      'cuda:1 (NVIDIA A100-SXM4-40GB)',
    );
    expect(trainerDeviceParams(null)).toEqual({ device: null, deviceName: null });
    expect(trainerDeviceParams({ device: 'cuda:0', name: 'NVIDIA L4' })).toEqual({
      device: 'cuda:0',
      deviceName: 'NVIDIA L4',
    });
  });
});
