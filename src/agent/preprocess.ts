/**
 * Frame → network input: letterbox (Ultralytics' contract, gray 114) with sharp, then HWC uint8
 * → CHW float32 in 0..1 into a buffer the caller owns and reuses. Must match the trainer's
 * preprocessing (trainer/visionloop_trainer: PIL bilinear resize, same padding); the golden
 * test in preprocess.test.ts holds the two together.
 */
import sharp from 'sharp';
import type { RgbImage } from '../vision/image.js';
import { computeLetterbox, LETTERBOX_FILL, type LetterboxTransform } from '../vision/letterbox.js';

const PAD_VALUE = LETTERBOX_FILL / 255;
const INV_255 = 1 / 255;

/** Resizes an RGB image with sharp's bilinear kernel (the trainer uses PIL's bilinear). */
export async function resizeRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const data = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer();
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/**
 * Writes a letterboxed CHW float tensor. `tensor` must hold 3 × inputWidth × inputHeight floats.
 * The padding is rewritten only when the letterbox geometry changed since the last call with
 * the same buffer (`previous`), since only the image region changes between frames.
 */
export function writeLetterboxTensor(
  resized: RgbImage,
  transform: LetterboxTransform,
  tensor: Float32Array,
  previous: LetterboxTransform | null,
): void {
  const { inputWidth, inputHeight, padLeft, padTop } = transform;
  const plane = inputWidth * inputHeight;
  if (tensor.length !== plane * 3) {
    throw new RangeError(`tensor holds ${tensor.length} floats, expected ${plane * 3}`);
  }
  const sameGeometry =
    previous !== null &&
    previous.inputWidth === inputWidth &&
    previous.inputHeight === inputHeight &&
    previous.padLeft === padLeft &&
    previous.padTop === padTop &&
    previous.resizedWidth === transform.resizedWidth &&
    previous.resizedHeight === transform.resizedHeight;
  if (!sameGeometry) tensor.fill(PAD_VALUE);
  const src = resized.data;
  const w = resized.width;
  for (let y = 0; y < resized.height; y++) {
    let s = y * w * 3;
    let d = (y + padTop) * inputWidth + padLeft;
    const end = d + w;
    for (; d < end; d++, s += 3) {
      tensor[d] = (src[s] ?? 0) * INV_255;
      tensor[d + plane] = (src[s + 1] ?? 0) * INV_255;
      tensor[d + 2 * plane] = (src[s + 2] ?? 0) * INV_255;
    }
  }
}

/** Letterboxes `image` into `tensor`; returns the transform that maps boxes back. */
export async function letterboxToTensor(
  image: RgbImage,
  inputWidth: number,
  inputHeight: number,
  tensor: Float32Array,
  previous: LetterboxTransform | null = null,
): Promise<LetterboxTransform> {
  const transform = computeLetterbox(image.width, image.height, inputWidth, inputHeight);
  const resized = await resizeRgb(image, transform.resizedWidth, transform.resizedHeight);
  writeLetterboxTensor(resized, transform, tensor, previous);
  return transform;
}
