/**
 * Terminal output for the CLI: a progress line that redraws in place on a terminal and prints
 * plain, occasional lines when stdout/stderr is not a TTY (CI logs, pipes), plus error
 * formatting. Progress goes to stderr so stdout stays clean for JSON.
 */
import { isVisionLoopError } from '../shared/errors.js';

export interface ProgressState {
  current: number;
  total: number;
  /** Extra text after the bar, e.g. "loss 0.812". */
  detail?: string;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export { formatDuration };

/** A progress display with ETA. On a TTY it redraws one line; otherwise it prints at most every `plainIntervalMs`. */
export class ProgressDisplay {
  private readonly startedAt = Date.now();
  private lastPlainAt = 0;
  private active = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainIntervalMs = 5_000,
  ) {}

  get isInteractive(): boolean {
    return this.stream.isTTY === true;
  }

  update(state: ProgressState): void {
    const fraction = state.total > 0 ? Math.min(1, state.current / state.total) : 0;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const eta = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : Number.NaN;
    const counts = `${state.current}/${state.total}`;
    const detail = state.detail ? ` ${state.detail}` : '';
    const timing = `elapsed ${formatDuration(elapsed)} eta ${formatDuration(eta)}`;
    if (this.isInteractive) {
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.stream.write(`\r\x1b[2K${this.label} ${bar} ${counts}${detail} ${timing}`);
      this.active = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlainAt >= this.plainIntervalMs || state.current >= state.total) {
      this.lastPlainAt = now;
      this.stream.write(`${this.label} ${counts}${detail} ${timing}\n`);
    }
  }

  /** Ends the progress line (on a TTY) so later output starts on a fresh line. */
  done(message?: string): void {
    if (this.isInteractive && this.active) this.stream.write('\r\x1b[2K');
    this.active = false;
    if (message) this.stream.write(`${message}\n`);
  }
}

/**
 * Thrown by a command that did its work but must end with a non-zero exit code (e.g. `drift
 * compare --fail-on-drift` when the input drifted); `main` prints the message and exits with it.
 */
export class CommandExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CommandExit';
  }
}

/** Formats any thrown value for a person: `error [CODE]: message`. */
export function formatError(error: unknown): string {
  if (isVisionLoopError(error)) return `error [${error.code}]: ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}`;
  return `error: ${String(error)}`;
}

/** Renders rows as an aligned plain-text table. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => String(cell)))];
  const widths = headers.map((_, col) => Math.max(...cells.map((row) => (row[col] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, col) => cell.padEnd(widths[col] ?? 0))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const [head, ...body] = cells;
  return [line(head ?? []), rule, ...body.map(line)].join('\n');
}

/**
 * The printer of a command's answer: the value as indented JSON with `--json`, else the
 * human-readable `text()`; a newline after either.
 */
export function answerPrinter(out: { write(text: string): unknown }) {
  return (flags: { json?: boolean }, value: unknown, text: () => string): void => {
    out.write(flags.json === true ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
  };
}
