/**
 * What ffmpeg is asked to open, and how: a video file, a network stream (RTSP over TCP, HTTP)
 * or a V4L2 device; the input options for each kind; whether the source is live (reconnect
 * when it ends) or finite (end at EOF); and a display form with credentials removed. Must never
 * let a password from an `rtsp://user:pass@host` URL reach a description, log or error.
 */

/** File extensions treated as video files (anything else that exists also goes to ffmpeg). */
export const VIDEO_EXTENSIONS = [
  '.mp4',
  '.m4v',
  '.mkv',
  '.webm',
  '.avi',
  '.mov',
  '.mpg',
  '.mpeg',
  '.ts',
  '.mts',
  '.m2ts',
  '.flv',
  '.wmv',
  '.3gp',
  '.ogv',
  '.mxf',
  '.y4m',
  '.h264',
  '.h265',
  '.hevc',
  '.gif',
] as const;

export type FfmpegInputKind = 'file' | 'network' | 'v4l2';

export interface FfmpegInput {
  kind: FfmpegInputKind;
  /** What ffmpeg opens (may contain credentials). */
  location: string;
  /** Safe to show: the location with any password replaced by `***`. */
  display: string;
  /** ffmpeg/ffprobe input options that go before `-i`. */
  inputArgs: string[];
  /** Live sources never end on their own; when they do, the source reconnects. */
  live: boolean;
  /** Strings to scrub from ffmpeg's messages (the password, raw and URL-encoded). */
  secrets: string[];
}

const STREAM_SCHEMES = ['rtsp:', 'rtsps:', 'http:', 'https:'] as const;
const V4L2_DEVICE = /^\/dev\/video\d+$/;

export function isV4l2Device(location: string): boolean {
  return V4L2_DEVICE.test(location);
}

/** True for `rtsp://`, `rtsps://`, `http://` and `https://` URLs. */
export function isStreamUrl(location: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(location)?.[1]?.toLowerCase();
  return scheme !== undefined && (STREAM_SCHEMES as readonly string[]).includes(scheme);
}

export function hasVideoExtension(name: string): boolean {
  const lower = name.toLowerCase();
  return VIDEO_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Classifies a location for ffmpeg. `ioTimeoutMs` bounds a stalled network read (ffmpeg's own
 * socket timeout), after which ffmpeg exits and a live source reconnects.
 */
export function describeFfmpegInput(location: string, ioTimeoutMs = 10_000): FfmpegInput {
  const timeoutUs = String(Math.max(1, Math.round(ioTimeoutMs)) * 1000);
  if (isV4l2Device(location)) {
    return {
      kind: 'v4l2',
      location,
      display: location,
      inputArgs: ['-f', 'v4l2'],
      live: true,
      secrets: [],
    };
  }
  if (isStreamUrl(location)) {
    const url = new URL(location);
    const secrets: string[] = [];
    let display = location;
    if (url.password) {
      secrets.push(url.password, decodeURIComponent(url.password));
      url.password = '***';
      display = url.toString();
    }
    const rtsp = url.protocol === 'rtsp:' || url.protocol === 'rtsps:';
    return {
      kind: 'network',
      location,
      display,
      // RTSP over UDP loses packets on busy networks and through NAT; TCP is what works.
      inputArgs: rtsp
        ? ['-rtsp_transport', 'tcp', '-timeout', timeoutUs]
        : ['-rw_timeout', timeoutUs],
      // An HTTP URL naming a video file is a finite download; other HTTP URLs (MJPEG, HLS) are live.
      live: rtsp || !hasVideoExtension(url.pathname),
      secrets: secrets.filter((secret) => secret.length > 0),
    };
  }
  return { kind: 'file', location, display: location, inputArgs: [], live: false, secrets: [] };
}

/**
 * Makes one of ffmpeg's stderr messages fit for a user-facing error: drops the
 * `[demuxer @ 0x55…]` prefixes and scrubs credentials.
 */
export function cleanFfmpegMessage(message: string, input: FfmpegInput): string {
  let text = message.replace(/\[[^\]@]+ @ 0x[0-9a-f]+\]\s*/gi, '');
  if (input.display !== input.location) text = text.split(input.location).join(input.display);
  for (const secret of input.secrets) text = text.split(secret).join('***');
  return text.trim();
}
