/**
 * The model registry: versions with lineage, aliases with history, and the checks that keep a
 * broken or foreign model out of it.
 *
 * Registration (`register`, used by uploads, the seed bootstrap and the training job) accepts
 * a model only when it is an ONNX ModelProto (MODEL_NOT_ONNX), its metadata parses
 * (MODEL_METADATA_INVALID) and names classes equal, in order, to the deployment's
 * (MODEL_CLASSES_MISMATCH), and a real runtime loads it, runs a warm-up and recognizes its
 * output layout (MODEL_LAYOUT_UNSUPPORTED, MODEL_LOAD_FAILED; the `ModelInspector` port does
 * this in a fresh worker). The registry then writes `visionloop_version` into the file's
 * metadata, so whatever runs it reports the registered version, and stores model.onnx,
 * weights.pt and the training log in the blob store. Registering the same version with the same
 * artifact again is a no-op (a retried training job registers once); with another artifact it
 * is a CONFLICT.
 *
 * Aliases work as MLflow's: a name pointing at one version, moved by `promote` (any registered
 * version) or `rollback` (back to where it pointed before its latest move; a second rollback
 * goes forward again, as `kubectl rollout undo`). Every move is one compare-and-set plus its
 * history entry in one transaction. After a move it publishes a `model` event, sets
 * `visionloop_model_info{alias,version}`, and, for `production`, asks the deployer (this
 * server's inference) to swap, reporting what happened. Moves made by other processes (a job
 * worker promoting) are noticed by `syncAliases`, which the server runs on a timer.
 *
 * The class list of the deployment: the production model's names when production is set,
 * else the `deploymentClasses` option (a `classes` setting, when one exists), else the
 * synthetic line's SYNTH_CLASSES.
 *
 * It never loads a model itself (the inspector and the deployer do) and never reads files:
 * bytes come in, keys go to the database.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AliasAction, AliasHistoryRow, ModelRow, ModelSource } from '../db/schema.js';
import type { ModelInspector } from '../inference/model-inspector.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type {
  AliasWithSha,
  ModelRegistryRepository,
} from '../repositories/model-registry.repository.js';
import {
  MAX_MODEL_UPLOAD_BYTES,
  PRODUCTION_ALIAS,
  STAGING_ALIAS,
  aliasNameSchema,
  registryVersionSchema,
  type AliasHistoryEntry,
  type AliasHistoryResponse,
  type AliasMoveResponse,
  type MetricComparison,
  type ModelAlias,
  type ModelDetail,
  type ModelDetailResponse,
  type ModelListQuery,
  type ModelListResponse,
  type ModelSummary,
  type ProductionRef,
  type ServingOutcome,
} from '../shared/api/models.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { parseModelMetadata } from '../vision/metadata.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import { setOnnxMetadata } from '../vision/onnx-model-stamp.js';
import type { EventBus } from './event-bus.js';

// The runtime port lives with the runtime (below services); re-exported for the registry's users.
export type { InspectedModel, ModelInspector } from '../inference/model-inspector.js';

/** This server's inference: told when `production` moves. Never throws; reports instead. */
export interface ModelDeployer {
  deploy(version: string, reason: string): Promise<ServingOutcome>;
}

/** `visionloop_model_info{alias,version}` (PrometheusService implements it). */
export interface AliasGauge {
  setModelAlias(alias: string, version: string | null): void;
}

export interface RegisterModelInput {
  /** model.onnx bytes. */
  artifact: Uint8Array;
  /** weights.pt bytes (warm starts); null for ONNX-only models. */
  weights?: Uint8Array | null;
  /** The trainer's log (text or bytes), kept as a blob. */
  trainingLog?: Uint8Array | string | null;
  /** Default: the model's `visionloop_version` metadata, else `model-<sha256 prefix>`. */
  version?: string;
  source: ModelSource;
  /** Must be a registered version when given. */
  parentVersion?: string | null;
  /** The dataset snapshot (manifest hash) it was trained on. */
  datasetId?: string | null;
  trainerParams?: Record<string, unknown> | null;
  /** Evaluation results; `recordMetrics` may set them later. */
  metrics?: Record<string, unknown> | null;
  notes?: string | null;
  /** Who registers it (token name, `bootstrap`, `training`). */
  actor: string | null;
}

