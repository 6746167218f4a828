/**
 * Cuts a byte stream of raw frames (ffmpeg's `-f rawvideo` stdout) into exact frame-size
 * buffers, with backpressure: the stream is paused as soon as a whole frame is waiting for the
 * consumer, so ffmpeg blocks on its full pipe instead of decoding ahead into memory.
 *
 * Every frame returned is a fresh Uint8Array that the caller owns (one copy per byte: pipe
 * chunks are copied into the frame being assembled, and chunk boundaries never line up with
 * frame boundaries). It never drops or reorders frames.
 */
import type { Readable } from 'node:stream';

interface Waiter {
  resolve: (frame: Uint8Array | null) => void;
  reject: (error: Error) => void;
}

export class RawFrameReader {
  private current: Uint8Array | null = null;
  private filled = 0;
  private readonly ready: Uint8Array[] = [];
  private ended = false;
  private error: Error | null = null;
  private waiter: Waiter | null = null;

  constructor(
    private readonly stream: Readable,
    readonly frameBytes: number,
  ) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) {
      throw new RangeError(`frameBytes must be a positive integer, got ${frameBytes}`);
    }
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.once('end', () => this.finish());
    stream.once('close', () => this.finish());
    stream.on('error', (error) => {
      this.error ??= error;
      this.finish();
    });
  }

  /** Bytes of an incomplete frame received so far (non-zero at the end means a truncated frame). */
  get partialBytes(): number {
    return this.filled;
  }

  /**
   * The next whole frame, or null when the stream has ended (or `cancel` was called). Rejects
   * with the stream's error if it failed. Only one call may be pending at a time.
   */
  next(): Promise<Uint8Array | null> {
    const frame = this.ready.shift();
    if (frame) {
      if (this.ready.length === 0 && !this.ended) this.stream.resume();
      return Promise.resolve(frame);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new Error('RawFrameReader.next() is already pending'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.stream.resume();
    });
  }

  /** Ends reading now: a pending `next()` resolves null and later frames are discarded. */
  cancel(): void {
    this.ready.length = 0;
    this.finish();
    this.stream.pause();
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let offset = 0;
    while (offset < chunk.length) {
      this.current ??= new Uint8Array(this.frameBytes);
      const count = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + count), this.filled);
      this.filled += count;
      offset += count;
      if (this.filled === this.frameBytes) {
        this.deliver(this.current);
        this.current = null;
        this.filled = 0;
      }
    }
    if (this.ready.length > 0) this.stream.pause();
  }

  private deliver(frame: Uint8Array): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter.resolve(frame);
    } else {
      this.ready.push(frame);
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const waiter = this.waiter;
    if (waiter && this.ready.length === 0) {
      this.waiter = null;
      if (this.error) waiter.reject(this.error);
      else waiter.resolve(null);
    }
  }
}
