import { describe, expect, it } from 'vitest';
import { cleanFfmpegMessage, describeFfmpegInput } from './ffmpeg-input.js';
import { parseFfmpegStreamInfo, parseFrameRate } from './ffmpeg-probe.js';

describe('describeFfmpegInput', () => {
  it('opens RTSP over TCP with a socket timeout, as a live source, without showing the password', () => {
    const input = describeFfmpegInput('rtsp://admin:p%40ss@10.0.0.5:554/Streaming/101', 5000);
    expect(input.kind).toBe('network');
    expect(input.live).toBe(true);
    expect(input.inputArgs).toEqual(['-rtsp_transport', 'tcp', '-timeout', '5000000']);
    expect(input.display).toBe('rtsp://admin:***@10.0.0.5:554/Streaming/101');
    const message = cleanFfmpegMessage(
      '[rtsp @ 0x55d2c0a1b2c0] rtsp://admin:p%40ss@10.0.0.5:554/Streaming/101: 401 Unauthorized (p@ss)',
      input,
    );
    expect(message).toBe('rtsp://admin:***@10.0.0.5:554/Streaming/101: 401 Unauthorized (***)');
  });

  it('treats HTTP streams as live and HTTP video files as finite', () => {
    const mjpeg = describeFfmpegInput('http://cam.local/video.mjpg');
    expect(mjpeg.live).toBe(true);
    expect(mjpeg.inputArgs).toEqual(['-rw_timeout', '10000000']);
    expect(describeFfmpegInput('https://example.com/clips/line3.MP4?token=x').live).toBe(false);
  });

  it('reads /dev/videoN with the v4l2 demuxer, and files with no input options', () => {
    expect(describeFfmpegInput('/dev/video2')).toMatchObject({
      kind: 'v4l2',
      live: true,
      inputArgs: ['-f', 'v4l2'],
    });
    expect(describeFfmpegInput('/data/line3.mp4')).toMatchObject({
      kind: 'file',
      live: false,
      inputArgs: [],
      display: '/data/line3.mp4',
    });
  });
});

describe('probe parsing', () => {
  it('reads size and rate from the stream line ffmpeg prints, not from codec tags like 0x31637661', () => {
    const stderr = [
      "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':",
      '  Duration: 00:00:00.20, start: 0.000000, bitrate: 103 kb/s',
      '  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x48 [SAR 1:1 DAR 4:3], 66 kb/s, 29.97 fps, 29.97 tbr, 12800 tbn (default)',
      '    Metadata:',
      '      handler_name    : VideoHandler',
      'At least one output file must be specified',
    ].join('\n');
    expect(parseFfmpegStreamInfo(stderr)).toEqual({ width: 64, height: 48, fps: 29.97 });
  });

  it('swaps width and height for a quarter-turn display matrix (phone videos)', () => {
    const stderr = [
      '  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080, 17027 kb/s, 30 fps, 30 tbr, 90k tbn (default)',
      '    Side data:',
      '      displaymatrix: rotation of -90.00 degrees',
      '  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 256 kb/s',
    ].join('\n');
    expect(parseFfmpegStreamInfo(stderr)).toEqual({ width: 1080, height: 1920, fps: 30 });
  });

  it('finds no stream in an error message', () => {
    expect(parseFfmpegStreamInfo('a.mp4: Invalid data found when processing input')).toBeNull();
  });

  it('parses frame rates and rejects unknown ones', () => {
    expect(parseFrameRate('30000/1001')).toBeCloseTo(29.97, 2);
    expect(parseFrameRate('25')).toBe(25);
    expect(parseFrameRate('0/0')).toBeNull();
    expect(parseFrameRate('90000/1')).toBeNull();
    expect(parseFrameRate(undefined)).toBeNull();
  });
});
