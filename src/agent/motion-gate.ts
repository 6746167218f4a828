/**
 * Frigate-style motion gating: run the detector only when the scene changed, plus a keep-alive
 * detection every few seconds so a defect that appears without motion (or a slow drift) is
 * still seen. Works on a small, blurred gray copy of the frame against a running-average
 * background, so sensor noise does not count as motion.
 */
import type { RgbImage } from '../vision/image.js';

export interface MotionGateOptions {
  /** Off: every frame is detected. */
  enabled: boolean;
  /** Height of the gray working frame in pixels (Frigate's motion frame height is ~100). */
  workHeight: number;
  /** Gray-level difference (0–255) from the background that marks a changed pixel. */
  pixelThreshold: number;
  /** Fraction of changed pixels that counts as motion. */
  minChangedFraction: number;
  /** Weight of the new frame in the running-average background. */
  backgroundAlpha: number;
  /** Detect at least this often even without motion, ms. */
  keepAliveMs: number;
}

export const DEFAULT_MOTION_GATE: MotionGateOptions = {
  enabled: true,
  workHeight: 90,
  pixelThreshold: 25,
  minChangedFraction: 0.002,
  backgroundAlpha: 0.2,
  keepAliveMs: 5_000,
};

export type GateVerdict = 'motion' | 'keep-alive' | 'first-frame' | 'still' | 'gate-off';

export class MotionGate {
  private background: Float32Array | null = null;
  private work: Float32Array | null = null;
  private blurred: Float32Array | null = null;
  private workWidth = 0;
  private workHeight = 0;
  private sourceKey = '';
  private lastDetectAt = -Infinity;
  /** Fraction of changed pixels in the last frame examined. */
  lastChangedFraction = 0;

  constructor(private readonly options: MotionGateOptions = DEFAULT_MOTION_GATE) {}

  /** Decides whether `image`, captured at `now`, should go to the detector. */
  check(image: RgbImage, now: number): GateVerdict {
    if (!this.options.enabled) return 'gate-off';
    const first = this.prepare(image);
    const work = this.work as Float32Array;
    const blurred = this.blurred as Float32Array;
    const background = this.background as Float32Array;
    this.downscaleGray(image, work);
    boxBlur3(work, blurred, this.workWidth, this.workHeight);
    let verdict: GateVerdict;
    if (first) {
      background.set(blurred);
      this.lastChangedFraction = 1;
      verdict = 'first-frame';
    } else {
      let changed = 0;
      const threshold = this.options.pixelThreshold;
      const alpha = this.options.backgroundAlpha;
      for (let i = 0; i < blurred.length; i++) {
        const value = blurred[i] ?? 0;
        const bg = background[i] ?? 0;
        if (Math.abs(value - bg) > threshold) changed++;
        background[i] = bg + alpha * (value - bg);
      }
      this.lastChangedFraction = changed / blurred.length;
      // A global change (lights switched) would keep the whole frame "moving" until the
      // average catches up; adopt the new frame as the background at once (as Frigate does).
      if (this.lastChangedFraction > 0.8) background.set(blurred);
      if (this.lastChangedFraction >= this.options.minChangedFraction) verdict = 'motion';
      else if (now - this.lastDetectAt >= this.options.keepAliveMs) verdict = 'keep-alive';
      else verdict = 'still';
    }
    if (verdict !== 'still') this.lastDetectAt = now;
    return verdict;
  }

  private prepare(image: RgbImage): boolean {
    const key = `${image.width}x${image.height}`;
    if (key === this.sourceKey && this.background) return false;
    this.sourceKey = key;
    this.workHeight = Math.max(1, Math.min(image.height, this.options.workHeight));
    this.workWidth = Math.max(1, Math.round((image.width * this.workHeight) / image.height));
    const size = this.workWidth * this.workHeight;
    this.work = new Float32Array(size);
    this.blurred = new Float32Array(size);
    this.background = new Float32Array(size);
    return true;
  }

  /** Area-average downscale to gray (BT.601 luma). */
  private downscaleGray(image: RgbImage, out: Float32Array): void {
    const { width, height, data } = image;
    const ww = this.workWidth;
    const wh = this.workHeight;
    for (let y = 0; y < wh; y++) {
      const y0 = Math.floor((y * height) / wh);
      const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * height) / wh));
      for (let x = 0; x < ww; x++) {
        const x0 = Math.floor((x * width) / ww);
        const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * width) / ww));
        let sum = 0;
        for (let yy = y0; yy < y1; yy++) {
          let p = (yy * width + x0) * 3;
          for (let xx = x0; xx < x1; xx++, p += 3) {
            sum += 0.299 * (data[p] ?? 0) + 0.587 * (data[p + 1] ?? 0) + 0.114 * (data[p + 2] ?? 0);
          }
        }
        out[y * ww + x] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

/** 3×3 box blur with edge clamping. */
function boxBlur3(src: Float32Array, dst: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const ya = Math.max(0, y - 1);
    const yb = Math.min(height - 1, y + 1);
    for (let x = 0; x < width; x++) {
      const xa = Math.max(0, x - 1);
      const xb = Math.min(width - 1, x + 1);
      let sum = 0;
      let count = 0;
      for (let yy = ya; yy <= yb; yy++) {
        for (let xx = xa; xx <= xb; xx++) {
          sum += src[yy * width + xx] ?? 0;
          count++;
        }
      }
      dst[y * width + x] = sum / count;
    }
  }
}
