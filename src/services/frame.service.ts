/**
 * Frames: the JPEGs agents upload for sampled results, linked to the stored result by id.
 *
 * An upload is checked before anything is stored: the result must exist (404 otherwise, so an
 * agent whose result is still in its outbox retries later), the bytes must be a JPEG whose
 * header claims at most `maxPixels` pixels (checked before decoding, so a decompression bomb
 * costs nothing), and the whole image must decode (a truncated upload is refused). The blob
 * store keys the bytes by their sha256: uploading the same frame again changes nothing, and a
 * result keeps the first frame it was given (another frame for it is a CONFLICT).
 */
import sharp from 'sharp';
import type { BlobStore } from '../repositories/blob-store.js';
import { blobKeyOf } from '../repositories/blob-store.js';
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { FrameUploadResponse } from '../shared/api/ingest.js';
import { MAX_FRAME_PIXELS } from '../shared/api/ingest.js';
import { VisionLoopError, messageOf } from '../shared/errors.js';

export interface FrameServiceOptions {
  /** Largest decoded image accepted, pixels. Default MAX_FRAME_PIXELS. */
  maxPixels?: number;
  /**
   * Runs after every accepted upload (also a repeated one), before the answer: the sampling
   * service turns a sampled frame into a labeling-queue item. Its failure fails the upload, so
   * the agent sends the frame again.
   */
  onStored?: (frame: {
    id: string;
    blob: string;
    width: number;
    height: number;
  }) => Promise<unknown>;
}

export interface StoredFrame {
  key: string;
  bytes: number;
  stream: NodeJS.ReadableStream;
}

export interface JpegInfo {
  width: number;
  height: number;
}

/**
 * Checks that `data` is a complete JPEG of at most `maxPixels` pixels. Throws IMAGE_INVALID
 * otherwise. Reads the header first; decodes (scaled down by the JPEG decoder, which still
 * reads every byte) only when the header is acceptable.
 */
export async function inspectJpeg(data: Buffer, maxPixels: number): Promise<JpegInfo> {
  // SOI marker: anything else is not a JPEG, whatever a decoder might make of it.
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) {
    throw new VisionLoopError('IMAGE_INVALID', 'the upload is not a JPEG image');
  }
  let width: number;
  let height: number;
  try {
    const meta = await sharp(data, { limitInputPixels: maxPixels }).metadata();
    if (meta.format !== 'jpeg') throw new Error(`a ${meta.format} image`);
    width = meta.width;
    height = meta.height;
  } catch (error) {
    throw new VisionLoopError(
      'IMAGE_INVALID',
      `the upload is not a usable JPEG: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  if (!(width > 0 && height > 0) || width * height > maxPixels) {
    throw new VisionLoopError(
      'IMAGE_INVALID',
      `the JPEG claims ${width}×${height} pixels; at most ${maxPixels} are accepted`,
    );
  }
  try {
    await sharp(data, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .resize(64, 64, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (error) {
    throw new VisionLoopError('IMAGE_INVALID', `the JPEG does not decode: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return { width, height };
}

export class FrameService {
  private readonly maxPixels: number;
  private readonly onStored: FrameServiceOptions['onStored'];

  constructor(
    private readonly predictions: PredictionRepository,
    private readonly blobs: BlobStore,
    options: FrameServiceOptions = {},
  ) {
    this.maxPixels = options.maxPixels ?? MAX_FRAME_PIXELS;
    this.onStored = options.onStored;
  }

  async storeFrame(id: string, jpeg: Buffer): Promise<FrameUploadResponse> {
    const link = await this.predictions.findFrameLink(id);
    if (link === undefined) {
      throw new VisionLoopError('NOT_FOUND', `no frame result with id ${id} is stored (yet)`);
    }
    const key = blobKeyOf(jpeg);
    if (link.frameBlob !== null && link.frameBlob !== key) throw conflict(id);
    const { width, height } = await inspectJpeg(jpeg, this.maxPixels);
    const stored = await this.blobs.put(jpeg);
    if (!(await this.predictions.linkFrame(id, stored.key))) throw conflict(id);
    await this.onStored?.({ id, blob: stored.key, width, height });
    return { id, blob: stored.key, width, height, bytes: stored.bytes };
  }

  /** The frame of result `id`. NOT_FOUND when there is no such result or it has no frame. */
  async openFrame(id: string): Promise<StoredFrame> {
    const link = await this.predictions.findFrameLink(id);
    if (link === undefined) throw new VisionLoopError('NOT_FOUND', `no frame result with id ${id}`);
    if (link.frameBlob === null) {
      throw new VisionLoopError('NOT_FOUND', `frame result ${id} has no uploaded frame`);
    }
    const stat = await this.blobs.stat(link.frameBlob);
    const stream = stat === null ? null : await this.blobs.stream(link.frameBlob);
    if (stat === null || stream === null) {
      throw new VisionLoopError(
        'NOT_FOUND',
        `the frame of result ${id} is missing from the blob store`,
      );
    }
    return { key: link.frameBlob, bytes: stat.bytes, stream };
  }
}

function conflict(id: string): VisionLoopError {
  return new VisionLoopError('CONFLICT', `frame result ${id} already has a different frame`);
}
