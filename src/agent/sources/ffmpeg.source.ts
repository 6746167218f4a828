/**
 * Video files, network streams (RTSP, HTTP) and V4L2 cameras, decoded by the system ffmpeg as
 * a child process that writes raw RGB24 frames to stdout:
 *
 *   ffmpeg -hide_banner -nostdin -loglevel error [input options] -i SRC
 *          -map 0:v:0 -an -sn -dn -vf scale=W:H -f rawvideo -pix_fmt rgb24 -
 *
 * The frame size is probed first (unless width and height are given) and then forced with
 * `scale=W:H`, so a mid-stream resolution change cannot misalign the byte stream. Frames are
 * read only as fast as the consumer pulls (stdout is paused otherwise, and ffmpeg blocks).
 * Pacing of files (`fps`) happens here on an absolute schedule rather than with ffmpeg's `-re`,
 * which could only pace at the file's own rate.
 *
 * End of input: a file ends the iteration at EOF (or restarts when `loop`); a live source
 * (RTSP, HTTP streams without a video-file extension, V4L2) reconnects with exponential backoff
 * — `reconnect.maxAttempts` consecutive attempts without a frame (default 5; delays 0.5 s, 1 s,
 * 2 s, 4 s, 8 s, capped at `reconnect.maxDelayMs`; Infinity = keep trying) — and then fails
 * with SOURCE_UNREADABLE. A file that decodes to no frame at all is SOURCE_UNREADABLE too.
 *
 * Must never leave an ffmpeg running: breaking out of the iteration, aborting the signal or
 * `close()` all terminate the child (SIGTERM, SIGKILL after `killGraceMs`) and wait for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { VisionLoopError } from '../../shared/errors.js';
import type { CapturedFrame, FrameSource, OpenSourceOptions } from '../frame-source.js';
import { collectText, terminateChild, TextTail } from './child-process.js';
import { cleanFfmpegMessage, describeFfmpegInput, type FfmpegInput } from './ffmpeg-input.js';
import { locateFfmpeg, type FfmpegLocateOptions, type FfmpegTools } from './ffmpeg-locate.js';
import { probeStream, type StreamInfo } from './ffmpeg-probe.js';
import { FramePacer } from './frame-pacer.js';
import { RawFrameReader } from './raw-frame-reader.js';
import { iterationSignal, pacingFps, validateSourceOptions } from './source-options.js';

export interface ReconnectPolicy {
  /** Consecutive reconnection attempts without a frame before the source fails (default 5; 0 = none). */
  maxAttempts?: number;
  /** Delay before the first attempt, doubled for each further one (default 500 ms). */
  initialDelayMs?: number;
  /** Upper bound of the delay (default 10 000 ms). */
  maxDelayMs?: number;
}

export interface FfmpegSourceOptions extends OpenSourceOptions, FfmpegLocateOptions {
  /** Live sources only (RTSP, HTTP streams, V4L2). */
  reconnect?: ReconnectPolicy;
  /** Time ffmpeg gets to exit after SIGTERM before SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** Time allowed for probing the stream size (default 15 000 ms). */
  probeTimeoutMs?: number;
  /** Network read timeout handed to ffmpeg; a stalled stream then ends and reconnects (default 10 000 ms). */
  ioTimeoutMs?: number;
}

interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error: Error | null;
}

/** One running ffmpeg and the reader on its stdout. */
class DecoderProcess {
  readonly child: ChildProcess;
  readonly reader: RawFrameReader;
  readonly stderr = new TextTail();
  readonly exited: Promise<ProcessExit>;

