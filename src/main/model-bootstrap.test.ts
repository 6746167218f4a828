import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelDetail } from '../shared/api/models.js';
import { VisionLoopError } from '../shared/errors.js';
import { parseModelMetadata } from '../vision/metadata.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import {
  registerStageModels,
  shippedStageModels,
  type ModelBootstrapLog,
  type StageModelFile,
} from './model-bootstrap.js';

type Registry = Parameters<typeof registerStageModels>[0];
type RegisterInput = Parameters<Registry['register']>[0];

/** A registry stand-in recording calls; `refuse` makes register throw for that task's file. */
function fakeRegistry(aliases: Record<string, string>, refuse?: string) {
  const registered: RegisterInput[] = [];
  const promoted: {
    version: string;
    alias: string;
    actor: string | null;
    reason?: string | null;
  }[] = [];
  const registry: Registry = {
    resolveAlias: (alias) =>
      Promise.resolve(
        aliases[alias] === undefined ? null : ({ version: aliases[alias] } as ModelDetail),
      ),
    register: (input) => {
      const text = Buffer.from(input.artifact).toString();
      if (refuse !== undefined && text.includes(refuse)) {
        return Promise.reject(
          new VisionLoopError('MODEL_CLASSES_MISMATCH', `classes of ${refuse} differ`),
        );
      }
      registered.push(input);
      return Promise.resolve({ model: { version: `v-${text}` } as ModelDetail, created: true });
    },
    promote: (version, alias, options) => {
      promoted.push({ version, alias, actor: options.actor, reason: options.reason });
      aliases[alias] = version;
      return Promise.resolve({
        alias,
        changed: true,
        fromVersion: null,
        toVersion: version,
        entry: null,
        serving: null,
      });
    },
  };
  return { registry, registered, promoted };
}

function recordingLog() {
  const lines: string[] = [];
  const log: ModelBootstrapLog = {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
  return { log, lines };
}

let root: string;
let files: StageModelFile[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'visionloop-stage-bootstrap-'));
  files = shippedStageModels(join(root, 'seed', 'model.onnx'));
  for (const task of ['classify', 'segment']) {
    await mkdir(join(root, `seed-${task}`), { recursive: true });
    await writeFile(join(root, `seed-${task}`, 'model.onnx'), `${task}-model`);
  }
  await writeFile(join(root, 'seed-classify', 'metrics.json'), '{"val": {"accuracy": 0.9}}');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('registerStageModels', () => {
  it('finds the stage models beside the seed directory, with the default stage aliases', () => {
    expect(files).toEqual([
      {
        task: 'classify',
        path: join(root, 'seed-classify', 'model.onnx'),
        alias: 'classify-production',
      },
      {
        task: 'segment',
        path: join(root, 'seed-segment', 'model.onnx'),
        alias: 'segment-production',
      },
    ]);
  });

  it('registers each file with its metrics and points its alias at it as bootstrap', async () => {
    const { registry, registered, promoted } = fakeRegistry({ production: 'seed-v1' });
    const { log, lines } = recordingLog();
    const versions = await registerStageModels(registry, files, log);
    expect(versions).toEqual(['v-classify-model', 'v-segment-model']);
    expect(registered.map((r) => [Buffer.from(r.artifact).toString(), r.source, r.actor])).toEqual([
      ['classify-model', 'seed', 'bootstrap'],
      ['segment-model', 'seed', 'bootstrap'],
    ]);
    expect(registered[0]!.metrics).toEqual({ val: { accuracy: 0.9 } });
    expect(registered[1]!.metrics).toBeNull();
    expect(promoted).toEqual([
      {
        version: 'v-classify-model',
        alias: 'classify-production',
        actor: 'bootstrap',
        reason: 'first start: the shipped classify stage model',
      },
      {
        version: 'v-segment-model',
        alias: 'segment-production',
        actor: 'bootstrap',
        reason: 'first start: the shipped segment stage model',
      },
    ]);
    expect(lines.filter((l) => l.startsWith('info registered'))).toHaveLength(2);
  });

  it('leaves an alias that is already set alone', async () => {
    const { registry, registered } = fakeRegistry({ 'classify-production': 'mine-v3' });
    const versions = await registerStageModels(registry, files, recordingLog().log);
    expect(versions).toEqual(['v-segment-model']);
    expect(registered).toHaveLength(1);
  });

  it('logs a missing file or a refused registration and goes on with the next', async () => {
    const { registry, promoted } = fakeRegistry({}, 'classify');
    const { log, lines } = recordingLog();
    const missing: StageModelFile = {
      task: 'segment',
      path: join(root, 'nowhere', 'model.onnx'),
      alias: 'segment-candidate',
    };
    const versions = await registerStageModels(registry, [files[0]!, missing, files[1]!], log);
    expect(versions).toEqual(['v-segment-model']);
    expect(promoted.map((p) => p.alias)).toEqual(['segment-production']);
    expect(lines).toContain(
      `warn the classify stage model ${files[0]!.path} was not registered: classes of classify differ`,
    );
    expect(lines).toContain(
      `info no segment stage model at ${missing.path}; segment-candidate stays unset`,
    );
  });
});

describe('the shipped stage models', () => {
  const models = fileURLToPath(new URL('../../models', import.meta.url));
  const shipped = shippedStageModels(join(models, 'seed', 'model.onnx'));

  it.each(shipped.map((f) => [f.task, f.path] as const))(
    '%s: an ONNX file under 1 MB with Ultralytics metadata for its task',
    (task, path) => {
      expect(existsSync(path)).toBe(true);
      expect(statSync(path).size).toBeLessThan(1_000_000);
      const header = readOnnxModelHeader(readFileSync(path), path);
      const metadata = parseModelMetadata(header.metadata);
      expect(metadata.task).toBe(task);
      expect(metadata.imgsz).toEqual([64, 64]);
      expect(metadata.names).toEqual(
        task === 'classify' ? ['not_defect', 'minor', 'major', 'critical'] : ['defect'],
      );
      expect(metadata.version).toBe(`${task}-seed-v1`);
      const metrics = JSON.parse(readFileSync(join(path, '..', 'metrics.json'), 'utf8')) as {
        task: string;
        val: Record<string, unknown>;
      };
      expect(metrics.task).toBe(task);
      expect(Object.keys(metrics.val)).toContain(task === 'classify' ? 'accuracy' : 'mean_iou');
    },
  );
});
