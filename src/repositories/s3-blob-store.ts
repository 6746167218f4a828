/**
 * The content-addressed blob store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW),
 * through `@aws-sdk/client-s3`. Objects are named `<prefix>ab/cd/<sha256>`, the same names the
 * local store uses under its directory, so `aws s3 sync ./data/blobs s3://bucket/prefix`
 * (excluding `tmp/`) moves a local store to a bucket.
 *
 * - `put(bytes)` goes through lib-storage's `Upload`: one PutObject for small objects, a
 *   multipart upload (parts of `partSizeBytes`) for large ones.
 * - `putStream(source)` never holds the whole object: it uploads to a temporary name
 *   (`<prefix>tmp/…`, multipart as it goes) while hashing, then copies to the key's name
 *   server-side and deletes the temporary object; a reader never sees a partial object.
 * - `get` buffers (frames, manifests), `stream` streams the response body (models, archives).
 *
 * It never takes a path or an object name from a caller: only keys, checked to be 64 hex digits.
 * It never reads process.env (src/config parses the S3 settings).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobKey } from '../db/schema.js';
import {
  HashingStream,
  blobKeyOf,
  blobObjectName,
  type BlobSource,
  type BlobStat,
  type BlobStore,
  type StoredBlob,
} from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every object name; '' or ending in '/'. */
  prefix: string;
  /** `http(s)://host:port` of a non-AWS server (MinIO, Ceph RGW, s3rver); undefined: AWS. */
  endpoint?: string;
  region: string;
  /** Undefined: the SDK's default credential chain (instance roles, profiles…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Path-style URLs (`endpoint/bucket/key`): MinIO and most self-hosted servers need them. */
  forcePathStyle: boolean;
  /** Multipart part size, bytes (S3's minimum is 5 MiB). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once per upload. Default 4. */
  queueSize?: number;
}

const MiB = 1024 * 1024;

/** A 404 from S3: HeadObject answers `NotFound`, GetObject `NoSuchKey`. */
function isNotFound(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const name = 'name' in error ? error.name : undefined;
  if (name === 'NotFound' || name === 'NoSuchKey') return true;
  const metadata = '$metadata' in error ? error.$metadata : undefined;
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    'httpStatusCode' in metadata &&
    metadata.httpStatusCode === 404
  );
}

export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Checksums only where S3 requires them: the SDK's default CRC32 trailers on every
      // request are not understood by every S3-compatible server (older MinIO, Ceph, s3rver).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.partSize = Math.max(5 * MiB, options.partSizeBytes ?? 8 * MiB);
    this.queueSize = Math.max(1, options.queueSize ?? 4);
  }

  /** Where it stores, safe to log: `s3://bucket/prefix` (plus the endpoint when not AWS). */
  get location(): string {
    const url = `s3://${this.options.bucket}/${this.options.prefix}`;
    return this.options.endpoint === undefined ? url : `${url} at ${this.options.endpoint}`;
  }

  private objectName(key: BlobKey): string {
    return `${this.options.prefix}${blobObjectName(key)}`;
  }

  async put(data: Uint8Array): Promise<StoredBlob> {
    const key = blobKeyOf(data);
    const existing = await this.stat(key);
    if (existing !== null) return { key, bytes: existing.bytes, created: false };
    await this.upload(this.objectName(key), Buffer.from(data.buffer, data.byteOffset, data.length));
    return { key, bytes: data.byteLength, created: true };
  }

  async putStream(source: BlobSource): Promise<StoredBlob> {
    const tmpName = `${this.options.prefix}tmp/${Date.now()}-${randomBytes(8).toString('hex')}`;
    const hashing = new HashingStream();
    const input = isNodeStream(source) ? source : Readable.from(source);
    const piping = pipeline(input, hashing);
    // A failed upload stops reading the source; a failed source fails the upload. The
    // source's error is the one worth reporting.
    const uploading = this.upload(tmpName, hashing).catch((error: unknown) => {
      hashing.destroy();
      throw error;
    });
    try {
      const [read, uploaded] = await Promise.allSettled([piping, uploading]);
      if (read.status === 'rejected') throw read.reason;
      if (uploaded.status === 'rejected') throw uploaded.reason;
      const key = hashing.digest();
      const existing = await this.stat(key);
      if (existing !== null) return { key, bytes: existing.bytes, created: false };
      // Server-side copy: one request, no bytes through this process (S3's single-request
      // copy limit is 5 GiB, far above any model or dataset archive here).
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.options.bucket,
          Key: this.objectName(key),
          CopySource: `${this.options.bucket}/${tmpName}`,
        }),
      );
      return { key, bytes: hashing.bytes, created: true };
    } finally {
      await this.client
        .send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: tmpName }))
        .catch(() => undefined);
    }
  }

  async has(key: BlobKey): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async get(key: BlobKey): Promise<Buffer | null> {
    const body = await this.getBody(key);
    return body === null ? null : Buffer.from(await body.transformToByteArray());
  }

  async stat(key: BlobKey): Promise<BlobStat | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectName(key) }),
      );
      return { key, bytes: head.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async stream(key: BlobKey): Promise<NodeJS.ReadableStream | null> {
    const body = await this.getBody(key);
    if (body === null) return null;
    // In Node the SDK's body is an http.IncomingMessage (a Readable) with SDK mixins.
    if (body instanceof Readable) return body;
    return Readable.fromWeb(body.transformToWebStream() as Parameters<typeof Readable.fromWeb>[0]);
  }

  /** HeadBucket: the bucket exists and these credentials may use it (no write per probe). */
  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
  }

  async delete(key: BlobKey): Promise<void> {
    // S3's DeleteObject succeeds for a missing key too.
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectName(key) }),
    );
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  private async getBody(key: BlobKey) {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectName(key) }),
      );
      if (object.Body === undefined) return null;
      return object.Body;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  private async upload(name: string, body: Buffer | Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.options.bucket, Key: name, Body: body },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  }
}

function isNodeStream(source: BlobSource): source is NodeJS.ReadableStream {
  return typeof (source as NodeJS.ReadableStream).pipe === 'function';
}
