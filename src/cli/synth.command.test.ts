import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { integerFlag, numberFlag, registerSynthCommands } from './synth.command.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'visionloop-synth-cli-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function program(): Command {
  const p = new Command().name('visionloop').exitOverride();
  registerSynthCommands(p);
  p.commands.forEach((c) => c.exitOverride().commands.forEach((s) => s.exitOverride()));
  return p;
}

/** Runs `visionloop synth …` and returns what it printed on stdout. */
async function run(...args: string[]): Promise<string> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await program().parseAsync(['node', 'visionloop', 'synth', ...args]);
  return stdout;
}

async function failure(...args: string[]): Promise<VisionLoopError> {
  try {
    await run(...args);
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

function help(name: string): string {
  const synth = program().commands.find((c) => c.name() === 'synth');
  const sub = synth?.commands.find((c) => c.name() === name);
  return sub?.helpInformation() ?? '';
}

describe('visionloop synth export', () => {
  it('writes a YOLO data set and says what it wrote', async () => {
    const out = join(root, 'set');
    const stdout = await run('export', '--preset', 'nominal', '--count', '3', '--out', out);
    expect(stdout).toContain('wrote 3 frames (2 train, 1 val)');
    expect(stdout).toContain(join(out, 'data.yaml'));
    expect((await readdir(out)).sort()).toEqual(['data.yaml', 'images', 'labels']);
  });

  it.each([
    [['--preset', 'fog', '--count', '2'], /unknown preset 'fog' \(valid presets: nominal/],
    [['--preset', 'nominal', '--count', '0'], /--count must be an integer in 1\.\.1000000/],
    [['--preset', 'nominal', '--count', 'many'], /--count must be an integer/],
    [['--preset', 'nominal', '--count', '2', '--val-fraction', '1.5'], /--val-fraction/],
    [['--preset', 'nominal', '--count', '2', '--format', 'gif'], /--format must be jpg or png/],
  ])('rejects %j with INVALID_ARGUMENT', async (args, message) => {
    const error = await failure('export', ...args, '--out', join(root, 'bad'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(message);
  });

  it('rejects an unwritable output directory', async () => {
    const file = join(root, 'plain-file');
    await writeFile(file, 'not a directory');
    const out = join(file, 'inside-a-file');
    const error = await failure('export', '--preset', 'nominal', '--count', '1', '--out', out);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('cannot write to');
  });

  it('documents every flag', () => {
    const text = help('export');
    for (const flag of [
      '--preset',
      '--count',
      '--out',
      '--seed',
      '--val-fraction',
      '--format',
      '--quality',
      '--overwrite',
    ]) {
      expect(text).toContain(flag);
    }
    expect(text).toContain('new-material');
  });
});

describe('visionloop synth preview', () => {
  it('writes a contact sheet PNG', async () => {
    const file = join(root, 'sheet.png');
    const stdout = await run(
      'preview',
      '--scenario',
      'static',
      '--count',
      '2',
      '--scale',
      '0.25',
      '--out',
      file,
    );
    expect(stdout).toContain(file);
    const meta = await sharp(file).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(2 * 160 + 3 * 6);
  });

  it('rejects a preset and a scenario together, and documents every flag', async () => {
    const error = await failure(
      'preview',
      '--preset',
      'night',
      '--scenario',
      'static',
      '--out',
      join(root, 'x.png'),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    const text = help('preview');
    for (const flag of [
      '--out',
      '--preset',
      '--scenario',
      '--count',
      '--seed',
      '--scale',
      '--columns',
      '--interval',
    ]) {
      expect(text).toContain(flag);
    }
    expect(text).toContain('drift-demo');
  });
});

describe('flag parsers', () => {
  it('accept values in range and name the flag otherwise', () => {
    expect(integerFlag('12', '--count', 1, 100)).toBe(12);
    expect(numberFlag('0.25', '--scale', 0.1, 2)).toBe(0.25);
    expect(() => integerFlag('1.5', '--count', 1, 100)).toThrow(/--count/);
    expect(() => integerFlag('', '--seed', 0, 10)).toThrow(/--seed/);
    expect(() => numberFlag('NaN', '--scale', 0.1, 2)).toThrow(/--scale/);
  });
});

describe('visionloop synth crops', () => {
  it('writes a crop data set and prints the per-class counts', async () => {
    const out = join(root, 'crops');
    const printed = await run(
      'crops',
      '--out',
      out,
      '--count',
      '12',
      '--seed',
      '2',
      '--size',
      '32',
    );
    expect(printed).toMatch(/^wrote 12 32×32 crops from \d+ frames to /);
    expect(printed).toMatch(/ {2}train \d+: not_defect \d+, minor \d+, major \d+, critical \d+\n/);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['crops.json', 'train.images.u8', 'train.jsonl']));
  });

  it('names a bad flag', async () => {
    expect((await failure('crops', '--out', root, '--count', '5', '--size', '8')).message).toBe(
      "--size must be an integer in 16..256, got '8'",
    );
    expect((await failure('crops', '--out', root, '--count', 'x')).message).toMatch(/--count/);
  });
});
