import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RawFrameReader } from './raw-frame-reader.js';

/** Bytes 0, 1, 2, … (mod 251, so frame boundaries do not line up with the pattern). */
function sequence(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) bytes[i] = i % 251;
  return bytes;
}

describe('RawFrameReader', () => {
  it('cuts chunks that straddle frame boundaries into exact frames, in order', async () => {
    const stream = new PassThrough();
    const reader = new RawFrameReader(stream, 10);
    const all = sequence(35);
    // Chunk sizes 3, 14, 1, 17: boundaries fall inside chunks and across them.
    stream.write(all.subarray(0, 3));
    stream.write(all.subarray(3, 17));
    stream.write(all.subarray(17, 18));
    stream.end(all.subarray(18));

    const frames: Uint8Array[] = [];
    for (let frame = await reader.next(); frame; frame = await reader.next()) frames.push(frame);
    expect(frames.map((frame) => Array.from(frame))).toEqual([
      Array.from(all.subarray(0, 10)),
      Array.from(all.subarray(10, 20)),
      Array.from(all.subarray(20, 30)),
    ]);
    // The 5 trailing bytes are an incomplete frame, reported rather than delivered.
    expect(reader.partialBytes).toBe(5);
  });

  it('gives each frame its own memory', async () => {
    const stream = new PassThrough();
    const reader = new RawFrameReader(stream, 4);
    stream.end(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const first = await reader.next();
    const second = await reader.next();
    second?.fill(0);
    expect(Array.from(first ?? [])).toEqual([1, 2, 3, 4]);
    expect(first?.buffer).not.toBe(second?.buffer);
  });

  it('pauses the stream while a whole frame waits for the consumer, and resumes on demand', async () => {
    const stream = new PassThrough();
    const reader = new RawFrameReader(stream, 4);
    stream.write(Buffer.from([1, 2, 3, 4, 5]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.isPaused()).toBe(true);

    expect(Array.from((await reader.next()) ?? [])).toEqual([1, 2, 3, 4]);
    expect(stream.isPaused()).toBe(false);
    stream.end(Buffer.from([6, 7, 8]));
    expect(Array.from((await reader.next()) ?? [])).toEqual([5, 6, 7, 8]);
    expect(await reader.next()).toBeNull();
  });

  it('resolves a pending read with null when cancelled', async () => {
    const stream = new PassThrough();
    const reader = new RawFrameReader(stream, 4);
    const pending = reader.next();
    reader.cancel();
    expect(await pending).toBeNull();
    expect(await reader.next()).toBeNull();
  });

  it('rejects a pending read when the stream fails', async () => {
    const stream = new PassThrough();
    const reader = new RawFrameReader(stream, 4);
    const pending = reader.next();
    stream.destroy(new Error('pipe broke'));
    await expect(pending).rejects.toThrow('pipe broke');
  });
});