export interface RegisteredModel {
  model: ModelDetail;
  /** False when this version with this artifact was already registered. */
  created: boolean;
}

export interface AliasMoveOptions {
  actor: string | null;
  reason?: string | null;
  /** Promote a version the promotion gate rejected (needs a reason; kept in the history). */
  force?: boolean;
}

/** The alias-history reason of a promotion that overrode the gate starts with this. */
export const GATE_OVERRIDE_PREFIX = 'gate override:';

/** The gate's rejection stored with a version's metrics (reasons), or null when it passed or has none. */
export function gateRejectionOf(metrics: Record<string, unknown> | null): string[] | null {
  const gate = metrics?.gate;
  if (typeof gate !== 'object' || gate === null) return null;
  const { decision, reasons } = gate as { decision?: unknown; reasons?: unknown };
  if (decision !== 'rejected') return null;
  return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === 'string') : [];
}

export interface OpenedBlob {
  stream: NodeJS.ReadableStream | Readable;
  bytes: number;
  sha256: string;
  fileName: string;
}

export interface ModelRegistryOptions {
  now?: () => number;
  /** The configured class list, when the deployment has one (else SYNTH_CLASSES). */
  deploymentClasses?: () => Promise<readonly string[] | null>;
  gauge?: AliasGauge;
  deployer?: ModelDeployer;
}

/**
 * Attempts at a compare-and-set alias move before giving up with CONFLICT. A failed attempt
 * means another move succeeded, so this bounds only pathological contention.
 */
const MOVE_ATTEMPTS = 25;
/** Deepest nesting of metrics flattened for the side-by-side comparison. */
const METRIC_DEPTH = 6;

let historySequence = 0;

