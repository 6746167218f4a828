/**
 * The content-addressed blob store: frames, model files, dataset manifests. An object's key is
 * the sha256 hex of its bytes, so storing the same bytes twice stores them once and a key
 * always names the same content. `BlobStore` is the interface; `LocalBlobStore` keeps objects
 * in a directory, fanned out as `ab/cd/<key>`; `S3BlobStore` (s3-blob-store.ts) keeps them in
 * an S3-compatible bucket under the same `ab/cd/<key>` names.
 *
 * It never takes a path from a caller: only keys, checked to be 64 hex digits, so nothing
 * outside its directory can be named. Writes are atomic (temp file, fsync, rename): a reader
 * never sees half an object, and a crash leaves at most a stray temp file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, constants as fsConstants } from 'node:fs';
import type { ReadStream } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import type { BlobKey } from '../db/schema.js';
import { VisionLoopError } from '../shared/errors.js';

export const BLOB_KEY_PATTERN = /^[0-9a-f]{64}$/;

export function isBlobKey(value: string): value is BlobKey {
  return BLOB_KEY_PATTERN.test(value);
}

/** The object's name under a store's root: `ab/cd/<key>` (both adapters use it). */
export function blobObjectName(key: BlobKey): string {
  assertKey(key);
  return `${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`;
}

/**
 * A pass-through stream that hashes (sha256) and counts the bytes flowing through it;
 * `digest()` is valid once the stream has ended.
 */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ): void {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    callback(null, chunk);
  }

  digest(): BlobKey {
    return this.hash.digest('hex');
  }
}

/** The key an object with these bytes has. */
export function blobKeyOf(data: Uint8Array): BlobKey {
  return createHash('sha256').update(data).digest('hex');
}

export interface StoredBlob {
  key: BlobKey;
  bytes: number;
  /** False when an object with these bytes was already stored. */
  created: boolean;
}

export interface BlobStat {
  key: BlobKey;
  bytes: number;
}

/** Bytes to store by streaming: a Node stream or any (async) iterable of chunks. */
export type BlobSource = NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface BlobStore {
  /** `local` or `s3`: shown in health. */
  readonly kind: string;
  put(data: Uint8Array): Promise<StoredBlob>;
  /**
   * Stores a stream without holding it in memory (model files, dataset archives): the key is
   * the sha256 of the bytes as they pass; the object becomes visible under it only once all
   * bytes are stored.
   */
  putStream(source: BlobSource): Promise<StoredBlob>;
  has(key: BlobKey): Promise<boolean>;
  /** The object's bytes, or null when there is none with this key. */
  get(key: BlobKey): Promise<Buffer | null>;
  stat(key: BlobKey): Promise<BlobStat | null>;
  /** A stream of the object's bytes, or null when there is none with this key. */
  stream(key: BlobKey): Promise<NodeJS.ReadableStream | null>;
  /** Throws when the store cannot be read and written (for health checks). */
  check(): Promise<void>;
  /** Removes the object (retention); no error when there is none with this key. */
  delete(key: BlobKey): Promise<void>;
}

function assertKey(key: string): void {
  if (!isBlobKey(key)) {
    throw new VisionLoopError('INVALID_ARGUMENT', 'a blob key is 64 lowercase hex digits');
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

export class LocalBlobStore implements BlobStore {
  readonly kind = 'local';
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;

  constructor(private readonly root: string) {
    this.tmpDir = join(root, 'tmp');
  }

  /** Where the object with `key` lives (whether or not it exists). */
  pathOf(key: BlobKey): string {
    return join(this.root, ...blobObjectName(key).split('/'));
  }

  async put(data: Uint8Array): Promise<StoredBlob> {
    const key = blobKeyOf(data);
    const path = this.pathOf(key);
    const existing = await this.stat(key);
    if (existing !== null) return { key, bytes: existing.bytes, created: false };
    await this.ensureDirs();
    const tmp = join(this.tmpDir, `${key}.${randomBytes(6).toString('hex')}.tmp`);
    const file = await open(tmp, 'wx', 0o644);
    try {
      await file.writeFile(data);
      // Durable before it becomes visible: after the rename, the key must mean these bytes.
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(tmp, { force: true });
      throw error;
    }
    await file.close();
    try {
      await mkdir(join(this.root, key.slice(0, 2), key.slice(2, 4)), { recursive: true });
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return { key, bytes: data.byteLength, created: true };
  }

  async putStream(source: BlobSource): Promise<StoredBlob> {
    await this.ensureDirs();
    const tmp = join(this.tmpDir, `stream.${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const file = await open(tmp, 'wx', 0o644);
      try {
        for await (const chunk of source) {
          const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(data);
          bytes += data.byteLength;
          await file.write(data);
        }
        // Durable before it becomes visible, as in put().
        await file.sync();
      } finally {
        await file.close();
      }
      const key = hash.digest('hex');
      const existing = await this.stat(key);
      if (existing !== null) {
        await rm(tmp, { force: true });
        return { key, bytes: existing.bytes, created: false };
      }
      await mkdir(join(this.root, key.slice(0, 2), key.slice(2, 4)), { recursive: true });
      await rename(tmp, this.pathOf(key));
      return { key, bytes, created: true };
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async has(key: BlobKey): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async get(key: BlobKey): Promise<Buffer | null> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async stat(key: BlobKey): Promise<BlobStat | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { key, bytes: info.size } : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async stream(key: BlobKey): Promise<ReadStream | null> {
    const path = this.pathOf(key);
    if ((await this.stat(key)) === null) return null;
    return createReadStream(path);
  }

  async check(): Promise<void> {
    await this.ensureDirs();
    await access(this.tmpDir, fsConstants.R_OK | fsConstants.W_OK);
  }
  async delete(key: BlobKey): Promise<void> {
    assertKey(key);
    await rm(this.pathOf(key), { force: true });
  }

  private ensureDirs(): Promise<void> {
    this.ready ??= mkdir(this.tmpDir, { recursive: true })
      .then(() => undefined)
      .catch((error: unknown) => {
        this.ready = undefined;
        throw error;
      });
    return this.ready;
  }
}
