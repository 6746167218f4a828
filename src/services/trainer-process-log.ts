/**
 * What a training job keeps of one trainer process (retraining-run.ts for the detector,
 * retraining-stage-run.ts for the chain's stages), and the port both run it through
 * (`TrainerPort`): the training log stored with the registered
 * model (stderr lines and every JSON event, capped at MAX_TRAINING_LOG_CHARS), the device the
 * trainer says it trained on (`device` / `device_name` of its `start` or `done` event,
 * DESIGN.md §4), and each `epoch` event as progress numbers (epoch, loss, val mAP@0.5, ETA).
 *
 * It reports nothing itself: callers turn the numbers into their job's progress. It never
 * throws on what a trainer prints — a configured trainer may leave fields out.
 */
import type {
  TrainRequest,
  TrainerDoneEvent,
  TrainerEvent,
} from '../repositories/trainer-process.js';

/**
 * Runs the trainer process (src/repositories/trainer-process.ts behind it), for the detector's
 * training and the chain's stages alike.
 */
export interface TrainerPort {
  train(
    request: TrainRequest,
    options: {
      onEvent: (event: TrainerEvent) => void;
      onLog: (line: string) => void;
      signal: AbortSignal;
    },
  ): Promise<TrainerDoneEvent>;
}

/** The most training-log text kept with a model. */
export const MAX_TRAINING_LOG_CHARS = 1_000_000;

/** The device a trainer reported: `cpu`, `cuda:0`…, and the GPU's name on CUDA. */
export interface TrainerDevice {
  device: string;
  /** `torch.cuda.get_device_name` on CUDA; null on the CPU or when the trainer gave none. */
  name: string | null;
}

/** One `epoch` event as the job's progress reads it. */
export interface TrainerEpochProgress {
  epoch: number;
  epochs: number;
  loss: number | null;
  /** Null on epochs that did not validate. */
  valMap50: number | null;
  /** Seconds left at the pace so far. */
  etaSeconds: number;
}

export interface TrainerProcessLog {
  /** The trainer port's `onLog` (stderr lines); detached use is fine. */
  readonly onLog: (line: string) => void;
  /** The trainer port's `onEvent`; detached use is fine. */
  readonly onEvent: (event: TrainerEvent) => void;
  /** The log as stored with the model: one line per stderr line or event. */
  readonly text: () => string;
  /** What the trainer reported (null until its `start`, or when it never says). */
  readonly device: () => TrainerDevice | null;
}

/** The device fields of a trainer event, when it has them. */
export function trainerDeviceOf(event: TrainerEvent): TrainerDevice | null {
  const device = event.device;
  if (typeof device !== 'string' || device.trim() === '') return null;
  const name = event.device_name;
  return { device, name: typeof name === 'string' && name.trim() !== '' ? name : null };
}

/** `cpu`, or `cuda:0 (NVIDIA A100-SXM4-40GB)`: the device as people read it. */
export function describeTrainerDevice(device: TrainerDevice): string {
  return device.name === null ? device.device : `${device.device} (${device.name})`;
}

/** The lineage fields a registered model records about its device (null: not reported). */
export function trainerDeviceParams(device: TrainerDevice | null): {
  device: string | null;
  deviceName: string | null;
} {
  return { device: device?.device ?? null, deviceName: device?.name ?? null };
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * A collector for one trainer run. `epochs` is what the job asked for (an epoch event's own
 * `epochs` wins); `onStart` sees the device once the trainer reports it; `now` is the clock the
 * ETA is measured with (ms).
 */
export function trainerProcessLog(options: {
  epochs: number;
  onEpoch: (progress: TrainerEpochProgress) => void;
  onStart?: (device: TrainerDevice | null) => void;
  now?: () => number;
}): TrainerProcessLog {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const lines: string[] = [];
  let chars = 0;
  let device: TrainerDevice | null = null;
  const keep = (line: string): void => {
    if (chars > MAX_TRAINING_LOG_CHARS) return;
    lines.push(line);
    chars += line.length + 1;
  };
  return {
    onLog: keep,
    onEvent: (event) => {
      // Every event, `start` included: it names the device and the run's set-up.
      keep(JSON.stringify(event));
      if (event.event === 'start' || event.event === 'done') {
        device = trainerDeviceOf(event) ?? device;
        if (event.event === 'start') options.onStart?.(device);
        return;
      }
      if (event.event !== 'epoch') return;
      const epoch = Number(event.epoch);
      const epochs = Number(event.epochs) || options.epochs;
      const elapsed = (now() - startedAt) / 1000;
      options.onEpoch({
        epoch,
        epochs,
        loss: numberOrNull(event.loss),
        valMap50: numberOrNull(event.val_map50),
        etaSeconds: Math.max(0, Math.round((elapsed / Math.max(1, epoch)) * (epochs - epoch))),
      });
    },
    text: () => lines.join('\n'),
    device: () => device,
  };
}
