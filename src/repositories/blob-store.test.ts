import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBlobStore, blobKeyOf, isBlobKey } from './blob-store.js';

const HELLO_SHA256 = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('LocalBlobStore', () => {
  let root: string;
  let store: LocalBlobStore;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'visionloop-blob-test-'));
    store = new LocalBlobStore(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keys objects by the sha256 of their bytes, fanned out as ab/cd/<key>', async () => {
    const stored = await store.put(Buffer.from('hello'));
    expect(stored).toEqual({ key: HELLO_SHA256, bytes: 5, created: true });
    expect(statSync(join(root, '2c', 'f2', HELLO_SHA256)).size).toBe(5);
    expect(blobKeyOf(Buffer.from('hello'))).toBe(HELLO_SHA256);
  });

  it('stores the same bytes once and reads them back', async () => {
    await store.put(Buffer.from('hello'));
    const again = await store.put(Buffer.from('hello'));
    expect(again.created).toBe(false);
    expect(await store.has(HELLO_SHA256)).toBe(true);
    expect((await store.get(HELLO_SHA256))?.toString()).toBe('hello');
    expect(await store.stat(HELLO_SHA256)).toEqual({ key: HELLO_SHA256, bytes: 5 });
    const stream = await store.stream(HELLO_SHA256);
    expect(stream === null ? null : await text(stream)).toBe('hello');
    // No temp files left behind.
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('answers null for a key it does not hold', async () => {
    const missing = 'f'.repeat(64);
    expect(await store.has(missing)).toBe(false);
    expect(await store.get(missing)).toBeNull();
    expect(await store.stat(missing)).toBeNull();
    expect(await store.stream(missing)).toBeNull();
  });

  it('refuses anything but a 64-hex-digit key, so no path can be named', async () => {
    for (const bad of ['../../etc/passwd', 'a/b', 'F'.repeat(64), '0'.repeat(63), '']) {
      expect(isBlobKey(bad)).toBe(false);
      await expect(store.get(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('passes its check on a writable directory and fails under a regular file', async () => {
    await expect(store.check()).resolves.toBeUndefined();
    const file = join(root, 'plain-file');
    writeFileSync(file, 'x');
    await expect(new LocalBlobStore(join(file, 'blobs')).check()).rejects.toThrow();
  });
});