  constructor(command: string, args: readonly string[], frameBytes: number) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = this.child.stdout;
    if (!stdout) throw new VisionLoopError('INTERNAL', 'ffmpeg was started without a stdout pipe');
    this.reader = new RawFrameReader(stdout, frameBytes);
    collectText(this.child.stderr, this.stderr);
    this.exited = new Promise((resolve) => {
      let spawnError: Error | null = null;
      this.child.on('error', (error) => {
        spawnError = error;
        // A child that never started emits no 'close' on some Node versions.
        if (this.child.pid === undefined) resolve({ code: null, signal: null, error });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal, error: spawnError }));
    });
  }

  async stop(graceMs: number): Promise<void> {
    this.reader.cancel();
    // Closing our end of the pipe makes a blocked write in ffmpeg fail at once (EPIPE).
    this.child.stdout?.destroy();
    await terminateChild(this.child, graceMs);
  }
}

function describeExit(exit: ProcessExit, stderr: TextTail, input: FfmpegInput): string | null {
  const message = cleanFfmpegMessage(stderr.summary(3), input);
  if (exit.error) return `ffmpeg could not run: ${exit.error.message}`;
  if (exit.code === 0) return null;
  if (message) return message;
  return exit.signal
    ? `ffmpeg was killed by ${exit.signal}`
    : `ffmpeg exited with code ${exit.code}`;
}

export class FfmpegSource implements FrameSource {
  readonly description: string;
  readonly fps: number | null;
  readonly live: boolean;
  private readonly paceFps: number | null;
  private readonly running = new Set<DecoderProcess>();
  private readonly closing = new AbortController();

  constructor(
    private readonly tools: FfmpegTools,
    readonly input: FfmpegInput,
    readonly width: number,
    readonly height: number,
    streamFps: number | null,
    private readonly options: FfmpegSourceOptions,
  ) {
    // Live sources deliver at the camera's rate; pacing applies to files only.
    this.paceFps = input.live ? null : pacingFps(options);
    this.fps = input.live ? streamFps : this.paceFps;
    this.live = input.live || this.paceFps !== null;
    const noun = input.kind === 'file' ? 'video' : input.kind === 'v4l2' ? 'camera' : 'stream';
    const rate = this.fps !== null ? `, ${Math.round(this.fps * 100) / 100} fps` : '';
    this.description = `${noun} ${input.display} (${width}x${height}${rate})`;
  }

  /** Process ids of the ffmpeg children running now (for diagnostics and tests). */
  get processIds(): number[] {
    return [...this.running].flatMap((process) => (process.child.pid ? [process.child.pid] : []));
  }