/** Ids that sort in creation order within this process, even within one millisecond. */
function historyId(at: number): string {
  historySequence = (historySequence + 1) % 1_000_000;
  const time = String(at).padStart(15, '0');
  return `ah_${time}_${String(historySequence).padStart(6, '0')}_${randomBytes(4).toString('hex')}`;
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function jsonObject(text: string | null): Record<string, unknown> | null {
  const value = parseJson(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function stringArray(text: string): string[] {
  const value = parseJson(text);
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

function stringRecord(text: string): Record<string, string> {
  const value = jsonObject(text) ?? {};
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') out[key] = item;
  return out;
}

/** Numeric leaves of a metrics object, by dotted path. */
export function flattenMetrics(
  metrics: Record<string, unknown> | null,
  prefix = '',
  depth = 0,
  out = new Map<string, number>(),
): Map<string, number> {
  if (metrics === null || depth > METRIC_DEPTH) return out;
  for (const [key, value] of Object.entries(metrics)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof value === 'number' && Number.isFinite(value)) out.set(path, value);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      flattenMetrics(value as Record<string, unknown>, path, depth + 1, out);
    }
  }
  return out;
}

/** Each metric of `candidate` and `production` side by side (candidate's order first). */
export function compareMetrics(
  candidate: Record<string, unknown> | null,
  production: Record<string, unknown> | null,
): MetricComparison[] {
  const mine = flattenMetrics(candidate);
  const theirs = flattenMetrics(production);
  const names = [...mine.keys(), ...[...theirs.keys()].filter((name) => !mine.has(name))];
  return names.map((metric) => {
    const value = mine.get(metric) ?? null;
    const reference = theirs.get(metric) ?? null;
    return {
      metric,
      value,
      production: reference,
      delta: value !== null && reference !== null ? value - reference : null,
    };
  });
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

function historyEntryOf(row: AliasHistoryRow): AliasHistoryEntry {
  return {
    id: row.id,
    alias: row.alias,
    action: row.action,
    fromVersion: row.from_version,
    toVersion: row.to_version,
    actor: row.actor,
    reason: row.reason,
    at: row.created_at,
  };
}

function aliasOf(row: AliasWithSha): ModelAlias {
  return {
    alias: row.alias,
    version: row.version,
    sha256: row.artifact_sha256,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

function failedOutcome(error: unknown): ServingOutcome {
  return {
    swapped: false,
    version: null,
    previousVersion: null,
    loadMs: null,
    error: {
      code: error instanceof VisionLoopError ? error.code : 'INTERNAL',
      message: error instanceof Error ? error.message : String(error),
    },
  };
}

export class ModelRegistryService {
  private readonly now: () => number;
  /** Where each alias pointed when this process last looked (for `syncAliases`). */
  private readonly knownAliases = new Map<string, string>();

  constructor(
    private readonly models: ModelRegistryRepository,
    private readonly blobs: BlobStore,
    private readonly inspector: ModelInspector,
    private readonly events: EventBus,
    private readonly options: ModelRegistryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Sets (or replaces) the deployer told about `production` moves. */
  setDeployer(deployer: ModelDeployer | undefined): void {
    this.options.deployer = deployer;
  }

  // ------------------------------------------------------------------------------------------
  // versions

  /**
   * Validates and registers a model (see the module comment for the checks and their error
   * codes). Idempotent for the same version and artifact. The version's lineage (parent,
   * dataset, trainer parameters, metrics, log, weights) is stored as given.
   */
  async register(input: RegisterModelInput): Promise<RegisteredModel> {
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
    const version = this.checkVersion(
      input.version ?? metadata.version ?? `model-${sha256Of(input.artifact).slice(0, 12)}`,
    );
    const stamped = setOnnxMetadata(input.artifact, { visionloop_version: version });
    const sha256 = sha256Of(stamped);

    const existing = await this.models.findByVersion(version);
    if (existing !== undefined) return this.sameOrConflict(existing, sha256);
    if (input.parentVersion != null && !(await this.models.findByVersion(input.parentVersion))) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `the parent version '${input.parentVersion}' is not registered`,
      );
    }
    const expected = await this.deploymentClasses();
    checkDeploymentClasses(metadata.names, expected.names, expected.from);

    const inspected = await this.inspector.inspect(stamped);
    if (inspected.sha256 !== sha256 || inspected.version !== version) {
      throw new VisionLoopError(
        'INTERNAL',
        `the runtime loaded ${inspected.version} (${inspected.sha256.slice(0, 12)}) instead of ${version} (${sha256.slice(0, 12)})`,
      );
    }
    checkDeploymentClasses(inspected.classNames, expected.names, expected.from);

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
    const inserted = await this.models.insertModel({
      id: `mdl_${randomBytes(8).toString('hex')}`,
      version,
      source: input.source,
      artifact_blob: artifact.key,
      artifact_sha256: sha256,
      artifact_bytes: stamped.byteLength,
      weights_blob: weights?.key ?? null,
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
    const row = await this.models.findByVersion(version);
    if (row === undefined) throw new VisionLoopError('INTERNAL', `version ${version} vanished`);
    if (!inserted) return this.sameOrConflict(row, sha256);
    return { model: await this.detailOf(row), created: true };
  }

  /**
   * Records the dataset snapshot a version was trained on when it has none (the shipped seed's
   * training set, registered when a training first needs it). False when it already had one.
   */
  async attachDataset(version: string, datasetId: string): Promise<boolean> {
    await this.row(version);
    return this.models.attachDataset(version, datasetId);
  }

  /** Replaces a version's evaluation metrics (the training job evaluates after registering). */
  async recordMetrics(version: string, metrics: Record<string, unknown>): Promise<ModelDetail> {
    if (!(await this.models.updateMetrics(version, JSON.stringify(metrics)))) {
      throw this.notFound(version);
    }
    return this.get(version);
  }

  async list(query: ModelListQuery): Promise<ModelListResponse> {
    const [rows, total, aliases] = await Promise.all([
      this.models.list(query.limit, query.offset),
      this.models.count(),
      this.models.listAliases(),
    ]);
    return {
      models: rows.map((row) => this.summaryOf(row, aliases)),
      total,
      aliases: aliases.map(aliasOf),
    };
  }

  /** One version. Throws MODEL_NOT_FOUND. */
  async get(version: string): Promise<ModelDetail> {
    return this.detailOf(await this.row(version));
  }

  /** One version with its metrics beside production's. */
  async detail(version: string): Promise<ModelDetailResponse> {
    const model = await this.get(version);
    const production = await this.models.findModelByAlias(PRODUCTION_ALIAS);
    let productionMetrics = production ? jsonObject(production.metrics) : null;
    // A retrained candidate scored production on its own holdouts: show those beside its own.
    const baseline = model.metrics?.baseline as
      { version?: unknown; holdouts?: unknown } | null | undefined;
    if (
      production !== undefined &&
      baseline?.version === production.version &&
      typeof baseline.holdouts === 'object' &&
      baseline.holdouts !== null &&
      productionMetrics?.holdouts === undefined
    ) {
      productionMetrics = { ...productionMetrics, holdouts: baseline.holdouts };
    }
    return {
      model,
      production: production ? { version: production.version, metrics: productionMetrics } : null,
      comparison: compareMetrics(model.metrics, productionMetrics),
    };
  }

  /** The version an alias points at, or null when the alias is not set. */
  async resolveAlias(alias: string): Promise<ModelDetail | null> {
    const row = await this.models.findModelByAlias(alias);
    return row ? this.detailOf(row) : null;
  }

  /** What agents follow (heartbeat answers). */
  async production(): Promise<ProductionRef | null> {
    const alias = await this.models.findAlias(PRODUCTION_ALIAS);
    return alias ? { version: alias.version, sha256: alias.artifact_sha256 } : null;
  }

  /** `production` and `staging` for model status. */
  async mainAliases(): Promise<{ production: ModelAlias | null; staging: ModelAlias | null }> {
    const [production, staging] = await Promise.all([
      this.models.findAlias(PRODUCTION_ALIAS),
      this.models.findAlias(STAGING_ALIAS),
    ]);
    return {
      production: production ? aliasOf(production) : null,
      staging: staging ? aliasOf(staging) : null,
    };
  }

  /** model.onnx of a version, as a stream. Throws MODEL_NOT_FOUND. */
  async openArtifact(version: string): Promise<OpenedBlob> {
    const row = await this.row(version);
    return this.open(row.artifact_blob, `${row.version}.onnx`, version, 'model.onnx');
  }

  /** weights.pt of a version. MODEL_NOT_FOUND when the version or its weights are missing. */
  async openWeights(version: string): Promise<OpenedBlob> {
    const row = await this.row(version);
    if (row.weights_blob === null) {
      throw new VisionLoopError(
        'MODEL_NOT_FOUND',
        `version ${version} has no weights.pt (an uploaded ONNX-only model)`,
      );
    }
    return this.open(row.weights_blob, `${row.version}.pt`, version, 'weights.pt');
  }

  /** model.onnx bytes (evaluation, serving). */
  async readArtifact(version: string): Promise<Buffer> {
    const row = await this.row(version);
    const bytes = await this.blobs.get(row.artifact_blob);
    if (bytes === null) throw this.missingBlob(version, 'model.onnx');
    return bytes;
  }

  /** weights.pt bytes for a warm start, or null when the version has none. */
  async readWeights(version: string): Promise<Buffer | null> {
    const row = await this.row(version);
    if (row.weights_blob === null) return null;
    const bytes = await this.blobs.get(row.weights_blob);
    if (bytes === null) throw this.missingBlob(version, 'weights.pt');
    return bytes;
  }

  /** The training log text, or null when none was stored. */
  async readTrainingLog(version: string): Promise<string | null> {
    const row = await this.row(version);
    if (row.training_log_blob === null) return null;
    const bytes = await this.blobs.get(row.training_log_blob);
    return bytes === null ? null : bytes.toString('utf8');
  }

  // ------------------------------------------------------------------------------------------
  // aliases

  /**
   * Points `alias` at `version`. A no-op (changed: false) when it already does. For
   * `production`, the result says what this server's inference did (it keeps serving the old
   * model when the new one cannot be loaded; the alias move stands either way).
   */
  async promote(
    version: string,
    alias: string,
    options: AliasMoveOptions,
  ): Promise<AliasMoveResponse> {
    const name = this.checkAlias(alias);
    const target = await this.row(version);
    const rejection = gateRejectionOf(jsonObject(target.metrics));
    if (rejection !== null) {
      const why = rejection.length > 0 ? rejection.join('; ') : 'no reasons stored';
      if (options.force !== true) {
        throw new VisionLoopError(
          'GATE_REJECTED',
          `the promotion gate rejected ${target.version} (${why}); to promote it anyway, ` +
            'override with force and a reason (CLI: --force --reason "…")',
        );
      }
      const reason = options.reason?.trim() ?? '';
      if (reason.length === 0) {
        throw new VisionLoopError(
          'INVALID_ARGUMENT',
          `overriding the gate's rejection of ${target.version} needs a reason (kept in the alias history)`,
        );
      }
      options = {
        ...options,
        reason: `${GATE_OVERRIDE_PREFIX} ${reason} (the gate rejected it: ${why})`.slice(0, 1000),
      };
    }
    for (let attempt = 0; attempt < MOVE_ATTEMPTS; attempt++) {
      const current = await this.models.findAlias(name);
      if (current?.version === target.version) {
        return {
          alias: name,
          changed: false,
          fromVersion: current.version,
          toVersion: target.version,
          entry: null,
          serving: null,
        };
      }
      const moved = await this.move(name, current?.version ?? null, target, 'promote', options);
      if (moved !== null) return moved;
    }
    throw this.contended(name);
  }

  /**
   * Moves `alias` back to the version it pointed at before its latest move. CONFLICT when it
   * has no previous version (it was only ever set once); NOT_FOUND when it does not exist.
   */
  async rollback(alias: string, options: AliasMoveOptions): Promise<AliasMoveResponse> {
    const name = this.checkAlias(alias);
    for (let attempt = 0; attempt < MOVE_ATTEMPTS; attempt++) {
      const current = await this.models.findAlias(name);
      if (current === undefined) {
        throw new VisionLoopError('NOT_FOUND', `there is no alias '${name}' to roll back`);
      }
      const [latest] = await this.models.history(name, 1);
      const previous = latest?.to_version === current.version ? latest.from_version : null;
      if (previous === null || previous === undefined) {
        const since =
          latest === undefined
            ? ''
            : ` since ${latest.actor ?? 'someone'} set it at ${new Date(latest.created_at).toISOString()}`;
        throw new VisionLoopError(
          'CONFLICT',
          `alias '${name}' has no previous version to roll back to: it has pointed at ` +
            `${current.version}${since} and at nothing before`,
        );
      }
      const target = await this.row(previous);
      const moved = await this.move(name, current.version, target, 'rollback', {
        actor: options.actor,
        reason: options.reason ?? `rollback from ${current.version}`,
      });
      if (moved !== null) return moved;
    }
    throw this.contended(name);
  }

  async history(alias: string, limit: number): Promise<AliasHistoryResponse> {
    const name = this.checkAlias(alias);
    const [current, rows] = await Promise.all([
      this.models.findAlias(name),
      this.models.history(name, limit),
    ]);
    return { alias: name, current: current?.version ?? null, history: rows.map(historyEntryOf) };
  }

  /**
   * Loads where every alias points (no events), sets the alias gauges and puts `production`
   * into service through the deployer. Run once at server start.
   */
  async start(): Promise<ServingOutcome | null> {
    const aliases = await this.models.listAliases();
    this.knownAliases.clear();
    for (const alias of aliases) {
      this.knownAliases.set(alias.alias, alias.version);
      this.options.gauge?.setModelAlias(alias.alias, alias.version);
    }
    const production = this.knownAliases.get(PRODUCTION_ALIAS);
    if (production === undefined || this.options.deployer === undefined) return null;
    return this.deploy(production, 'server start');
  }

  /**
   * Notices alias moves made by other processes (a job worker, another replica) since this
   * one last looked: publishes their `model` events, updates the gauges and deploys a new
   * `production`. Returns the aliases that moved.
   */
  async syncAliases(): Promise<string[]> {
    const aliases = await this.models.listAliases();
    const moved: string[] = [];
    const seen = new Set<string>();
    for (const alias of aliases) {
      seen.add(alias.alias);
      const known = this.knownAliases.get(alias.alias);
      if (known === alias.version) continue;
      this.knownAliases.set(alias.alias, alias.version);
      moved.push(alias.alias);
      const [latest] = await this.models.history(alias.alias, 1);
      const entry = latest?.to_version === alias.version ? latest : undefined;
      this.announce({
        alias: alias.alias,
        fromVersion: entry?.from_version ?? known ?? null,
        toVersion: alias.version,
        sha256: alias.artifact_sha256,
        actor: entry?.actor ?? alias.updated_by,
        reason: entry?.reason ?? null,
      });
      if (alias.alias === PRODUCTION_ALIAS) await this.deploy(alias.version, 'production moved');
    }
    for (const alias of [...this.knownAliases.keys()]) {
      if (seen.has(alias)) continue;
      this.knownAliases.delete(alias);
      this.options.gauge?.setModelAlias(alias, null);
      moved.push(alias);
    }
    return moved;
  }

  /**
   * On an empty registry, registers `artifact` (the shipped seed) with source `seed` under its
   * metadata version and points `production` at it, as actor `bootstrap`. Returns the version,
   * or null when the registry already had models.
   */
  async bootstrapSeed(artifact: Uint8Array, weights: Uint8Array | null): Promise<string | null> {
    if ((await this.models.count()) > 0) return null;
    const { model } = await this.register({
      artifact,
      weights,
      source: 'seed',
      notes: 'the seed model shipped with VisionLoop (trained on the nominal synthetic line)',
      actor: 'bootstrap',
    });
    await this.promote(model.version, PRODUCTION_ALIAS, {
      actor: 'bootstrap',
      reason: 'first start: the shipped seed model',
    });
    return model.version;
  }

  // ------------------------------------------------------------------------------------------

  private async move(
    alias: string,
    fromVersion: string | null,
    target: ModelRow,
    action: AliasAction,
    options: AliasMoveOptions,
  ): Promise<AliasMoveResponse | null> {
    const at = this.now();
    const id = historyId(at);
    const reason = options.reason ?? null;
    const applied = await this.models.moveAlias({
      alias,
      expectedVersion: fromVersion,
      toVersion: target.version,
      action,
      actor: options.actor,
      reason,
      at,
      historyId: id,
    });
    if (!applied) return null;
    this.knownAliases.set(alias, target.version);
    this.announce({
      alias,
      fromVersion,
      toVersion: target.version,
      sha256: target.artifact_sha256,
      actor: options.actor,
      reason,
    });
    const serving =
      alias === PRODUCTION_ALIAS && this.options.deployer !== undefined
        ? await this.deploy(target.version, `${action} by ${options.actor ?? 'someone'}`)
        : null;
    return {
      alias,
      changed: true,
      fromVersion,
      toVersion: target.version,
      entry: {
        id,
        alias,
        action,
        fromVersion,
        toVersion: target.version,
        actor: options.actor,
        reason,
        at,
      },
      serving,
    };
  }

  private announce(move: {
    alias: string;
    fromVersion: string | null;
    toVersion: string;
    sha256: string;
    actor: string | null;
    reason: string | null;
  }): void {
    this.options.gauge?.setModelAlias(move.alias, move.toVersion);
    this.events.publish({ type: 'model', at: this.now(), action: 'alias-moved', ...move });
  }

  private async deploy(version: string, reason: string): Promise<ServingOutcome | null> {
    const deployer = this.options.deployer;
    if (deployer === undefined) return null;
    try {
      return await deployer.deploy(version, reason);
    } catch (error) {
      // The contract says deployers report; one that throws still must not undo the move.
      return failedOutcome(error);
    }
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
    if (row.artifact_sha256 === sha256) return { model: await this.detailOf(row), created: false };
    throw new VisionLoopError(
      'CONFLICT',
      `version ${row.version} is already registered with another artifact ` +
        `(sha256 ${row.artifact_sha256.slice(0, 12)}…); register this one under a new version`,
    );
  }

  private checkVersion(version: string): string {
    const parsed = registryVersionSchema.safeParse(version);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `'${version.slice(0, 80)}' is not a valid version: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  }

  private checkAlias(alias: string): string {
    const parsed = aliasNameSchema.safeParse(alias);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `'${alias.slice(0, 80)}' is not a valid alias: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  }

  private async row(version: string): Promise<ModelRow> {
    const row = await this.models.findByVersion(version);
    if (row === undefined) throw this.notFound(version);
    return row;
  }

  private notFound(version: string): VisionLoopError {
    return new VisionLoopError('MODEL_NOT_FOUND', `no model version '${version}' is registered`);
  }

  private missingBlob(version: string, what: string): VisionLoopError {
    return new VisionLoopError(
      'INTERNAL',
      `the ${what} of version ${version} is missing from the blob store`,
    );
  }

  private contended(alias: string): VisionLoopError {
    return new VisionLoopError(
      'CONFLICT',
      `alias '${alias}' kept moving while this change was applied; try again`,
    );
  }

  private async open(
    key: string,
    fileName: string,
    version: string,
    what: string,
  ): Promise<OpenedBlob> {
    const stream = await this.blobs.stream(key);
    const stat = await this.blobs.stat(key);
    if (stream === null || stat === null) throw this.missingBlob(version, what);
    return { stream, bytes: stat.bytes, sha256: key, fileName };
  }

  private summaryOf(row: ModelRow, aliases: readonly AliasWithSha[]): ModelSummary {
    return {
      version: row.version,
      source: row.source,
      sha256: row.artifact_sha256,
      bytes: row.artifact_bytes,
      layout: row.layout,
      classNames: stringArray(row.class_names),
      imgsz: row.imgsz,
      hasWeights: row.weights_blob !== null,
      parentVersion: row.parent_version,
      datasetId: row.dataset_id,
      aliases: aliases.filter((alias) => alias.version === row.version).map((a) => a.alias),
      notes: row.notes,
      createdBy: row.created_by,
      createdAt: row.created_at,
    };
  }

  private async detailOf(row: ModelRow): Promise<ModelDetail> {
    const aliases = await this.models.listAliases();
    return {
      ...this.summaryOf(row, aliases),
      trainerParams: jsonObject(row.trainer_params),
      metrics: jsonObject(row.metrics),
      hasTrainingLog: row.training_log_blob !== null,
      producer: row.producer,
      metadata: stringRecord(row.metadata),
    };
  }
}
