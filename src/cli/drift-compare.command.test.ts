/**
 * `visionloop drift compare` on real sources: the synthetic line (rendered), folders of PNG
 * files written here, a YOLO dataset folder and its .tar.gz archive, and a video made by
 * ffmpeg. Nothing is mocked; the numbers come from the same features and KS tests the
 * server's drift check uses.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { directoryEntries, packTarGz } from '../repositories/dataset-archive.js';
import { Rng } from '../synth/rng.js';
import type { DriftComparison } from '../main/drift-compare.main.js';
import { VisionLoopError } from '../shared/errors.js';
import { registerDriftCommands } from './drift.command.js';
import { DRIFT_EXIT_CODE, runDriftCompare, type CompareFlags } from './drift-compare.command.js';
import { main } from './main.js';
import { CommandExit } from './output.js';

let root: string;

interface Look {
  /** Mean gray level, 0..255 (each image ±20 around it, seeded). */
  level: number;
  /** Peak-to-peak amplitude of the per-pixel noise. */
  noise: number;
  /** Added to blue, taken from red. */
  cast: number;
}
const BRIGHT: Look = { level: 170, noise: 30, cast: 0 };
/** A night-like look: dim, noisy, blue. */
const DARK: Look = { level: 60, noise: 90, cast: 25 };

/** `count` 64×48 PNGs of a look. */
async function writeImages(dir: string, count: number, look: Look, seed: number) {
  await mkdir(dir, { recursive: true });
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const base = look.level + (rng.next() - 0.5) * 40;
    const data = Buffer.alloc(64 * 48 * 3);
    for (let p = 0; p < data.length; p++) {
      const channel = p % 3;
      const cast = channel === 2 ? look.cast : channel === 0 ? -look.cast : 0;
      const value = base + cast + (rng.next() - 0.5) * look.noise;
      data[p] = Math.max(0, Math.min(255, Math.round(value)));
    }
    await sharp(data, { raw: { width: 64, height: 48, channels: 3 } })
      .png()
      .toFile(path.join(dir, `img${i}.png`));
  }
}

const output = {
  text: '',
  write(chunk: string) {
    this.text += chunk;
  },
};
const errors = {
  text: '',
  write(chunk: string) {
    this.text += chunk;
  },
};

function flags(
  reference: string,
  current: string,
  extra: Partial<CompareFlags> = {},
): CompareFlags {
  return { reference, current, maxFrames: 30, every: 10, seed: 1, split: 'all', ...extra };
}

async function compare(
  reference: string,
  current: string,
  extra: Partial<CompareFlags> = {},
): Promise<DriftComparison> {
  output.text = '';
  errors.text = '';
  return runDriftCompare(flags(reference, current, extra), { stdout: output, stderr: errors });
}

async function failure(promise: Promise<unknown>): Promise<VisionLoopError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

