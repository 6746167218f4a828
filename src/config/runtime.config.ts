/**
 * Configuration shared by every VisionLoop process that runs models or sources: where data
 * lives, which Python and ffmpeg to use, and ONNX Runtime threading. Command-line flags
 * override these; these override the defaults.
 */
import { z } from 'zod';
import { envBoolean, parseEnv } from './parse-env.js';

const runtimeEnvSchema = z.object({
  /** Root of local state (databases, blobs, outboxes). */
  VISIONLOOP_DATA_DIR: z.string().min(1).default('./data'),
  /** Python interpreter for the trainer; must be able to `import torch`. */
  VISIONLOOP_PYTHON: z.string().min(1).optional(),
  /**
   * The training job's trainer command (bring your own trainer, docs/retraining.md): split on
   * whitespace, run with `train --data DIR --out DIR …` appended; it must honour the trainer
   * process contract (DESIGN.md §4). Unset: the built-in PyTorch trainer on VISIONLOOP_PYTHON.
   */
  VISIONLOOP_TRAINER_COMMAND: z.string().trim().min(1).optional(),
  /**
   * The device the built-in trainer trains on: `auto` (CUDA when PyTorch sees a GPU, else the
   * CPU), `cpu`, `cuda` or `cuda:N`. Read by the trainer process itself (it inherits the
   * environment; its `--device` default); validated here so a typo stops the worker at start,
   * not its first training. Unset: auto.
   */
  VISIONLOOP_TRAINER_DEVICE: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(auto|cpu|cuda(:\d{1,3})?)$/, 'auto, cpu, cuda or cuda:N (N = 0, 1, …)')
    .optional(),
  /** ffmpeg binary for video, RTSP and V4L2 sources. */
  VISIONLOOP_FFMPEG: z.string().min(1).optional(),
  /** ONNX Runtime intra-op threads; 0 = one per core but one (at least one). */
  VISIONLOOP_THREADS: z.coerce.number().int().min(0).max(256).default(0),
  /** Let ONNX Runtime's idle threads spin (lower latency, more CPU). */
  VISIONLOOP_ORT_SPINNING: envBoolean.default(false),
  /** The model `detect` and `up` use when none is given (default: the shipped seed model). */
  VISIONLOOP_MODEL: z.string().min(1).optional(),
});

export type RuntimeConfig = Readonly<z.output<typeof runtimeEnvSchema>>;

export function loadRuntimeConfig(
  env: Record<string, string | undefined> = process.env,
): RuntimeConfig {
  return parseEnv(runtimeEnvSchema, env);
}
