/**
 * Encoded images (JPEG, PNG, WebP, TIFF… — whatever sharp reads) to the 8-bit RGB the
 * detectors and feature extractors take: EXIF orientation applied, alpha dropped, sRGB.
 * The one place that does it, for the server's /api/predict, the agent's folder source, the
 * evaluation data set reader and the simulated reviewer.
 */
import sharp from 'sharp';
import type { RgbImage } from '../vision/image.js';

export interface DecodeImageOptions {
  /** Refuse images with more pixels than this (sharp's limitInputPixels); default sharp's. */
  maxPixels?: number;
}

/**
 * `input` (encoded bytes, or a file path) decoded to RGB. Throws sharp's error for what it
 * cannot read, and an Error when the result is not three channels; callers wrap these in the
 * error their callers expect (IMAGE_INVALID, SOURCE_UNREADABLE…).
 */
export async function decodeToRgb(
  input: Uint8Array | string,
  options: DecodeImageOptions = {},
): Promise<RgbImage> {
  const { data, info } = await sharp(
    input,
    options.maxPixels === undefined ? {} : { limitInputPixels: options.maxPixels },
  )
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}
