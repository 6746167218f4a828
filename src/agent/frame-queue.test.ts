import { describe, expect, it } from 'vitest';
import { DropOldestQueue } from './frame-queue.js';

describe('DropOldestQueue', () => {
  it('drops the oldest item when full and counts it', async () => {
    const queue = new DropOldestQueue<number>(2);
    expect(queue.push(1)).toBeUndefined();
    expect(queue.push(2)).toBeUndefined();
    expect(queue.push(3)).toBe(1);
    expect(queue.push(4)).toBe(2);
    expect(queue.dropped).toBe(2);
    expect(await queue.take()).toBe(3);
    expect(await queue.take()).toBe(4);
  });

  it('hands an item straight to a waiting taker', async () => {
    const queue = new DropOldestQueue<string>(1);
    const taken = queue.take();
    queue.push('a');
    expect(await taken).toBe('a');
    expect(queue.size).toBe(0);
  });

  it('resolves take() with null once closed and drained', async () => {
    const queue = new DropOldestQueue<number>(3);
    queue.push(7);
    queue.close();
    expect(await queue.take()).toBe(7);
    expect(await queue.take()).toBeNull();
    const waiting = new DropOldestQueue<number>(1);
    const pending = waiting.take();
    waiting.close();
    expect(await pending).toBeNull();
  });

  it('waitForSpace holds a lossless producer until the consumer takes', async () => {
    const queue = new DropOldestQueue<number>(1);
    queue.push(1);
    let released = false;
    const space = queue.waitForSpace().then(() => {
      released = true;
    });
    await Promise.resolve();
    expect(released).toBe(false);
    expect(await queue.take()).toBe(1);
    await space;
    expect(released).toBe(true);
    expect(queue.dropped).toBe(0);
  });

  it('rejects a capacity below 1', () => {
    expect(() => new DropOldestQueue(0)).toThrow(/capacity/);
  });
});
