/**
 * Puts the pipeline's results into the outbox cheaply: `add` is synchronous and only buffers
 * (the pipeline may emit 30+ results a second), and the buffer is committed in one
 * transaction every `flushIntervalMs` or every `flushEveryResults` results, whichever comes
 * first. Frames the upload policy samples are JPEG-encoded (sharp, off the main thread) while
 * they wait, and committed in the same transaction as their result.
 *
 * What is promised: a result is durable once the flush that carries it has committed — at
 * most one flush interval after the pipeline produced it. A crash or power cut inside that
 * window loses the buffered results; nothing committed is ever lost.
 *
 * It never sends anything and never decides what is shed: the outbox does.
 */
import sharp from 'sharp';
import type { AgentSettings } from '../shared/api/agents.js';
import type { FrameResult } from '../shared/domain.js';
import type { RgbImage } from '../vision/image.js';
import type { CapturedFrame } from './frame-source.js';
import type { AppendOutcome, Outbox, OutboxEntry } from './outbox.js';

export type FrameEncoder = (image: RgbImage, quality: number) => Promise<Uint8Array>;

/** JPEG-encodes an RGB frame with sharp at `quality` (1..100). */
export const encodeJpeg: FrameEncoder = (image, quality) =>
  sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .jpeg({ quality, mozjpeg: false })
    .toBuffer();

/** Whether a result's frame is uploaded under the server's settings. */
export function shouldUploadFrame(
  policy: AgentSettings['uploadFrames'],
  result: FrameResult,
): boolean {
  switch (policy) {
    case 'all':
      return true;
    case 'uncertain':
      return result.uncertain;
    case 'none':
      return false;
  }
}

export interface OutboxWriterOptions {
  /** Commit the buffer at least this often, ms. Default 200. */
  flushIntervalMs?: number;
  /** Commit as soon as this many results wait. Default 64. */
  flushEveryResults?: number;
  /** The settings in force (read at every result: a new revision applies at once). */
  settings: () => AgentSettings;
  encode?: FrameEncoder;
  /** After each commit (the sender uses it to wake up). */
  onCommitted?: (outcome: AppendOutcome) => void;
  onWarning?: (message: string) => void;
}

interface BufferedEntry {
  result: FrameResult;
  jpeg: Promise<Uint8Array | null> | null;
}

export class OutboxWriter {
  private buffer: BufferedEntry[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly flushEveryResults: number;
  private readonly encode: FrameEncoder;
  private closed = false;
  private producedCount = 0;
  private encodeFailures = 0;
  private lost = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: OutboxWriterOptions,
  ) {
    this.flushEveryResults = options.flushEveryResults ?? 64;
    this.encode = options.encode ?? encodeJpeg;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 200);
    this.timer.unref();
  }

  /** Results handed to the writer since it started. */
  get produced(): number {
    return this.producedCount;
  }

  /** Results waiting in memory for the next commit. */
  get buffered(): number {
    return this.buffer.length;
  }

  get frameEncodeFailures(): number {
    return this.encodeFailures;
  }

  /** Results that could not be written to the outbox at all (an I/O error); normally 0. */
  get lostResults(): number {
    return this.lost;
  }

  /**
   * Buffers a result, and starts encoding its frame when the upload policy asks for it or the
   * result was sampled for labeling (`result.sampling`).
   */
  add(result: FrameResult, frame: CapturedFrame): void {
    if (this.closed) {
      this.options.onWarning?.(`result ${result.id} arrived after the outbox writer closed`);
      return;
    }
    this.producedCount++;
    const settings = this.options.settings();
    // A frame sampled for labeling is useless without its pixels: always uploaded.
    const upload =
      result.sampling !== undefined || shouldUploadFrame(settings.uploadFrames, result);
    const jpeg = upload
      ? this.encode(frame.image, settings.jpegQuality).catch((error: unknown) => {
          this.encodeFailures++;
          this.options.onWarning?.(`cannot encode frame ${result.id}: ${String(error)}`);
          return null;
        })
      : null;
    this.buffer.push({ result, jpeg });
    if (this.buffer.length >= this.flushEveryResults) void this.flush();
  }

  /** Commits everything buffered so far; resolves when it is in the outbox. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.commit());
    return this.flushing;
  }

  private async commit(): Promise<void> {
    if (this.buffer.length === 0) return;
    const pending = this.buffer;
    this.buffer = [];
    const entries: OutboxEntry[] = await Promise.all(
      pending.map(async ({ result, jpeg }) => ({ result, jpeg: jpeg ? await jpeg : null })),
    );
    try {
      const outcome = this.outbox.append(entries);
      this.options.onCommitted?.(outcome);
    } catch (error) {
      this.lost += entries.length;
      this.options.onWarning?.(
        `cannot write ${entries.length} results to the outbox; they are lost: ${String(error)}`,
      );
    }
  }

  /** Stops the timer and commits what is buffered. */
  async close(): Promise<void> {
    if (this.closed) return this.flushing;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }
}
