import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../../shared/errors.js';
import { locateFfmpeg } from './ffmpeg-locate.js';

describe('locateFfmpeg', () => {
  it('finds the system ffmpeg and its ffprobe', async () => {
    const tools = await locateFfmpeg();
    expect(['ffmpeg', '/usr/bin/ffmpeg']).toContain(tools.ffmpeg);
    expect(tools.version).toMatch(/^\d+\.\d+/);
    expect(tools.ffprobe).not.toBeNull();
  });

  it('uses an explicit path and can be told not to use ffprobe', async () => {
    const tools = await locateFfmpeg({ ffmpegPath: '/usr/bin/ffmpeg', ffprobePath: null });
    expect(tools).toMatchObject({ ffmpeg: '/usr/bin/ffmpeg', ffprobe: null });
  });

  it('fails with FFMPEG_MISSING and the install command, without falling back, for a wrong configured path', async () => {
    const error: unknown = await locateFfmpeg({ ffmpegPath: '/opt/none/ffmpeg' }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(VisionLoopError);
    expect((error as VisionLoopError).code).toBe('FFMPEG_MISSING');
    expect((error as VisionLoopError).message).toBe(
      'ffmpeg was not found at /opt/none/ffmpeg (the configured path); fix the path or install it with: apt-get install ffmpeg',
    );
  });

  it('rejects a program that is not ffmpeg', async () => {
    const error: unknown = await locateFfmpeg({ ffmpegPath: '/bin/true' }).catch(
      (caught: unknown) => caught,
    );
    expect((error as VisionLoopError).code).toBe('FFMPEG_MISSING');
  });
});
