/**
 * A folder of still images as a frame source, in natural filename order (img2 before img10).
 * Images are decoded to RGB with sharp (EXIF orientation applied, alpha dropped, grey and
 * 16-bit images converted to 8-bit sRGB); BMP, which sharp's libvips build cannot read, goes
 * through ffmpeg. Frames may differ in size: each carries its own width and height.
 *
 * The file list is fixed when the source opens (hidden files are skipped). An image that
 * cannot be decoded fails the iteration with SOURCE_UNREADABLE naming the file, rather than
 * being skipped: a silently skipped frame would shift everything a user compares by index.
 * The next image is decoded while the consumer handles the current one.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeToRgb } from '../../inference/decode-image.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { RgbImage } from '../../vision/image.js';
import type { CapturedFrame, FrameSource, OpenSourceOptions } from '../frame-source.js';
import { decodeImageWithFfmpeg } from './ffmpeg-image.js';
import { locateFfmpeg, type FfmpegLocateOptions } from './ffmpeg-locate.js';
import { FramePacer } from './frame-pacer.js';
import { iterationSignal, pacingFps, validateSourceOptions } from './source-options.js';

export const IMAGE_EXTENSIONS = [
  '.jpg',
  '.jpeg',
  '.png',
  '.bmp',
  '.webp',
  '.tif',
  '.tiff',
] as const;

/** Options of the folder source; the ffmpeg ones matter only for BMP files. */
export interface FolderSourceOptions extends OpenSourceOptions, FfmpegLocateOptions {}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Natural order: digit runs compare as numbers (`img2` < `img10`); ties fall back to code points. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

function isImageName(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return !name.startsWith('.') && (IMAGE_EXTENSIONS as readonly string[]).includes(ext);
}

/** The image files directly inside `dir`, in natural order. */
export async function listImages(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new VisionLoopError(
      'SOURCE_UNREADABLE',
      `cannot list the folder ${dir}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (!isImageName(entry.name)) continue;
    if (entry.isFile()) names.push(entry.name);
    else if (entry.isSymbolicLink()) {
      const target = await stat(path.join(dir, entry.name)).catch(() => null);
      if (target?.isFile()) names.push(entry.name);
    }
  }
  return names.sort(naturalCompare);
}

export class FolderSource implements FrameSource {
  readonly description: string;
  readonly fps: number | null;
  readonly live: boolean;
  private readonly closing = new AbortController();

  constructor(
    readonly dir: string,
    /** File names inside `dir`, in delivery order. */
    readonly files: readonly string[],
    private readonly options: FolderSourceOptions,
  ) {
    this.fps = pacingFps(options);
    this.live = this.fps !== null;
    const rate = this.fps !== null ? `, ${this.fps} fps` : '';
    const count = files.length === 1 ? '1 image' : `${files.length} images`;
    this.description = `folder ${dir} (${count}${rate})`;
  }

  /** Decodes one file of the folder. @throws VisionLoopError SOURCE_UNREADABLE naming the file. */
  async decode(name: string): Promise<RgbImage> {
    const file = path.join(this.dir, name);
    try {
      if (path.extname(name).toLowerCase() === '.bmp') {
        const tools = await locateFfmpeg(this.options);
        return await decodeImageWithFfmpeg(tools.ffmpeg, file);
      }
      return await decodeToRgb(file);
    } catch (error) {
      if (error instanceof VisionLoopError && error.code === 'FFMPEG_MISSING') {
        throw new VisionLoopError(
          'FFMPEG_MISSING',
          `${error.message} (needed to read BMP file ${file})`,
        );
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new VisionLoopError('SOURCE_UNREADABLE', `cannot decode image ${file}: ${reason}`, {
        cause: error,
      });
    }
  }

  async *frames(callerSignal?: AbortSignal): AsyncGenerator<CapturedFrame, void, undefined> {
    if (this.closing.signal.aborted) {
      throw new VisionLoopError('INTERNAL', `${this.description} is closed`);
    }
    const signal = iterationSignal(callerSignal, this.closing.signal);
    const maxFrames = this.options.maxFrames ?? Number.POSITIVE_INFINITY;
    const total = this.files.length;
    const pacer = this.fps !== null ? new FramePacer(this.fps) : null;
    const loop = this.options.loop === true;
    const fileAt = (frameIndex: number): string | undefined =>
      loop || frameIndex < total ? this.files[frameIndex % total] : undefined;
    const start = (name: string | undefined): Promise<RgbImage> | null => {
      if (name === undefined) return null;
      const pending = this.decode(name);
      // Observed here so an abandoned prefetch is not an unhandled rejection; awaited below.
      pending.catch(() => undefined);
      return pending;
    };

    let pending = maxFrames > 0 ? start(fileAt(0)) : null;
    for (let index = 0; pending !== null && index < maxFrames; index += 1) {
      const name = fileAt(index) ?? '';
      const image = await pending;
      pending = index + 1 < maxFrames ? start(fileAt(index + 1)) : null;
      if (pacer && !(await pacer.wait(signal))) return;
      if (signal.aborted) return;
      yield { index, capturedAt: Date.now(), image, label: name };
    }
  }

  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }
}

/**
 * Opens a folder of images.
 * @throws VisionLoopError SOURCE_EMPTY when it holds no image, SOURCE_UNREADABLE when it cannot be listed.
 */
export async function openFolderSource(
  dir: string,
  options: FolderSourceOptions = {},
): Promise<FolderSource> {
  validateSourceOptions(options);
  const files = await listImages(dir);
  if (files.length === 0) {
    throw new VisionLoopError(
      'SOURCE_EMPTY',
      `no images in ${dir} (looked for ${IMAGE_EXTENSIONS.join(', ')})`,
    );
  }
  return new FolderSource(dir, files, options);
}