const feature = (c: DriftComparison, name: string) =>
  c.report.features.find((f) => f.feature === name);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'visionloop-drift-compare-'));
  await writeImages(path.join(root, 'bright'), 24, BRIGHT, 1);
  await writeImages(path.join(root, 'bright-2'), 24, BRIGHT, 2);
  await writeImages(path.join(root, 'dark'), 24, DARK, 3);
  // A YOLO dataset of the bright images (train 20 / val 8), and its archive.
  const dataset = path.join(root, 'dataset');
  await writeImages(path.join(dataset, 'images', 'train'), 20, BRIGHT, 4);
  await writeImages(path.join(dataset, 'images', 'val'), 8, BRIGHT, 5);
  for (const split of ['train', 'val']) {
    await mkdir(path.join(dataset, 'labels', split), { recursive: true });
  }
  await writeFile(
    path.join(dataset, 'data.yaml'),
    `path: /somewhere/else\ntrain: images/train\nval: images/val\nnames: ['scratch']\n`,
  );
  await pipeline(
    packTarGz(await directoryEntries(dataset, 'snapshot/')),
    createWriteStream(path.join(root, 'snapshot.tar.gz')),
  );
  await writeFile(
    path.join(dataset, 'data.yaml'),
    `train: images/train\nval: images/val\nnames: ['scratch']\n`,
  );
  await mkdir(path.join(root, 'empty'));
  await writeImages(path.join(root, 'broken'), 24, BRIGHT, 6);
  await writeFile(path.join(root, 'broken', 'img7.png'), 'not a png at all');
  await writeImages(path.join(root, 'few'), 5, BRIGHT, 7);
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('visionloop drift compare on the synthetic line', () => {
  it('finds no drift between two independent nominal runs', async () => {
    const result = await compare('synth:nominal', 'synth:nominal', { json: true });
    expect(result.reference).toMatchObject({
      kind: 'synth',
      seed: 1,
      frames: 30,
      spacingSeconds: 10,
    });
    expect(result.current).toMatchObject({ kind: 'synth', seed: 2, frames: 30 });
    expect(result.report.status).toBe('ok');
    expect(result.report.level).toBe('green');
    expect(result.report.testedFeatures).toBe(7);
    expect(result.report.driftShare).toBeLessThanOrEqual(0.3);
    const json = JSON.parse(output.text) as { status: string; features: { pValue: number }[] };
    expect(json.status).toBe('ok');
    expect(json.features).toHaveLength(7);
    // Different seeds: different frames, so the samples are not identical copies.
    expect(result.samples.reference.brightness).not.toEqual(result.samples.current.brightness);
  }, 120_000);

  it('finds drift from nominal to night, brightness first, and draws it', async () => {
    const html = path.join(root, 'night.html');
    const result = await compare('synth:nominal', 'synth:night', { html });
    expect(result.report.status).toBe('drift');
    expect(result.report.level).toBe('red');
    const brightness = feature(result, 'brightness');
    expect(brightness?.drifted).toBe(true);
    expect(brightness?.pValue).toBeLessThan(1e-6);
    expect(brightness?.currentMedian).toBeLessThan((brightness?.referenceMedian ?? 0) / 2);
    expect(result.report.driftShare).toBeGreaterThan(0.7);

    expect(output.text).toMatch(/^brightness\s+1\s+\S+\s+YES/m);
    expect(output.text).toContain(
      'DRIFT (red): 7 of 7 features drifted (p < 0.05), share 1.00 > 0.3',
    );

    const page = await readFile(html, 'utf8');
    expect(page.startsWith('<!doctype html>')).toBe(true);
    // Two charts per feature (distributions and CDFs), each with its feature in the title.
    expect(page.match(/<svg class="chart"/g)).toHaveLength(14);
    for (const name of [
      'brightness',
      'contrast',
      'sharpness',
      'saturation',
      'noise',
      'colorCast',
      'edgeDensity',
    ]) {
      expect(page).toContain(`<title>${name}: distributions`);
    }
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).not.toMatch(/<script|<link|<img|@import|url\(/);
    expect(page).toContain('Drift detected (red)');
    expect(errors.text).toContain(`wrote the HTML report to ${html}`);
  }, 120_000);
});

describe('visionloop drift compare on image folders, datasets and videos', () => {
  it('compares folders of images: the same kind reads green, darker images drift', async () => {
    const same = await compare(path.join(root, 'bright'), path.join(root, 'bright-2'));
    expect(same.reference).toMatchObject({ kind: 'folder', frames: 24, available: 24 });
    expect(same.report.status).toBe('ok');

    const darker = await compare(path.join(root, 'bright'), path.join(root, 'dark'));
    expect(darker.report.status).toBe('drift');
    expect(feature(darker, 'brightness')).toMatchObject({ drifted: true, statistic: 1 });
    expect(feature(darker, 'brightness')?.referenceMedian).toBeCloseTo(170 / 255, 1);
    expect(feature(darker, 'brightness')?.currentMedian).toBeCloseTo(60 / 255, 1);
  }, 60_000);

  it('reads every split of a YOLO dataset folder and of its exported archive', async () => {
    const folder = await compare(path.join(root, 'dataset'), path.join(root, 'dark'));
    expect(folder.reference).toMatchObject({ kind: 'dataset', frames: 28, available: 28 });
    expect(folder.reference.description).toContain('train+val: 28 images');
    expect(folder.report.status).toBe('drift');

    // The archive's data.yaml points elsewhere (`path`); its splits are read inside it.
    const archive = await compare(path.join(root, 'snapshot.tar.gz'), path.join(root, 'bright'));
    expect(archive.reference).toMatchObject({ kind: 'archive', frames: 28 });
    expect(archive.report.status).toBe('ok');

    const train = await compare(path.join(root, 'dataset'), path.join(root, 'bright'), {
      split: 'train',
      maxFrames: 200,
    });
    expect(train.reference.frames).toBe(20);
    expect(train.reference.notes).toEqual([]);

    const thinned = await compare(path.join(root, 'bright'), path.join(root, 'dark'), {
      maxFrames: 20,
    });
    expect(thinned.reference.frames).toBe(20);
    expect(thinned.reference.notes).toEqual([
      '20 of 24 images, evenly spaced by name (--max-frames 20)',
    ]);
  }, 60_000);

  it('takes one frame per --every seconds of a video on its own clock', async () => {
    const video = path.join(root, 'line.mp4');
    const dimmed = path.join(root, 'line-dim.mp4');
    const make = (file: string, filter: string) =>
      spawnSync('ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=160x120:rate=5',
        '-t',
        '50',
        '-vf',
        filter,
        '-pix_fmt',
        'yuv420p',
        file,
      ]);
    expect(make(video, 'null').status).toBe(0);
    expect(make(dimmed, 'eq=brightness=-0.35').status).toBe(0);
    const result = await compare(video, dimmed, { every: 2 });
    expect(result.reference).toMatchObject({ kind: 'video', frames: 25, spacingSeconds: 2 });
    // 50 s at 5 fps: all 250 frames decoded, one in 10 measured.
    expect(result.reference.available).toBe(250);
    const capped = await compare(video, dimmed, { every: 1, maxFrames: 20 });
    // Stops decoding at the 20th kept frame (index 95 at one per 5 frames).
    expect(capped.reference).toMatchObject({ frames: 20, available: 96 });
    expect(feature(result, 'brightness')?.drifted).toBe(true);

    const tooSparse = await failure(compare(video, dimmed));
    expect(tooSparse.code).toBe('SOURCE_EMPTY');
    expect(tooSparse.message).toContain(`--reference: ${video} gave 5 frames`);
    expect(tooSparse.message).toContain('--every');
  }, 120_000);
});

