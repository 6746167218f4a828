/**
 * Model-registry fixtures for tests: tiny constant-output ONNX detectors (see onnx-fixtures.ts)
 * with Ultralytics metadata and a `visionloop_version`, and a one-call "register this and make
 * it production". Test-only: never imported by src/.
 */
import type { ModelRegistryService } from '../../src/services/registry/index.js';
import { SYNTH_CLASSES } from '../../src/shared/domain.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from './onnx-fixtures.js';

export interface FixtureDetectorOptions {
  /** Written as `visionloop_version` (omit to leave it out). */
  version?: string;
  classes?: readonly string[];
  /** Class id and confidence of the one box every frame gets. Default class 0 at 0.5. */
  classId?: number;
  confidence?: number;
  /** Input side; default 32. */
  imgsz?: number;
}

/**
 * A YOLOv8-layout detector that finds one box (centre of the 32×32 input, 8×8) of `classId`
 * at `confidence` in every image.
 */
export function fixtureDetectorModel(options: FixtureDetectorOptions = {}): Uint8Array {
  const classes = options.classes ?? SYNTH_CLASSES;
  const imgsz = options.imgsz ?? 32;
  const scores = classes.map((_, k) =>
    k === (options.classId ?? 0) ? (options.confidence ?? 0.5) : 0,
  );
  const anchors =
    Math.ceil(imgsz / 8) ** 2 + Math.ceil(imgsz / 16) ** 2 + Math.ceil(imgsz / 32) ** 2;
  const { dims, values } = encodeLayoutTensor(
    'yolov8',
    [{ cx: imgsz / 2, cy: imgsz / 2, w: 8, h: 8, classScores: scores }],
    classes.length,
    anchors,
  );
  const metadata = ultralyticsMetadata(classes, { imgsz: [imgsz, imgsz] });
  if (options.version !== undefined) metadata.visionloop_version = options.version;
  return buildConstantOutputModel({
    inputShape: [1, 3, imgsz, imgsz],
    outputDims: dims,
    outputValues: values,
    metadata,
  });
}

/** Registers a fixture detector as `version` and points `production` at it. */
export async function installProductionFixture(
  models: ModelRegistryService,
  version: string,
  options: FixtureDetectorOptions = {},
): Promise<void> {
  await models.register({
    artifact: fixtureDetectorModel({ ...options, version }),
    source: 'uploaded',
    actor: 'test',
  });
  await models.promote(version, 'production', { actor: 'test', reason: 'fixture' });
}
