/**
 * Turns a source spec from the command line or configuration into a FrameSource:
 *
 *   synth:<scenario>            the built-in synthetic line (scenario as parseScenario reads it)
 *   rtsp://… rtsps://…          network camera through ffmpeg (RTSP over TCP), live
 *   http://… https://…          stream or remote video through ffmpeg (live unless it names a video file)
 *   /dev/videoN                 V4L2 camera through ffmpeg, live
 *   file:///…                   same as the path
 *   a directory                 a folder of images
 *   any other existing file     a video file through ffmpeg
 *
 * A path that does not exist → SOURCE_NOT_FOUND; a `scheme:` it does not know →
 * SOURCE_UNSUPPORTED. Opening checks what can be checked up front (ffmpeg present, stream
 * readable, folder not empty, scenario valid) so errors surface before the first frame.
 */
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { VisionLoopError } from '../../shared/errors.js';
import type { FrameSource } from '../frame-source.js';
import { isStreamUrl, isV4l2Device } from './ffmpeg-input.js';
import { openFfmpegSource, type FfmpegSourceOptions } from './ffmpeg.source.js';
import { openFolderSource } from './folder.source.js';
import { openSynthSource } from './synth.source.js';

/**
 * Options of every source kind. Beyond OpenSourceOptions: `ffmpegPath` / `ffprobePath` (from the
 * configuration, e.g. VISIONLOOP_FFMPEG), `reconnect` for live streams, and ffmpeg timeouts.
 */
export type SourceOptions = FfmpegSourceOptions;

export const SUPPORTED_SOURCES =
  'synth:<scenario>, a folder of images, a video file, rtsp://…, http(s)://… or /dev/videoN';

const SCHEME = /^([a-z][a-z0-9+.-]+):/i;

async function statOrNull(location: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(location);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new VisionLoopError('SOURCE_UNREADABLE', `cannot access ${location}: ${String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Opens the frame source a spec names (see the module comment for the forms).
 * @throws VisionLoopError SOURCE_NOT_FOUND, SOURCE_UNSUPPORTED, SOURCE_EMPTY, SOURCE_UNREADABLE,
 *   FFMPEG_MISSING or INVALID_ARGUMENT (bad scenario or option).
 */
export async function openSource(spec: string, options: SourceOptions = {}): Promise<FrameSource> {
  if (spec.trim() === '') {
    throw new VisionLoopError('INVALID_ARGUMENT', `the source is empty; use ${SUPPORTED_SOURCES}`);
  }
  if (spec.startsWith('synth:')) return openSynthSource(spec.slice('synth:'.length), options);
  if (isStreamUrl(spec)) return openFfmpegSource(spec, options);

  let location = spec;
  if (/^file:\/\//i.test(spec)) {
    try {
      location = fileURLToPath(spec);
    } catch (error) {
      throw new VisionLoopError('INVALID_ARGUMENT', `invalid file URL ${spec}`, { cause: error });
    }
  }
  const info = await statOrNull(location);
  if (!info) {
    if (isV4l2Device(location)) {
      throw new VisionLoopError('SOURCE_NOT_FOUND', `camera device ${location} does not exist`);
    }
    if (SCHEME.test(spec) && !/^file:/i.test(spec)) {
      throw new VisionLoopError(
        'SOURCE_UNSUPPORTED',
        `unsupported source ${spec}: use ${SUPPORTED_SOURCES}`,
      );
    }
    throw new VisionLoopError(
      'SOURCE_NOT_FOUND',
      `source not found: ${location} (no such file or folder)`,
    );
  }
  if (info.isDirectory()) return openFolderSource(location, options);
  return openFfmpegSource(location, options);
}