describe('visionloop drift compare: bad sources and exit codes', () => {
  it('names the side and the path of a source that does not exist', async () => {
    const missing = path.join(root, 'nope');
    const error = await failure(compare('synth:nominal', missing));
    expect(error.code).toBe('SOURCE_NOT_FOUND');
    expect(error.message).toBe(`--current: source not found: ${missing} (no such file or folder)`);
  });

  it('says an empty folder holds no images', async () => {
    const error = await failure(compare(path.join(root, 'empty'), path.join(root, 'bright')));
    expect(error.code).toBe('SOURCE_EMPTY');
    expect(error.message).toMatch(/^--reference: no images in .*empty/);
  });

  it('names the image it cannot decode', async () => {
    const error = await failure(compare(path.join(root, 'bright'), path.join(root, 'broken')));
    expect(error.code).toBe('SOURCE_UNREADABLE');
    expect(error.message).toContain(
      `--current: cannot decode image ${path.join(root, 'broken', 'img7.png')}`,
    );
  });

  it('refuses too few images for the tests', async () => {
    const error = await failure(compare(path.join(root, 'few'), path.join(root, 'bright')));
    expect(error.code).toBe('SOURCE_EMPTY');
    expect(error.message).toContain('gave 5 frames, the tests need at least 20 per side');
  });

  it('rejects an unknown synthetic scenario with the side named', async () => {
    const error = await failure(compare('synth:sunset', path.join(root, 'bright')));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^--reference: unknown preset or scenario 'sunset'/);
  });

  it('exits 3 with --fail-on-drift when it drifted, and not otherwise', async () => {
    const drifted = compare(path.join(root, 'bright'), path.join(root, 'dark'), {
      failOnDrift: true,
    });
    await expect(drifted).rejects.toBeInstanceOf(CommandExit);
    await expect(drifted).rejects.toMatchObject({ exitCode: DRIFT_EXIT_CODE });
    const stable = await compare(path.join(root, 'bright'), path.join(root, 'bright-2'), {
      failOnDrift: true,
    });
    expect(stable.report.drifted).toBe(false);
  }, 60_000);

  it('makes `visionloop` exit 3 on drift with --fail-on-drift, 1 on a bad source', async () => {
    const printed: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      const args = [
        'node',
        'visionloop',
        'drift',
        'compare',
        '--reference',
        path.join(root, 'bright'),
      ];
      expect(await main([...args, '--current', path.join(root, 'dark'), '--fail-on-drift'])).toBe(
        3,
      );
      expect(printed.join('')).toContain('drift detected (--fail-on-drift): brightness');
      expect(await main([...args, '--current', path.join(root, 'dark')])).toBe(0);
      expect(await main([...args, '--current', path.join(root, 'nope')])).toBe(1);
      expect(printed.join('')).toContain('error [SOURCE_NOT_FOUND]: --current: source not found');
    } finally {
      vi.restoreAllMocks();
    }
  }, 60_000);

  it('parses its flags through the drift command', async () => {
    const program = new Command().exitOverride();
    registerDriftCommands(program, { stdout: output });
    const compareCommand = program.commands[0]?.commands.find((c) => c.name() === 'compare');
    compareCommand?.exitOverride();
    output.text = '';
    await program.parseAsync([
      'node',
      'visionloop',
      'drift',
      'compare',
      '--reference',
      path.join(root, 'bright'),
      '--current',
      path.join(root, 'dark'),
      '--max-frames',
      '22',
      '--json',
    ]);
    const json = JSON.parse(output.text) as { status: string; reference: { frames: number } };
    expect(json).toMatchObject({ status: 'drift', reference: { frames: 22 } });
    await expect(
      program.parseAsync([
        'node',
        'visionloop',
        'drift',
        'compare',
        '--reference',
        'synth:nominal',
      ]),
    ).rejects.toMatchObject({ code: 'commander.missingMandatoryOptionValue' });
  }, 60_000);
});
