/**
 * The frame-source contract: every camera kind (synthetic line, image folder, video file, RTSP,
 * V4L2) yields decoded RGB frames through this one interface. Sources never drop frames
 * themselves; the pipeline's bounded queue decides what to drop when inference falls behind.
 */
import type { Box } from '../shared/domain.js';
import type { RgbImage } from '../vision/image.js';

export interface CapturedFrame {
  /** Frame number from 0 in the order the source produced it. */
  index: number;
  /** Wall-clock capture time, epoch ms. */
  capturedAt: number;
  image: RgbImage;
  /** Ground truth when the source knows it (the synthetic line). */
  groundTruth?: { classId: number; className: string; box: Box }[];
  /** Where the frame came from, e.g. a file name; for logs. */
  label?: string;
}

export interface FrameSource {
  /** A human description, e.g. `synth:nominal (seed 1, 15 fps)` or `video /x/y.mp4`. */
  readonly description: string;
  /** Frames per second the source delivers at (null: as fast as it can be read). */
  readonly fps: number | null;
  /**
   * True for sources that produce frames on their own clock (cameras, streams, paced files and
   * the paced synthetic line): the pipeline drops the oldest frame rather than fall behind.
   * False for sources read on demand (unpaced files): the pipeline reads them losslessly.
   */
  readonly live: boolean;
  /**
   * The frames, in order. Iteration ends when the source is exhausted (a file) or the signal
   * aborts (live sources never end on their own).
   */
  frames(signal?: AbortSignal): AsyncIterable<CapturedFrame>;
  /** Releases the source (kills ffmpeg, closes files). Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenSourceOptions {
  /** Pace file and synthetic sources at this rate (frames/s); 0 = as fast as possible. */
  fps?: number;
  /** Stop after this many frames (files and synthetic sources). */
  maxFrames?: number;
  /** Seed of the synthetic line. */
  seed?: number;
  /** Loop a file source forever (demo). */
  loop?: boolean;
  /** Output size for ffmpeg sources; defaults to the stream's own size. */
  width?: number;
  height?: number;
}
