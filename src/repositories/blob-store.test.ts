/**
 * One suite, two adapters: the local directory store and the S3 store against a real
 * S3-protocol server (s3rver on 127.0.0.1, a free port, a temp directory).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestS3Server, type TestS3Server } from '../../test/helpers/s3-server.js';
import { LocalBlobStore, blobKeyOf, isBlobKey, type BlobStore } from './blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

const HELLO_SHA256 = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const MiB = 1024 * 1024;

/** Deterministic bytes (xorshift32 from `seed`), in 64 KiB chunks. */
function* seededChunks(totalBytes: number, seed: number): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  for (let offset = 0; offset < totalBytes; offset += 65_536) {
    const chunk = Buffer.alloc(Math.min(65_536, totalBytes - offset));
    for (let i = 0; i < chunk.length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      chunk[i] = state & 0xff;
    }
    yield chunk;
  }
}

function sha256Of(chunks: Iterable<Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Where a store keeps the object of `key`, relative to its root. */
function blobPath(key: string): string {
  return `${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`;
}

interface StoreHarness {
  store: BlobStore;
  /** Every object the store holds, by name relative to its root (temp objects included). */
  objectNames(): Promise<string[]>;
  /** A store of the same kind that cannot be used (its check must fail). */
  unusable(): BlobStore;
}

/** The behaviour every blob store adapter must have. */
function blobStoreSuite(open: () => Promise<StoreHarness>, close: () => Promise<void>): void {
  let harness: StoreHarness;
  let store: BlobStore;

  beforeEach(async () => {
    harness = await open();
    store = harness.store;
  });
  afterEach(close);

  it('keys objects by the sha256 of their bytes, named ab/cd/<key>', async () => {
    const stored = await store.put(Buffer.from('hello'));
    expect(stored).toEqual({ key: HELLO_SHA256, bytes: 5, created: true });
    expect(blobKeyOf(Buffer.from('hello'))).toBe(HELLO_SHA256);
    expect(await harness.objectNames()).toEqual([`2c/f2/${HELLO_SHA256}`]);
  });

  it('stores the same bytes once and reads them back', async () => {
    await store.put(Buffer.from('hello'));
    const again = await store.put(Buffer.from('hello'));
    expect(again).toEqual({ key: HELLO_SHA256, bytes: 5, created: false });
    expect(await store.has(HELLO_SHA256)).toBe(true);
    expect((await store.get(HELLO_SHA256))?.toString()).toBe('hello');
    expect(await store.stat(HELLO_SHA256)).toEqual({ key: HELLO_SHA256, bytes: 5 });
    const stream = await store.stream(HELLO_SHA256);
    expect(stream === null ? null : await text(stream)).toBe('hello');
    // One object, no temp objects left behind.
    expect(await harness.objectNames()).toEqual([`2c/f2/${HELLO_SHA256}`]);
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
      await expect(store.stream(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('deletes one object, leaves the others, and takes a missing key or a bad one as such', async () => {
    const kept = await store.put(Buffer.from('kept'));
    await store.put(Buffer.from('hello'));
    await store.delete(HELLO_SHA256);
    expect(await store.has(HELLO_SHA256)).toBe(false);
    expect(await store.get(HELLO_SHA256)).toBeNull();
    expect((await store.get(kept.key))?.toString()).toBe('kept');
    await expect(store.delete(HELLO_SHA256)).resolves.toBeUndefined();
    await expect(store.delete('../../etc/passwd')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await harness.objectNames()).toEqual([blobPath(kept.key)]);
  });

  it('passes its check when usable and fails it when not', async () => {
    await expect(store.check()).resolves.toBeUndefined();
    await expect(harness.unusable().check()).rejects.toThrow();
  });

  it('stores a 12 MiB stream under the sha256 of its bytes and streams it back', async () => {
    const expected = sha256Of(seededChunks(12 * MiB, 7));
    const stored = await store.putStream(Readable.from(seededChunks(12 * MiB, 7)));
    expect(stored).toEqual({ key: expected, bytes: 12 * MiB, created: true });
    expect(await store.stat(expected)).toEqual({ key: expected, bytes: 12 * MiB });
    const stream = await store.stream(expected);
    expect(stream === null ? null : await sha256OfStream(stream)).toBe(expected);
    // The same bytes again (as an async iterable this time): stored once.
    const again = await store.putStream(seededChunks(12 * MiB, 7));
    expect(again).toEqual({ key: expected, bytes: 12 * MiB, created: false });
    expect(await harness.objectNames()).toEqual([
      `${expected.slice(0, 2)}/${expected.slice(2, 4)}/${expected}`,
    ]);
  });

  it('stores nothing when the source stream fails midway', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield* seededChunks(6 * MiB, 3);
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('camera cable pulled');
    }
    await expect(store.putStream(failing())).rejects.toThrow(/camera cable pulled/);
    expect(await harness.objectNames()).toEqual([]);
  });

  it('round-trips a 6 MiB buffer through put/get', async () => {
    const bytes = Buffer.concat([...seededChunks(6 * MiB, 11)]);
    const stored = await store.put(bytes);
    expect(stored).toEqual({ key: blobKeyOf(bytes), bytes: 6 * MiB, created: true });
    const read = await store.get(stored.key);
    expect(read?.equals(bytes)).toBe(true);
  });
}

function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

describe('LocalBlobStore', () => {
  let root: string;
  blobStoreSuite(
    () => {
      root = mkdtempSync(join(tmpdir(), 'visionloop-blob-test-'));
      return Promise.resolve({
        store: new LocalBlobStore(root),
        objectNames: () => Promise.resolve(listFiles(root)),
        unusable() {
          // A directory under a regular file can never be created.
          const file = join(root, 'plain-file');
          writeFileSync(file, 'x');
          return new LocalBlobStore(join(file, 'blobs'));
        },
      });
    },
    () => {
      rmSync(root, { recursive: true, force: true });
      return Promise.resolve();
    },
  );
});

describe('S3BlobStore on s3rver', () => {
  let server: TestS3Server;
  let admin: S3Client;
  let prefix: string;
  let run = 0;
  const stores: S3BlobStore[] = [];

  beforeAll(async () => {
    server = await startTestS3Server();
    admin = new S3Client({
      region: server.region,
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
  });
  afterAll(async () => {
    admin?.destroy();
    await server?.close();
  });

  function storeFor(bucket: string, storePrefix: string): S3BlobStore {
    const store = new S3BlobStore({
      bucket,
      prefix: storePrefix,
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      forcePathStyle: true,
      partSizeBytes: 5 * MiB,
    });
    stores.push(store);
    return store;
  }

  async function objectNames(): Promise<string[]> {
    const listed = await admin.send(
      new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }),
    );
    return (listed.Contents ?? []).map((object) => (object.Key ?? '').slice(prefix.length)).sort();
  }

  // Each test gets its own prefix in the one bucket, so names never collide.
  blobStoreSuite(
    () => {
      prefix = `run-${++run}/blobs/`;
      return Promise.resolve({
        store: storeFor(server.bucket, prefix),
        objectNames,
        unusable: () => storeFor('no-such-bucket', ''),
      });
    },
    () => {
      for (const store of stores.splice(0)) store.destroy();
      return Promise.resolve();
    },
  );

  it('uploads large objects in parts and small ones in one request', async () => {
    prefix = 'multipart/';
    const store = storeFor(server.bucket, prefix);
    server.created.length = 0;
    const small = await store.put(Buffer.from('hello'));
    const bigBuffer = await store.put(Buffer.concat([...seededChunks(12 * MiB, 9)]));
    const bigStream = await store.putStream(seededChunks(12 * MiB, 5));
    const nameOf = (key: string) => `${prefix}${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`;
    // Put: one request; Post: a completed multipart upload; Copy: server-side copy.
    expect(
      server.created.map(({ how, name }) => ({ how, name: name.replace(/tmp\/.*/, 'tmp/…') })),
    ).toEqual([
      { how: 'Put', name: nameOf(small.key) },
      { how: 'Post', name: nameOf(bigBuffer.key) },
      { how: 'Post', name: `${prefix}tmp/…` },
      { how: 'Copy', name: nameOf(bigStream.key) },
    ]);
    store.destroy();
  });
});
