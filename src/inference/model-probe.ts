/**
 * The registry's model inspector on ONNX Runtime: loads candidate bytes in a fresh
 * OnnxDetector (its own worker thread: load, warm-up run, output-layout check), runs one
 * detection through the whole path, and disposes the worker. What it reports is what the
 * server and the agents will see when they load the same bytes.
 *
 * The bytes pass through a temporary file (the detector loads from a path) that is deleted
 * as soon as the runtime has read it. Never keeps a session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectedModel, ModelInspector } from './model-inspector.js';
import type { Detector } from '../vision/detector.js';
import { OnnxDetector } from './onnx-detector.js';

export interface OnnxModelProbeOptions {
  /** Where the temporary file goes. Default: the OS temp dir. */
  workDir?: string;
  /** ORT threads for the probe's session. Default 1: a probe must not starve serving. */
  threads?: number;
  /** Injected in tests. */
  createDetector?: () => Detector;
}

export class OnnxModelProbe implements ModelInspector {
  private readonly workDir: string;
  private readonly createDetector: () => Detector;

  constructor(options: OnnxModelProbeOptions = {}) {
    this.workDir = options.workDir ?? join(tmpdir(), 'visionloop-probe');
    const threads = options.threads ?? 1;
    this.createDetector = options.createDetector ?? (() => new OnnxDetector({ threads }));
  }

  async inspect(bytes: Uint8Array): Promise<InspectedModel> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await mkdir(this.workDir, { recursive: true });
    const file = join(this.workDir, `${sha256}-${randomBytes(4).toString('hex')}.onnx`);
    const detector = this.createDetector();
    try {
      await writeFile(file, bytes, { mode: 0o600 });
      const info = await detector.load(file);
      await rm(file, { force: true });
      const width = info.inputWidth;
      const height = info.inputHeight;
      await detector.detect({ width, height, data: new Uint8Array(width * height * 3).fill(114) });
      return {
        version: info.version,
        sha256: info.sha256,
        task: 'detect',
        layout: info.layout,
        classNames: info.classNames,
        inputWidth: width,
        inputHeight: height,
      };
    } finally {
      await rm(file, { force: true });
      await detector.dispose();
    }
  }
}
