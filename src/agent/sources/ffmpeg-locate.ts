/**
 * Finds the system ffmpeg (and ffprobe, optional) that video sources run as child processes.
 * Order: an explicit path from the configuration (no fallback when given: a wrong configured
 * path is an error, not a silent switch), then `ffmpeg` on PATH, then /usr/bin/ffmpeg. Each
 * candidate is checked by running `-version`. Never reads process.env itself: the config module
 * owns the override and passes it in as `ffmpegPath`.
 */
import path from 'node:path';
import { VisionLoopError } from '../../shared/errors.js';
import { runCommand } from './child-process.js';

export const FFMPEG_INSTALL_HINT = 'install it with: apt-get install ffmpeg';

export interface FfmpegLocateOptions {
  /** Explicit ffmpeg executable (from the configuration); when set, nothing else is tried. */
  ffmpegPath?: string;
  /**
   * Explicit ffprobe executable; `null` means do not use ffprobe (stream sizes are then read from
   * ffmpeg's own stderr). Undefined: look beside ffmpeg, then on PATH, then /usr/bin.
   */
  ffprobePath?: string | null;
}

export interface FfmpegTools {
  /** Command to spawn: a bare `ffmpeg` (resolved through PATH) or an absolute path. */
  ffmpeg: string;
  /** ffprobe command, or null when there is none (probing falls back to ffmpeg). */
  ffprobe: string | null;
  /** e.g. `5.1.6-0+deb12u1`. */
  version: string;
}

const VERSION_TIMEOUT_MS = 10_000;

/** Runs `<command> -version`; returns the version string when it is the expected tool. */
async function toolVersion(command: string, tool: 'ffmpeg' | 'ffprobe'): Promise<string | null> {
  try {
    const result = await runCommand(command, ['-version'], {
      timeoutMs: VERSION_TIMEOUT_MS,
      maxStdout: 4096,
    });
    if (result.code !== 0) return null;
    const match = new RegExp(`^${tool} version (\\S+)`).exec(result.stdout);
    return match?.[1] ?? null;
  } catch {
    return null;
  }
}

async function findFirst(
  candidates: readonly string[],
  tool: 'ffmpeg' | 'ffprobe',
): Promise<{ command: string; version: string } | null> {
  for (const command of candidates) {
    const version = await toolVersion(command, tool);
    if (version !== null) return { command, version };
  }
  return null;
}

async function locate(options: FfmpegLocateOptions): Promise<FfmpegTools> {
  const ffmpegCandidates =
    options.ffmpegPath !== undefined ? [options.ffmpegPath] : ['ffmpeg', '/usr/bin/ffmpeg'];
  const found = await findFirst(ffmpegCandidates, 'ffmpeg');
  if (!found) {
    const message =
      options.ffmpegPath !== undefined
        ? `ffmpeg was not found at ${options.ffmpegPath} (the configured path); fix the path or ${FFMPEG_INSTALL_HINT}`
        : `ffmpeg was not found; ${FFMPEG_INSTALL_HINT}`;
    throw new VisionLoopError('FFMPEG_MISSING', message);
  }

  let ffprobe: string | null = null;
  if (typeof options.ffprobePath === 'string') {
    if ((await toolVersion(options.ffprobePath, 'ffprobe')) === null) {
      throw new VisionLoopError(
        'FFMPEG_MISSING',
        `ffprobe was not found at ${options.ffprobePath} (the configured path); fix the path or ${FFMPEG_INSTALL_HINT}`,
      );
    }
    ffprobe = options.ffprobePath;
  } else if (options.ffprobePath === undefined) {
    const candidates: string[] = [];
    // An ffmpeg given by path most likely has its own ffprobe beside it (a static build).
    if (found.command.includes('/')) {
      candidates.push(path.join(path.dirname(found.command), 'ffprobe'));
    }
    candidates.push('ffprobe', '/usr/bin/ffprobe');
    ffprobe = (await findFirst(candidates, 'ffprobe'))?.command ?? null;
  }
  return { ffmpeg: found.command, ffprobe, version: found.version };
}

const cache = new Map<string, Promise<FfmpegTools>>();

/**
 * Locates ffmpeg (and ffprobe when available). The result is cached per options; a failed lookup
 * is not cached, so installing ffmpeg while the process runs is picked up by the next call.
 * @throws VisionLoopError FFMPEG_MISSING with the install command.
 */
export function locateFfmpeg(options: FfmpegLocateOptions = {}): Promise<FfmpegTools> {
  const key = JSON.stringify({
    ffmpeg: options.ffmpegPath ?? null,
    ffprobe: options.ffprobePath === undefined ? { auto: true } : options.ffprobePath,
  });
  let pending = cache.get(key);
  if (!pending) {
    pending = locate(options);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}
