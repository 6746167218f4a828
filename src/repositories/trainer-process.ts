/**
 * The trainer process contract (DESIGN.md §4), TypeScript side: find a Python that can import
 * PyTorch, spawn `python -m visionloop_trainer train …`, stream its JSON-lines progress, and
 * cancel it with SIGTERM. Nothing here imports or interprets Python; the trainer is a black
 * box behind its command line, its stdout events and its exit code.
 *
 * Inspection comes first: the trainer can run at a lower CPU priority (`nice`, applied to the
 * child right after it starts) with a bounded thread count (`threads`; 0 picks 1 on a machine
 * with ≤ 2 cores, so detection keeps a core). The BLAS/OpenMP pools get the same bound.
 *
 * Bring your own trainer: the command may be a configured one (VISIONLOOP_TRAINER_COMMAND, e.g.
 * a wrapper around Ultralytics) instead of the built-in `python -m visionloop_trainer`; it gets
 * the same arguments (`train --data DIR --out DIR …`) and is held to the same contract: every
 * stdout line a JSON event object, a `done` event, exit code 0 and a model.onnx in `--out`.
 * Any breach is a TRAINER_FAILED that says which rule was broken.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, setPriority } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VisionLoopError } from '../shared/errors.js';
import { withoutLauncherMalloc } from '../shared/launcher-env.js';

/** The trainer's Python package root (holds `visionloop_trainer/`). */
export const TRAINER_ROOT = fileURLToPath(new URL('../../trainer', import.meta.url));

export interface TrainerEpochEvent {
  event: 'epoch';
  epoch: number;
  epochs: number;
  loss: number;
  elapsed_s: number;
  [key: string]: unknown;
}

export interface TrainerDoneEvent {
  event: 'done';
  model: string;
  weights: string;
  metrics: Record<string, unknown>;
  elapsed_s: number;
  [key: string]: unknown;
}

export type TrainerEvent =
  | TrainerEpochEvent
  | TrainerDoneEvent
  | { event: 'start'; [key: string]: unknown }
  | { event: 'error'; message: string; [key: string]: unknown }
  | { event: 'cancelled'; [key: string]: unknown }
  | { event: string; [key: string]: unknown };

export interface TrainRequest {
  /** The trainer's subcommand: `train` (the detector, default), `train-classify`, `train-segment`. */
  subcommand?: 'train' | 'train-classify' | 'train-segment';
  data: string;
  out: string;
  base?: string;
  epochs?: number;
  imgsz?: number;
  batch?: number;
  seed?: number;
  workers?: number;
  /** PyTorch threads; 0 = automatic (`trainerThreads`). */
  threads?: number;
  /** CPU niceness of the trainer process (0..19); unset: the parent's. */
  nice?: number;
  lr?: number;
  datasetHash?: string;
  parentVersion?: string;
  version?: string;
  /** Extra raw flags, passed through. */
  extraArgs?: string[];
}

