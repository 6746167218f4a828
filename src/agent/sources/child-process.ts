/**
 * Small helpers for the ffmpeg/ffprobe child processes of the frame sources: run a command to
 * completion with a timeout, keep the tail of a stderr stream, and terminate a child (SIGTERM,
 * then SIGKILL after a grace period) waiting until it has exited, so no process outlives its
 * source. Never reads process.env: commands are resolved by the OS from the inherited PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Keeps the last `limit` characters written to a text stream (ffmpeg's error messages). */
export class TextTail {
  private text = '';

  constructor(private readonly limit = 8192) {}

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }

  /** The last `maxLines` non-empty lines, joined with "; " for one-line error messages. */
  summary(maxLines = 4): string {
    const lines = this.text
      .slice(-this.limit)
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length > 0);
    return lines.slice(-maxLines).join('; ');
  }

  get raw(): string {
    return this.text.slice(-this.limit);
  }
}

/** Collects a child's stderr into a tail buffer; the stream keeps flowing so the child never blocks on it. */
export function collectText(stream: Readable | null, tail: TextTail): void {
  if (!stream) return;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => tail.push(chunk));
  stream.on('error', () => undefined);
}

export interface CommandResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: TextTail;
  timedOut: boolean;
}

/**
 * Runs a command to completion, capturing stdout (up to `maxStdout` characters) and the tail of
 * stderr. Rejects only when the command cannot be started (e.g. ENOENT); a non-zero exit is a
 * normal result. After `timeoutMs` the process is terminated and `timedOut` is set.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; maxStdout?: number },
): Promise<CommandResult> {
  const maxStdout = options.maxStdout ?? 1 << 20;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let stdout = '';
    const stderr = new TextTail();
    let timedOut = false;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      if (stdout.length < maxStdout) stdout += chunk;
    });
    child.stdout?.on('error', () => undefined);
    collectText(child.stderr, stderr);
    const timer = setTimeout(() => {
      timedOut = true;
      void terminateChild(child, 1000);
    }, options.timeoutMs);
    child.on('error', (error) => {
      // Only a failure to start rejects; errors after start end in 'close' with an exit code.
      if (child.pid === undefined) {
        clearTimeout(timer);
        reject(error);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Stops a child: SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves once the
 * process has exited (Node reaps it then, so it leaves no zombie). Safe to call repeatedly and on
 * a child that never started.
 */
export function terminateChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => {
      if (!hasExited(child)) child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    // The exit may have happened between the check above and the listener.
    if (hasExited(child)) {
      clearTimeout(killTimer);
      resolve();
      return;
    }
    child.kill('SIGTERM');
  });
}
