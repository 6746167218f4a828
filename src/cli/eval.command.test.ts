import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { EvaluationService } from '../services/evaluation.service.js';
import type { Detector, ModelInfo } from '../vision/detector.js';
import { registerEvalCommands, type EvalCommandDeps } from './eval.command.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/eval/', import.meta.url));
let dir: string;

interface Captured {
  stdout: string;
  stderr: string;
  usage: string;
}

/** A stderr stand-in for ProgressDisplay: not a TTY, so progress prints plain lines. */
function textStream(sink: (text: string) => void): NodeJS.WriteStream {
  const stream = {
    isTTY: false,
    write(text: string) {
      sink(text);
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream;
}

/** Parses `args` as `visionloop eval …` and returns what it printed. */
async function run(args: string[], createDetector?: () => Detector): Promise<Captured> {
  const out: Captured = { stdout: '', stderr: '', usage: '' };
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (text) => (out.usage += text), writeOut: () => undefined });
  const deps: EvalCommandDeps = {
    evaluation: new EvaluationService(new YoloDatasetRepository()),
    createDetector:
      createDetector ??
      (() => {
        throw new Error('this test must not create a detector');
      }),
    stdout: { write: (text: string) => (out.stdout += text) },
    stderr: textStream((text) => (out.stderr += text)),
  };
  registerEvalCommands(program, deps);
  await program.parseAsync(['eval', ...args], { from: 'user' });
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'visionloop-eval-cli-'));
  // The predictions path is tested on copies in a temp directory, as a user would pass them.
  await copyFile(path.join(fixtures, 'coco-annotations.json'), path.join(dir, 'gt.json'));
  await copyFile(path.join(fixtures, 'coco-results.json'), path.join(dir, 'results.json'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('visionloop eval --predictions', () => {
  it('prints the per-class table and the confusion summary', async () => {
    const gt = path.join(dir, 'gt.json');
    const results = path.join(dir, 'results.json');
    const { stdout, stderr } = await run(['--predictions', results, '--data', gt]);
    expect(stderr).toBe('');
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(
      `predictions ${results} against ${gt} (coco): 5 images, 12 objects, 21 predictions`,
    );
    // AP values are COCOeval's on these files (0.5544…, 0.2748…; see src/vision/coco.test.ts).
    expect(lines.slice(2, 9)).toEqual([
      'class    AP50   AP50-95  P      R      GT  preds',
      '-------  -----  -------  -----  -----  --  -----',
      'all      0.554  0.275    0.368  0.583  12  21',
      'scratch  0.851  0.415    0.400  1.000  4   10',
      'crack    0.370  0.166    0.400  0.400  5   6',
      'dent     0.442  0.244    0.500  0.333  3   3',
      'stain    -      -        0.000  -      0   2',
    ]);
    expect(stdout).toContain('mAP@0.75 0.173   small 0.459   medium 0.329   large 0.150');
    expect(stdout).toContain(
      [
        'actual \\ predicted  scratch  crack  dent  stain  background',
        '------------------  -------  -----  ----  -----  ----------',
        'scratch             4        0      0     0      0',
        'crack               1        2      0     0      2',
        'dent                1        0      1     0      1',
        'stain               0        0      0     0      0',
        'background          4        3      1     2      0',
      ].join('\n'),
    );
  });

  it('prints the report as JSON with --json, with the serving threshold applied', async () => {
    const { stdout } = await run([
      '--predictions',
      path.join(dir, 'results.json'),
      '--data',
      path.join(dir, 'gt.json'),
      '--threshold',
      '0.9',
      '--json',
    ]);
    const report = JSON.parse(stdout) as {
      map50_95: number;
      map50: number;
      servingThreshold: number;
      precision: number;
      perClass: { className: string; ap50: number }[];
      data: { format: string };
    };
    expect(report.map50_95).toBe(0.27486248624862486);
    expect(report.map50).toBe(0.5544554455445545);
    expect(report.servingThreshold).toBe(0.9);
    expect(report.perClass.map((c) => c.className)).toEqual(['scratch', 'crack', 'dent', 'stain']);
    expect(report.data.format).toBe('coco');
  });

  it('warns on stderr about what pycocotools would score differently', async () => {
    const gt = path.join(dir, 'gt0.json');
    await writeFile(
      gt,
      JSON.stringify({
        images: [{ id: 1 }],
        annotations: [{ id: 0, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }],
        categories: [{ id: 1, name: 'scratch' }],
      }),
    );
    const results = path.join(dir, 'r0.json');
    await writeFile(
      results,
      JSON.stringify([{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 }]),
    );
    const { stdout, stderr } = await run(['-p', results, '-d', gt, '--json']);
    expect(stderr).toMatch(/^warning: .*annotations\[0\] has id 0/);
    expect((JSON.parse(stdout) as { map50: number }).map50).toBeCloseTo(1, 12);
  });
});

describe('visionloop eval usage', () => {
  it('needs exactly one of --model and --predictions', async () => {
    const neither = run(['--data', 'x']);
    await expect(neither).rejects.toBeInstanceOf(CommanderError);
    await expect(neither).rejects.toMatchObject({ exitCode: 2 });
    await expect(
      run(['--model', 'm.onnx', '--predictions', 'p.json', '--data', 'x']),
    ).rejects.toMatchObject({
      code: 'commander.conflictingOption',
    });
    await expect(run(['--model', 'm.onnx', '--data', 'gt.json'])).rejects.toThrow(
      /--data must be a YOLO dataset/,
    );
    await expect(
      run(['--predictions', 'p.json', '--data', 'x', '--threshold', '2']),
    ).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
  });

  it('names the file of a missing predictions file', async () => {
    const missing = path.join(dir, 'none.json');
    await expect(
      run(['--predictions', missing, '--data', path.join(dir, 'gt.json')]),
    ).rejects.toThrow(new VisionLoopError('NOT_FOUND', `cannot read ${missing}: ENOENT`));
  });
});

describe('visionloop eval --model', () => {
  it('loads the model from the factory, shows progress, and disposes of it', async () => {
    const data = path.join(dir, 'yolo');
    await mkdir(path.join(data, 'images/val'), { recursive: true });
    await mkdir(path.join(data, 'labels/val'), { recursive: true });
    await writeFile(path.join(data, 'data.yaml'), 'val: images/val\nnames: [scratch]\n');
    const png = await sharp({ create: { width: 40, height: 20, channels: 3, background: 'white' } })
      .png()
      .toBuffer();
    await writeFile(path.join(data, 'images/val/a.png'), png);
    await writeFile(path.join(data, 'labels/val/a.txt'), '0 0.5 0.5 0.5 0.5\n');

    const events: string[] = [];
    let info: ModelInfo | null = null;
    const detector: Detector = {
      get model(): ModelInfo {
        if (!info) throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
        return info;
      },
      load(modelPath) {
        events.push(`load ${modelPath}`);
        info = {
          path: modelPath,
          sha256: '',
          version: 'v7',
          inputName: 'images',
          outputName: 'output0',
          inputWidth: 64,
          inputHeight: 64,
          stride: 32,
          classNames: ['scratch'],
          layout: 'yolov8',
          metadata: {},
        };
        return Promise.resolve(info);
      },
      detect() {
        events.push('detect');
        const box = { x1: 10, y1: 5, x2: 30, y2: 15 };
        return Promise.resolve({
          detections: [{ classId: 0, className: 'scratch', confidence: 0.8, box }],
          timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
        });
      },
      dispose() {
        events.push('dispose');
        return Promise.resolve();
      },
    };
    const { stdout, stderr } = await run(
      ['--model', '/m/model.onnx', '--data', data],
      () => detector,
    );
    expect(events).toEqual(['load /m/model.onnx', 'detect', 'dispose']);
    expect(stderr).toMatch(/^evaluating 1\/1 elapsed/);
    expect(stdout.split('\n')[0]).toBe(
      `model /m/model.onnx (version v7) on ${data} [val]: 1 images, 1 objects, 1 predictions`,
    );
    expect(stdout).toContain('all      1.000  1.000    1.000  1.000  1   1');
  });
});