export interface TrainerRunOptions {
  onEvent?: (event: TrainerEvent) => void;
  /** Human log lines from the trainer's stderr. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

/** The program a training runs and the arguments that come before the contract's own. */
export interface TrainerCommand {
  program: string;
  /** Arguments before `train --data …` (`-m visionloop_trainer` for the built-in trainer). */
  args: string[];
  /** True for the built-in trainer: it runs from the trainer package with PYTHONPATH set. */
  builtIn: boolean;
}

/** The built-in PyTorch trainer run by `python`. */
export function builtInTrainerCommand(python: string): TrainerCommand {
  return { program: python, args: ['-m', 'visionloop_trainer'], builtIn: true };
}

/**
 * A configured trainer command (VISIONLOOP_TRAINER_COMMAND): split on whitespace, no shell, no
 * quoting (put anything fancier in a wrapper script). INVALID_ARGUMENT when empty.
 */
export function parseTrainerCommand(text: string): TrainerCommand {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
  const [program, ...args] = words;
  if (program === undefined) {
    throw new VisionLoopError('INVALID_ARGUMENT', 'the trainer command is empty');
  }
  return { program, args, builtIn: false };
}

/** The command as a person would type it, for messages. */
export function describeTrainerCommand(command: TrainerCommand): string {
  return [command.program, ...command.args].join(' ');
}

const REQUIRED_MODULES = 'import torch, numpy, PIL, onnx';
/** coreutils' nice, which runs a command at a lower CPU priority. */
const NICE_BINARY = '/usr/bin/nice';
let cachedPython: string | null = null;

function pythonCandidates(preferred?: string): string[] {
  return [preferred, '/usr/bin/python3', 'python3'].filter(
    (candidate): candidate is string => typeof candidate === 'string' && candidate.length > 0,
  );
}

function noPython(tried: string[]): VisionLoopError {
  return new VisionLoopError(
    'TRAINER_UNAVAILABLE',
    `no Python with PyTorch found (tried ${tried.join('; ')}). Install it with: ` +
      'sudo apt-get install -y python3-torch python3-numpy python3-pil python3-onnx ' +
      '(or set VISIONLOOP_PYTHON to an interpreter that can import torch, numpy, PIL and onnx)',
  );
}

/**
 * The first interpreter that can import PyTorch (and numpy, PIL, onnx): `preferred`
 * (VISIONLOOP_PYTHON), then /usr/bin/python3 (Debian's python3-torch is visible only there),
 * then `python3` on PATH. Throws TRAINER_UNAVAILABLE saying how to install PyTorch.
 * Synchronous (importing torch takes seconds): for CLIs and benches; a server uses
 * findPythonAsync.
 */
export function findPython(preferred?: string): string {
  if (cachedPython && !preferred) return cachedPython;
  const tried: string[] = [];
  for (const candidate of existingCandidates(preferred, tried)) {
    const probe = spawnSync(candidate, ['-c', REQUIRED_MODULES], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const reason =
      probe.status === 0
        ? null
        : probe.error
          ? probe.error.message
          : (probe.stderr.trim().split('\n').pop() ?? 'failed');
    if (accepted(candidate, reason, preferred, tried)) return candidate;
  }
  throw noPython(tried);
}

/** The candidates that exist (a path that does not is noted in `tried`). */
function* existingCandidates(preferred: string | undefined, tried: string[]): Generator<string> {
  for (const candidate of pythonCandidates(preferred)) {
    if (candidate.includes('/') && !existsSync(candidate)) tried.push(`${candidate} (not found)`);
    else yield candidate;
  }
}

/** Whether a probed candidate is the one (cached unless it was the user's own); else noted. */
function accepted(
  candidate: string,
  reason: string | null,
  preferred: string | undefined,
  tried: string[],
): boolean {
  if (reason === null) {
    if (!preferred) cachedPython = candidate;
    return true;
  }
  tried.push(`${candidate} (${reason})`);
  return false;
}

/**
 * findPython without blocking the event loop: the probe (`python -c "import torch, …"`, 2–3 s
 * on a quiet 2-core machine, 15 s on a loaded one) ran synchronously on the server's thread at
 * the first training and left `/api/health` unanswered for its duration (bench/loop).
 */
export async function findPythonAsync(preferred?: string): Promise<string> {
  if (cachedPython && !preferred) return cachedPython;
  const tried: string[] = [];
  for (const candidate of existingCandidates(preferred, tried)) {
    const reason = await new Promise<string | null>((done) => {
      execFile(
        candidate,
        ['-c', REQUIRED_MODULES],
        { encoding: 'utf8', timeout: 60_000 },
        (error, _stdout, stderr) => {
          if (error === null) done(null);
          else done(stderr.trim().split('\n').pop() || error.message);
        },
      );
    });
    if (accepted(candidate, reason, preferred, tried)) return candidate;
  }
  throw noPython(tried);
}

/**
 * The trainer's thread count for a `threads` setting: the setting when > 0; else 1 on a
 * machine with ≤ 2 cores (inspection keeps the other), otherwise cores − 1, at most 4.
 */
export function trainerThreads(
  setting: number | undefined,
  cores = availableParallelism(),
): number {
  if (setting !== undefined && setting > 0) return setting;
  return cores <= 2 ? 1 : Math.min(4, cores - 1);
}

export function trainerArgs(
  request: TrainRequest,
  prefix: readonly string[] = ['-m', 'visionloop_trainer'],
): string[] {
  const args = [
    ...prefix,
    request.subcommand ?? 'train',
    '--data',
    request.data,
    '--out',
    request.out,
  ];
  const optional: [string, string | number | undefined][] = [
    ['--base', request.base],
    ['--epochs', request.epochs],
    ['--imgsz', request.imgsz],
    ['--batch', request.batch],
    ['--seed', request.seed],
    ['--workers', request.workers],
    ['--threads', request.threads === undefined ? undefined : trainerThreads(request.threads)],
    ['--lr', request.lr],
    ['--dataset-hash', request.datasetHash],
    ['--parent-version', request.parentVersion],
    ['--version', request.version],
  ];
  for (const [flag, value] of optional) if (value !== undefined) args.push(flag, String(value));
  return [...args, ...(request.extraArgs ?? [])];
}

/** How many characters of an offending stdout line an error quotes. */
const QUOTED_LINE_CHARS = 120;

/**
 * Runs one training to completion and checks its outputs; resolves with the `done` event, its
 * `model`, `weights` and `metrics` filled from the `--out` directory when the event leaves them
 * out (`weights` is '' when there is no weights file). `trainer` is a Python interpreter (the
 * built-in trainer) or a command.
 */
export async function runTrainer(
  trainer: string | TrainerCommand,
  request: TrainRequest,
  options: TrainerRunOptions = {},
): Promise<TrainerDoneEvent> {
  const command = typeof trainer === 'string' ? builtInTrainerCommand(trainer) : trainer;
  const startedAt = Date.now();
  const done = await spawnTrainer(command, request, options);
  return checkOutputs(command, request, done, (Date.now() - startedAt) / 1000);
}

async function checkOutputs(
  command: TrainerCommand,
  request: TrainRequest,
  done: TrainerDoneEvent,
  elapsedS: number,
): Promise<TrainerDoneEvent> {
  const inOut = (value: unknown, fallback: string): string =>
    typeof value === 'string' && value !== ''
      ? isAbsolute(value)
        ? value
        : resolve(request.out, value)
      : join(request.out, fallback);
  const name = describeTrainerCommand(command);
  const model = inOut(done.model, 'model.onnx');
  if (!existsSync(model)) {
    throw new VisionLoopError(
      'TRAINER_FAILED',
      `the trainer (${name}) reported done but wrote no model: ${model} does not exist ` +
        '(the contract: model.onnx in --out, or the path in the done event\'s "model")',
    );
  }
  const weights = inOut(done.weights, 'weights.pt');
  let metrics = done.metrics;
  if (typeof metrics !== 'object' || metrics === null) {
    const file = join(request.out, 'metrics.json');
    const text = await readFile(file, 'utf8').catch(() => null);
    try {
      const parsed: unknown = text === null ? {} : JSON.parse(text);
      metrics = typeof parsed === 'object' && parsed !== null ? (parsed as typeof metrics) : {};
    } catch {
      throw new VisionLoopError(
        'TRAINER_FAILED',
        `the trainer (${name}) wrote a metrics.json that is not JSON: ${file}`,
      );
    }
  }
  return {
    ...done,
    model,
    weights: existsSync(weights) ? weights : '',
    metrics,
    elapsed_s: typeof done.elapsed_s === 'number' ? done.elapsed_s : elapsedS,
  };
}

function spawnTrainer(
  command: TrainerCommand,
  request: TrainRequest,
  options: TrainerRunOptions,
): Promise<TrainerDoneEvent> {
  const name = describeTrainerCommand(command);
  const program = command.program;
  return new Promise<TrainerDoneEvent>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new VisionLoopError('TRAINING_CANCELLED', 'training was cancelled before it started'));
      return;
    }
    const threads = String(trainerThreads(request.threads ?? 2));
    // `nice -n N` execs Python with the lower priority from its first instruction, so every
    // thread torch starts inherits it (Linux priorities are per thread); without the nice
    // binary the priority is set on the child right after it starts.
    const nice = request.nice !== undefined && request.nice > 0 ? request.nice : 0;
    const viaNice = nice > 0 && existsSync(NICE_BINARY);
    const args = trainerArgs(request, command.args);
    const child = spawn(
      viaNice ? NICE_BINARY : program,
      viaNice ? ['-n', String(nice), program, ...args] : args,
      {
        // A configured command runs where the process runs (its paths are the user's).
        cwd: command.builtIn ? TRAINER_ROOT : process.cwd(),
        env: {
          // Not bin/visionloop's malloc settings: they double PyTorch's CPU time per step.
          ...withoutLauncherMalloc(process.env),
          ...(command.builtIn ? { PYTHONPATH: TRAINER_ROOT } : {}),
          PYTHONUNBUFFERED: '1',
          // Native pools (OpenMP, BLAS) that torch.set_num_threads does not reach.
          OMP_NUM_THREADS: threads,
          OPENBLAS_NUM_THREADS: threads,
          MKL_NUM_THREADS: threads,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    if (nice > 0 && !viaNice && child.pid !== undefined) {
      try {
        setPriority(child.pid, nice);
      } catch (error) {
        options.onLog?.(
          `could not lower the trainer's CPU priority: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    let done: TrainerDoneEvent | null = null;
    let errorMessage: string | null = null;
    let cancelled = false;
    /** The first breach of the stdout protocol; the child is stopped when it happens. */
    let protocolError: string | null = null;
    let stdoutLine = 0;
    const stderrTail: string[] = [];
    let killTimer: NodeJS.Timeout | null = null;

    const onAbort = () => {
      cancelled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          onLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
        }
      });
      stream.on('end', () => {
        if (buffered.length > 0) onLine(buffered);
      });
    };

    const breach = (message: string) => {
      if (protocolError !== null) return;
      protocolError = message;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), 15_000);
    };

    lines(child.stdout, (line) => {
      stdoutLine++;
      const trimmed = line.trim();
      if (!trimmed || protocolError !== null) return;
      let event: TrainerEvent | null = null;
      try {
        const parsed: unknown = JSON.parse(trimmed);
        if (
          typeof parsed === 'object' &&
          parsed !== null &&
          !Array.isArray(parsed) &&
          typeof (parsed as { event?: unknown }).event === 'string'
        ) {
          event = parsed as TrainerEvent;
        }
      } catch {
        // reported below
      }
      if (event === null) {
        const quoted =
          trimmed.length > QUOTED_LINE_CHARS ? `${trimmed.slice(0, QUOTED_LINE_CHARS)}…` : trimmed;
        breach(
          `stdout line ${stdoutLine} is not a JSON event object ({"event": …}): ${quoted} ` +
            '(progress goes to stdout as JSON lines; human logs belong on stderr)',
        );
        return;
      }
      if (event.event === 'done') done = event as TrainerDoneEvent;
      if (event.event === 'error') {
        const message = (event as { message?: unknown }).message;
        errorMessage = typeof message === 'string' ? message : 'unknown error';
      }
      if (event.event === 'cancelled') cancelled = true;
      options.onEvent?.(event);
    });
    lines(child.stderr, (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
      options.onLog?.(line);
    });

    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(
        new VisionLoopError('TRAINER_UNAVAILABLE', `could not start ${name}: ${error.message}`, {
          cause: error,
        }),
      );
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (cancelled) {
        reject(new VisionLoopError('TRAINING_CANCELLED', 'training was cancelled'));
      } else if (protocolError !== null) {
        reject(
          new VisionLoopError(
            'TRAINER_FAILED',
            `the trainer (${name}) broke the process contract: ${protocolError}`,
          ),
        );
      } else if (code === 0 && done) {
        resolve(done);
      } else if (code === 0) {
        reject(
          new VisionLoopError(
            'TRAINER_FAILED',
            `the trainer (${name}) exited with code 0 without a {"event":"done"} line on stdout`,
          ),
        );
      } else {
        const detail =
          errorMessage ??
          (stderrTail
            .filter((l) => l.trim())
            .slice(-5)
            .join('\n') ||
            `exited with ${signal ? `signal ${signal}` : `code ${code}`} and no error message`);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(
          new VisionLoopError(
            'TRAINER_FAILED',
            command.builtIn
              ? `the trainer failed: ${detail}`
              : `the trainer (${name}) ${how}: ${detail}`,
          ),
        );
      }
    });
  });
}
