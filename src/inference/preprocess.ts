/**
 * Frame → network input: Ultralytics' letterbox (gray 114 padding) with the trainer's exact
 * bilinear resize (src/vision/resize.ts), written straight into a CHW float32 tensor in 0..1
 * that the caller owns and reuses. The golden test in preprocess.test.ts holds serving and
 * training together byte for byte.
 */
import type { RgbImage } from '../vision/image.js';
import { computeLetterbox, LETTERBOX_FILL, type LetterboxTransform } from '../vision/letterbox.js';
import { resizeIntoTensor } from '../vision/resize.js';

const PAD_VALUE = LETTERBOX_FILL / 255;

function sameGeometry(a: LetterboxTransform | null, b: LetterboxTransform): boolean {
  return (
    a !== null &&
    a.inputWidth === b.inputWidth &&
    a.inputHeight === b.inputHeight &&
    a.padLeft === b.padLeft &&
    a.padTop === b.padTop &&
    a.resizedWidth === b.resizedWidth &&
    a.resizedHeight === b.resizedHeight
  );
}

/**
 * Letterboxes `image` into `tensor` (3 × inputHeight × inputWidth floats) and returns the
 * transform that maps boxes back. The padding is rewritten only when the geometry differs
 * from `previous` (the last transform written into the same tensor): between frames of one
 * camera only the image region changes.
 */
export function letterboxToTensor(
  image: RgbImage,
  inputWidth: number,
  inputHeight: number,
  tensor: Float32Array,
  previous: LetterboxTransform | null = null,
): LetterboxTransform {
  const expected = 3 * inputWidth * inputHeight;
  if (tensor.length !== expected) {
    throw new RangeError(`tensor holds ${tensor.length} floats, expected ${expected}`);
  }
  const transform = computeLetterbox(image.width, image.height, inputWidth, inputHeight);
  if (!sameGeometry(previous, transform)) tensor.fill(PAD_VALUE);
  resizeIntoTensor(image, transform, tensor);
  return transform;
}