  /** The ffmpeg arguments this source runs (without the executable). */
  ffmpegArgs(): string[] {
    return [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      ...this.input.inputArgs,
      '-i',
      this.input.location,
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      `scale=${this.width}:${this.height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ];
  }

  async *frames(callerSignal?: AbortSignal): AsyncGenerator<CapturedFrame, void, undefined> {
    if (this.closing.signal.aborted) {
      throw new VisionLoopError('INTERNAL', `${this.description} is closed`);
    }
    const signal = iterationSignal(callerSignal, this.closing.signal);
    const frameBytes = this.width * this.height * 3;
    const maxFrames = this.options.maxFrames ?? Number.POSITIVE_INFINITY;
    const pacer = this.paceFps !== null ? new FramePacer(this.paceFps) : null;
    const reconnect = this.options.reconnect ?? {};
    const maxAttempts = reconnect.maxAttempts ?? 5;
    const initialDelayMs = reconnect.initialDelayMs ?? 500;
    const maxDelayMs = reconnect.maxDelayMs ?? 10_000;
    let index = 0;
    let failedAttempts = 0;

    while (index < maxFrames && !signal.aborted) {
      const decoder = new DecoderProcess(this.tools.ffmpeg, this.ffmpegArgs(), frameBytes);
      this.running.add(decoder);
      const onAbort = (): void => decoder.reader.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        let delivered = 0;
        while (index < maxFrames) {
          const data = await decoder.reader.next();
          if (data === null) break;
          if (pacer && !(await pacer.wait(signal))) return;
          if (signal.aborted) return;
          delivered += 1;
          failedAttempts = 0;
          yield {
            index: index++,
            capturedAt: Date.now(),
            image: { width: this.width, height: this.height, data },
            label: this.input.display,
          };
        }
        if (index >= maxFrames || signal.aborted) return;

        const failure = describeExit(await decoder.exited, decoder.stderr, this.input);
        if (!this.input.live) {
          if (failure !== null) {
            throw new VisionLoopError(
              'SOURCE_UNREADABLE',
              `cannot read video ${this.input.display}: ${failure}`,
            );
          }
          if (index === 0) {
            const detail = cleanFfmpegMessage(decoder.stderr.summary(2), this.input);
            throw new VisionLoopError(
              'SOURCE_UNREADABLE',
              `cannot read video ${this.input.display}: no frame could be decoded${detail ? ` (${detail})` : ''}`,
            );
          }
          // A file with no frames at all would loop forever without delivering anything.
          if (!this.options.loop || delivered === 0) return;
          continue;
        }

        failedAttempts += 1;
        if (failedAttempts > maxAttempts) {
          const attempts =
            maxAttempts === 0
              ? ''
              : maxAttempts === 1
                ? ' and 1 reconnection attempt failed'
                : ` and ${maxAttempts} reconnection attempts failed`;
          throw new VisionLoopError(
            'SOURCE_UNREADABLE',
            `${this.input.display} stopped delivering frames${attempts}: ${failure ?? 'the stream ended'}`,
          );
        }
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (failedAttempts - 1));
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          return;
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        await decoder.stop(this.options.killGraceMs ?? 2000);
        this.running.delete(decoder);
      }
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await Promise.all(
      [...this.running].map((decoder) => decoder.stop(this.options.killGraceMs ?? 2000)),
    );
  }
}

function validateReconnect(policy: ReconnectPolicy | undefined): void {
  if (!policy) return;
  const { maxAttempts, initialDelayMs, maxDelayMs } = policy;
  if (
    maxAttempts !== undefined &&
    !(
      maxAttempts === Number.POSITIVE_INFINITY ||
      (Number.isInteger(maxAttempts) && maxAttempts >= 0)
    )
  ) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `reconnect.maxAttempts must be a whole number >= 0 or Infinity, got ${maxAttempts}`,
    );
  }
  for (const [name, value] of [
    ['initialDelayMs', initialDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new VisionLoopError('INVALID_ARGUMENT', `reconnect.${name} must be >= 0, got ${value}`);
    }
  }
}

/** Output size: explicit width and height, or the stream's, scaled to keep the aspect ratio when only one is given. */
function outputSize(
  stream: StreamInfo | null,
  options: OpenSourceOptions,
): { width: number; height: number } {
  const { width, height } = options;
  if (width !== undefined && height !== undefined) return { width, height };
  if (!stream) throw new VisionLoopError('INTERNAL', 'stream size is needed but was not probed');
  if (width !== undefined) {
    return { width, height: Math.max(1, Math.round((width * stream.height) / stream.width)) };
  }
  if (height !== undefined) {
    return { width: Math.max(1, Math.round((height * stream.width) / stream.height)), height };
  }
  return { width: stream.width, height: stream.height };
}

/**
 * Opens a video file, `rtsp(s)://` or `http(s)://` stream or `/dev/videoN` device through ffmpeg.
 * Locates ffmpeg and probes the stream (unless both width and height are given).
 * @throws VisionLoopError FFMPEG_MISSING, SOURCE_UNREADABLE (ffmpeg's message), INVALID_ARGUMENT.
 */
export async function openFfmpegSource(
  location: string,
  options: FfmpegSourceOptions = {},
): Promise<FfmpegSource> {
  validateSourceOptions(options);
  validateReconnect(options.reconnect);
  const tools = await locateFfmpeg(options);
  const input = describeFfmpegInput(location, options.ioTimeoutMs);
  const sizeGiven = options.width !== undefined && options.height !== undefined;
  // With an explicit size there is nothing to probe for (a live source's rate then stays unknown).
  const stream = sizeGiven ? null : await probeStream(tools, input, options.probeTimeoutMs);
  const { width, height } = outputSize(stream, options);
  return new FfmpegSource(tools, input, width, height, stream?.fps ?? null, options);
}
