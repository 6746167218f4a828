/**
 * Reads a video's frame size and rate before decoding, so raw frames can be cut from ffmpeg's
 * stdout at exact byte counts. Uses ffprobe when there is one, else parses the `Stream #0:0:
 * Video: … 640x480 …` line that `ffmpeg -i` prints. Sizes account for rotation metadata (phone
 * videos), which ffmpeg applies when decoding. Unreadable input → SOURCE_UNREADABLE carrying
 * ffmpeg's own message.
 */
import { z } from 'zod';
import { VisionLoopError } from '../../shared/errors.js';
import { runCommand, type CommandResult } from './child-process.js';
import { cleanFfmpegMessage, type FfmpegInput } from './ffmpeg-input.js';
import type { FfmpegTools } from './ffmpeg-locate.js';

export interface StreamInfo {
  width: number;
  height: number;
  /** Frames per second from the container/stream, null when unknown. */
  fps: number | null;
}

const ffprobeOutput = z.object({
  streams: z
    .array(
      z.object({
        width: z.number().int().optional(),
        height: z.number().int().optional(),
        r_frame_rate: z.string().optional(),
        avg_frame_rate: z.string().optional(),
        tags: z.record(z.string(), z.string()).optional(),
        side_data_list: z.array(z.object({ rotation: z.number().optional() })).optional(),
      }),
    )
    .optional(),
});

/** Parses `30000/1001` or `25`; null for `0/0` and implausible rates. */
export function parseFrameRate(text: string | undefined): number | null {
  if (!text) return null;
  const [num, den] = text.split('/');
  const value = den === undefined ? Number(num) : Number(num) / Number(den);
  return Number.isFinite(value) && value > 0 && value <= 1000 ? value : null;
}

function isQuarterTurn(rotation: number): boolean {
  return Math.abs(Math.round(rotation)) % 180 === 90;
}

function unreadable(input: FfmpegInput, detail: string): VisionLoopError {
  return new VisionLoopError('SOURCE_UNREADABLE', `cannot read video ${input.display}: ${detail}`);
}

function failureDetail(result: CommandResult, input: FfmpegInput, timeoutMs: number): string {
  if (result.timedOut) return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  const lines = result.stderr.raw
    .split(/\r?\n/)
    .filter(
      (line) => line.trim() !== '' && !/At least one output file must be specified/.test(line),
    )
    .slice(-3);
  const message = cleanFfmpegMessage(lines.join('; '), input);
  return message || `ffmpeg exited with code ${String(result.code)}`;
}

async function probeWithFfprobe(
  ffprobe: string,
  input: FfmpegInput,
  timeoutMs: number,
): Promise<StreamInfo> {
  const result = await runCommand(
    ffprobe,
    [
      '-v',
      'error',
      ...input.inputArgs,
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height,r_frame_rate,avg_frame_rate:stream_tags=rotate:stream_side_data=rotation',
      '-of',
      'json',
      input.location,
    ],
    { timeoutMs },
  );
  if (result.code !== 0 || result.timedOut) {
    throw unreadable(input, failureDetail(result, input, timeoutMs));
  }
  let parsed: z.infer<typeof ffprobeOutput>;
  try {
    parsed = ffprobeOutput.parse(JSON.parse(result.stdout));
  } catch (error) {
    throw new VisionLoopError(
      'SOURCE_UNREADABLE',
      `cannot read video ${input.display}: ffprobe gave unexpected output`,
      { cause: error },
    );
  }
  const stream = parsed.streams?.[0];
  if (!stream) throw unreadable(input, 'it has no video stream');
  const { width, height } = stream;
  if (!width || !height)
    throw unreadable(input, 'the frame size is unknown (pass width and height)');
  const rotation =
    stream.side_data_list?.find((entry) => entry.rotation !== undefined)?.rotation ??
    Number(stream.tags?.rotate ?? 0);
  const turned = isQuarterTurn(rotation);
  return {
    width: turned ? height : width,
    height: turned ? width : height,
    fps: parseFrameRate(stream.avg_frame_rate) ?? parseFrameRate(stream.r_frame_rate),
  };
}

/**
 * Extracts the first video stream's size, rate and rotation from the banner `ffmpeg -i` prints
 * on stderr. Exported for tests.
 */
export function parseFfmpegStreamInfo(stderr: string): StreamInfo | null {
  const lines = stderr.split(/\r?\n/);
  const videoIndex = lines.findIndex((line) => /Stream #\d+:\d+.*: Video: /.test(line));
  const videoLine = videoIndex >= 0 ? lines[videoIndex] : undefined;
  if (videoLine === undefined) return null;
  const size = /(?:^|[\s,])([1-9]\d{0,4})x([1-9]\d{0,4})(?=[\s,[]|$)/.exec(videoLine);
  if (!size) return null;
  let width = Number(size[1]);
  let height = Number(size[2]);
  const fps =
    parseFrameRate(/([\d.]+) fps/.exec(videoLine)?.[1]) ??
    parseFrameRate(/([\d.]+) tbr/.exec(videoLine)?.[1]);
  // Side data and metadata of this stream follow its line, indented, until the next stream.
  const following: string[] = [];
  for (const line of lines.slice(videoIndex + 1)) {
    if (/Stream #/.test(line) || !/^\s{4,}/.test(line)) break;
    following.push(line);
  }
  const detail = following.join('\n');
  const rotation = Number(
    /rotation of (-?[\d.]+) degrees/.exec(detail)?.[1] ??
      /rotate\s*:\s*(-?\d+)/.exec(detail)?.[1] ??
      0,
  );
  if (isQuarterTurn(rotation)) [width, height] = [height, width];
  return { width, height, fps };
}

async function probeWithFfmpeg(
  ffmpeg: string,
  input: FfmpegInput,
  timeoutMs: number,
): Promise<StreamInfo> {
  // Without an output ffmpeg prints the input's streams and exits 1; that banner is all we need.
  const result = await runCommand(
    ffmpeg,
    ['-hide_banner', '-nostdin', ...input.inputArgs, '-i', input.location],
    { timeoutMs },
  );
  const info = result.timedOut ? null : parseFfmpegStreamInfo(result.stderr.raw);
  if (info) return info;
  if (!result.timedOut && /Input #\d+/.test(result.stderr.raw)) {
    throw unreadable(input, 'it has no video stream');
  }
  throw unreadable(input, failureDetail(result, input, timeoutMs));
}

/**
 * Probes the first video stream of `input`.
 * @throws VisionLoopError SOURCE_UNREADABLE (with ffmpeg's message) when it cannot be opened,
 *   has no video stream or does not answer within `timeoutMs`.
 */
export function probeStream(
  tools: FfmpegTools,
  input: FfmpegInput,
  timeoutMs = 15_000,
): Promise<StreamInfo> {
  return tools.ffprobe
    ? probeWithFfprobe(tools.ffprobe, input, timeoutMs)
    : probeWithFfmpeg(tools.ffmpeg, input, timeoutMs);
}
