/**
 * `visionloop train` end to end with the real trainer process: a tiny synthetic data set,
 * one short epoch, then the evaluation table; plus bad input and cancellation.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxDetector } from '../../../src/inference/onnx-detector.js';
import { exportDataset } from '../../../src/synth/dataset-export.js';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = join(root, 'bin', 'visionloop.js');
const work = mkdtempSync(join(tmpdir(), 'vl-train-cli-'));
const data = join(work, 'data');

function visionloop(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
  }
  await exportDataset({ outDir: data, presets: 'nominal', count: 24, seed: 5, valFraction: 0.25 });
}, 120_000);

describe('visionloop train', () => {
  it('trains, writes the artifacts and prints the evaluation table', () => {
    const out = join(work, 'run');
    const run = visionloop([
      'train',
      '--data',
      data,
      '--out',
      out,
      '--epochs',
      '1',
      '--imgsz',
      '160',
      '--batch',
      '8',
      '--seed',
      '3',
    ]);
    expect(run.stderr).not.toContain('error');
    expect(run.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(
      expect.arrayContaining(['metrics.json', 'model.onnx', 'weights.pt']),
    );
    expect(run.stdout).toMatch(/class\s+AP50\s+AP50-95/);
    for (const name of ['scratch', 'crack', 'dent', 'stain']) expect(run.stdout).toContain(name);
  }, 300_000);

  it('produces a model the runtime serves, with the data set class names', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    try {
      const model = await detector.load(join(work, 'run', 'model.onnx'));
      expect(model.layout).toBe('yolov8');
      expect(model.classNames).toEqual(['scratch', 'crack', 'dent', 'stain']);
      expect([model.inputWidth, model.inputHeight]).toEqual([160, 160]);
    } finally {
      await detector.dispose();
    }
  });

  it('names the file and line of a malformed label row', () => {
    const broken = join(work, 'broken');
    spawnSync('cp', ['-r', data, broken]);
    // data.yaml names its own directory; point the copy at itself.
    const yaml = readFileSync(join(broken, 'data.yaml'), 'utf8').replaceAll(data, broken);
    writeFileSync(join(broken, 'data.yaml'), yaml);
    const labels = join(broken, 'labels', 'train');
    const first = readdirSync(labels).sort()[0] ?? '';
    appendFileSync(join(labels, first), '7 0.5 0.5 0.1 0.1\n');
    const run = visionloop([
      'train',
      '--data',
      broken,
      '--out',
      join(work, 'broken-run'),
      '--epochs',
      '1',
      '--imgsz',
      '160',
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('TRAINER_FAILED');
    expect(run.stderr).toContain(first);
    expect(run.stderr).toMatch(/line \d+/);
    expect(existsSync(join(work, 'broken-run', 'model.onnx'))).toBe(false);
  }, 120_000);

  it('refuses a corrupt --base file with a clear message', () => {
    const bad = join(work, 'bad-weights.pt');
    writeFileSync(bad, 'not a checkpoint');
    const run = visionloop([
      'train',
      '--data',
      data,
      '--out',
      join(work, 'bad-base'),
      '--base',
      bad,
      '--epochs',
      '1',
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('bad-weights.pt');
  }, 120_000);

  it('cancels the trainer cleanly on Ctrl-C', async () => {
    const out = join(work, 'cancelled');
    const child = spawn(
      process.execPath,
      [cli, 'train', '--data', data, '--out', out, '--epochs', '50', '--imgsz', '160'],
      {
        cwd: root,
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Interrupt once training is under way.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (stderr.includes('epoch') || stderr.includes('training')) {
          clearInterval(poll);
          resolve();
        }
      }, 100);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('TRAINING_CANCELLED');
    expect(existsSync(join(out, 'model.onnx'))).toBe(false);
  }, 120_000);
});
