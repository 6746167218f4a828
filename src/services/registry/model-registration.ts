/**
 * Registering a model version (uploads, the seed bootstrap, the training job). A model is
 * accepted only when it is an ONNX ModelProto (MODEL_NOT_ONNX), its metadata parses
 * (MODEL_METADATA_INVALID) and names classes equal, in order, to the deployment's
 * (MODEL_CLASSES_MISMATCH), and a real runtime loads it, runs a warm-up and recognizes its
 * output layout (MODEL_LAYOUT_UNSUPPORTED, MODEL_LOAD_FAILED; the `ModelInspector` port does
 * this in a fresh worker). The registry then writes `visionloop_version` into the file's
 * metadata, so whatever runs it reports the registered version, and stores model.onnx,
 * weights.pt and the training log in the blob store. Registering the same version with the same
 * artifact again is a no-op (a retried training job registers once); with another artifact it
 * is a CONFLICT. Lineage set later (dataset, metrics) is recorded here too.
 *
 * The class list of the deployment: the production model's names when production is set,
 * else the `deploymentClasses` option (a `classes` setting, when one exists), else the
 * synthetic line's SYNTH_CLASSES.
 *
 * It never loads a model itself (the inspector does) and never moves an alias.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ModelRow } from '../../db/schema.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { ModelRegistryRepository } from '../../repositories/model-registry.repository.js';
import {
  MAX_MODEL_UPLOAD_BYTES,
  PRODUCTION_ALIAS,
  registryVersionSchema,
  type ModelDetail,
} from '../../shared/api/models.js';
import { SYNTH_CLASSES } from '../../shared/domain.js';
import { VisionLoopError } from '../../shared/errors.js';
import { parseModelMetadata } from '../../vision/metadata.js';
import { readOnnxModelHeader, type OnnxModelHeader } from '../../vision/onnx-model-file.js';
import { setOnnxMetadata } from '../../vision/onnx-model-stamp.js';
import { modelNotFound, stringArray, type ModelCatalog } from './model-catalog.js';
import type {
  InspectedModel,
  ModelInspector,
  ModelRegistryOptions,
  RegisterModelInput,
  RegisteredModel,
} from './registry-types.js';

/** A model file read and stamped, before anything is stored. */
interface StampedModel {
  header: OnnxModelHeader;
  classNames: string[];
  version: string;
  stamped: Uint8Array;
  sha256: string;
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws MODEL_CLASSES_MISMATCH unless `modelNames` equals `expected` (names and order). */
export function checkDeploymentClasses(
  modelNames: readonly string[],
  expected: readonly string[],
  expectedFrom: string,
): void {
  let detail: string | null = null;
  if (modelNames.length !== expected.length) {
    detail = `the model has ${modelNames.length} classes, the deployment ${expected.length}`;
  } else {
    const id = modelNames.findIndex((name, i) => name !== expected[i]);
    if (id >= 0) {
      detail = `class ${id} is '${modelNames[id]}' in the model and '${expected[id]}' in the deployment`;
    }
  }
  if (detail === null) return;
  throw new VisionLoopError(
    'MODEL_CLASSES_MISMATCH',
    `the model's classes [${modelNames.join(', ')}] differ from the deployment's ` +
      `[${expected.join(', ')}] (${expectedFrom}): ${detail}`,
  );
}

function checkVersion(version: string): string {
  const parsed = registryVersionSchema.safeParse(version);
  if (!parsed.success) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `'${version.slice(0, 80)}' is not a valid version: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** Checks size, ONNX header and class names, picks the version and stamps it into the file. */
function stampModel(input: RegisterModelInput): StampedModel {
  if (input.artifact.byteLength > MAX_MODEL_UPLOAD_BYTES) {
    throw new VisionLoopError(
      'PAYLOAD_TOO_LARGE',
      `the model is ${input.artifact.byteLength} bytes; the registry takes at most ${MAX_MODEL_UPLOAD_BYTES}`,
    );
  }
  const header = readOnnxModelHeader(input.artifact, 'the model');
  const metadata = parseModelMetadata(header.metadata);
  if (metadata.names.length === 0) {
    throw new VisionLoopError(
      'MODEL_METADATA_INVALID',
      "the model has no class names: its metadata needs 'names' ({0: 'scratch', …}), as " +
        'Ultralytics and the VisionLoop trainer write it',
    );
  }
  const version = checkVersion(
    input.version ?? metadata.version ?? `model-${sha256Of(input.artifact).slice(0, 12)}`,
  );
  const stamped = setOnnxMetadata(input.artifact, { visionloop_version: version });
  return { header, classNames: metadata.names, version, stamped, sha256: sha256Of(stamped) };
}

export class ModelRegistration {
  private readonly now: () => number;

  constructor(
    private readonly models: ModelRegistryRepository,
    private readonly blobs: BlobStore,
    private readonly inspector: ModelInspector,
    private readonly catalog: ModelCatalog,
    private readonly options: ModelRegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Validates and registers a model (see the module comment for the checks and their error
   * codes). Idempotent for the same version and artifact. The version's lineage (parent,
   * dataset, trainer parameters, metrics, log, weights) is stored as given.
   */
  async register(input: RegisterModelInput): Promise<RegisteredModel> {
    const model = stampModel(input);
    const { version, sha256 } = model;
    const existing = await this.models.findByVersion(version);
    if (existing !== undefined) return this.sameOrConflict(existing, sha256);
    if (input.parentVersion != null && !(await this.models.findByVersion(input.parentVersion))) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `the parent version '${input.parentVersion}' is not registered`,
      );
    }
    const inspected = await this.inspect(model);
    const inserted = await this.insert(input, model, inspected);
    const row = await this.models.findByVersion(version);
    if (row === undefined) throw new VisionLoopError('INTERNAL', `version ${version} vanished`);
    if (!inserted) return this.sameOrConflict(row, sha256);
    return { model: await this.catalog.detailOf(row), created: true };
  }

  /**
   * Records the dataset snapshot a version was trained on when it has none (the shipped seed's
   * training set, registered when a training first needs it). False when it already had one.
   */
  async attachDataset(version: string, datasetId: string): Promise<boolean> {
    await this.catalog.row(version);
    return this.models.attachDataset(version, datasetId);
  }

  /** Replaces a version's evaluation metrics (the training job evaluates after registering). */
  async recordMetrics(version: string, metrics: Record<string, unknown>): Promise<ModelDetail> {
    if (!(await this.models.updateMetrics(version, JSON.stringify(metrics)))) {
      throw modelNotFound(version);
    }
    return this.catalog.get(version);
  }

  /** The deployment's classes checked against the file's and then the runtime's view of it. */
  private async inspect(model: StampedModel): Promise<InspectedModel> {
    // The deployment's classes are the detector's: a classify/segment stage model (metadata
    // `task`, as Ultralytics writes it) has its own (severity levels, `defect`).
    const stageModel = ['classify', 'segment'].includes(model.header.metadata.task ?? '');
    const expected = await this.deploymentClasses();
    if (!stageModel) checkDeploymentClasses(model.classNames, expected.names, expected.from);
    const inspected = await this.inspector.inspect(model.stamped);
    if (inspected.sha256 !== model.sha256 || inspected.version !== model.version) {
      throw new VisionLoopError(
        'INTERNAL',
        `the runtime loaded ${inspected.version} (${inspected.sha256.slice(0, 12)}) instead of ${model.version} (${model.sha256.slice(0, 12)})`,
      );
    }
    if (inspected.task === 'detect') {
      checkDeploymentClasses(inspected.classNames, expected.names, expected.from);
    }
    return inspected;
  }

  /** Stores the files as blobs and inserts the row; false when another insert won the race. */
  private async insert(
    input: RegisterModelInput,
    model: StampedModel,
    inspected: InspectedModel,
  ): Promise<boolean> {
    const { header, version, stamped } = model;
    const artifact = await this.blobs.put(stamped);
    const weights =
      input.weights != null && input.weights.byteLength > 0
        ? await this.blobs.put(input.weights)
        : null;
    const log =
      input.trainingLog != null
        ? await this.blobs.put(
            typeof input.trainingLog === 'string'
              ? new TextEncoder().encode(input.trainingLog)
              : input.trainingLog,
          )
        : null;
    const producer = [header.producerName, header.producerVersion].filter(Boolean).join(' ');
    return this.models.insertModel({
      id: `mdl_${randomBytes(8).toString('hex')}`,
      version,
      source: input.source,
      artifact_blob: artifact.key,
      artifact_sha256: model.sha256,
      artifact_bytes: stamped.byteLength,
      weights_blob: weights?.key ?? null,
      task: inspected.task,
      layout: inspected.layout,
      class_names: JSON.stringify(inspected.classNames),
      imgsz: Math.max(inspected.inputWidth, inspected.inputHeight),
      parent_version: input.parentVersion ?? null,
      dataset_id: input.datasetId ?? null,
      trainer_params: input.trainerParams ? JSON.stringify(input.trainerParams) : null,
      metrics: input.metrics ? JSON.stringify(input.metrics) : null,
      training_log_blob: log?.key ?? null,
      notes: input.notes ?? null,
      created_by: input.actor,
      created_at: this.now(),
      metadata: JSON.stringify({ ...header.metadata, visionloop_version: version }),
      producer: producer === '' ? null : producer,
    });
  }

  private async deploymentClasses(): Promise<{ names: readonly string[]; from: string }> {
    const production = await this.models.findModelByAlias(PRODUCTION_ALIAS);
    if (production) {
      return {
        names: stringArray(production.class_names),
        from: `those of production, ${production.version}`,
      };
    }
    const configured = await this.options.deploymentClasses?.();
    if (configured && configured.length > 0) {
      return { names: configured, from: 'the configured class list' };
    }
    return { names: SYNTH_CLASSES, from: "the synthetic line's classes" };
  }

  private async sameOrConflict(row: ModelRow, sha256: string): Promise<RegisteredModel> {
    if (row.artifact_sha256 === sha256) {
      return { model: await this.catalog.detailOf(row), created: false };
    }
    throw new VisionLoopError(
      'CONFLICT',
      `version ${row.version} is already registered with another artifact ` +
        `(sha256 ${row.artifact_sha256.slice(0, 12)}…); register this one under a new version`,
    );
  }
}
