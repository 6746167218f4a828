/**
 * The model registry: versions with lineage, aliases with history, and the checks that keep a
 * broken or foreign model out of it. It never loads a model itself (the inspector and the
 * deployer do) and never reads files: bytes come in, keys go to the database.
 *
 * The folder, one module per job:
 * - model-registration.ts  register a version (ONNX, metadata, classes, runtime checks, stamp),
 *                          attach a dataset, record metrics
 * - model-catalog.ts       read versions and aliases as the API shows them; metric comparison
 * - model-artifacts.ts     model.onnx, weights.pt and the training log from the blob store
 * - alias-moves.ts         promote (with the promotion gate), rollback, alias history
 * - alias-deployment.ts    after a move: event, gauge, deploy `production`; `start` and
 *                          `syncAliases` for moves made by other processes
 * - registry-types.ts      the ports (inspector, deployer, gauge) and input/output shapes
 * `bootstrapSeed` (the first start's seed model) is below: it is one registration and one
 * promotion.
 *
 * Why a facade. The HTTP routes, the training job, the model bootstrap, the agents' heartbeat
 * and the tests hold one `ModelRegistryService`, and the parts share per-process state (where
 * the aliases pointed last, the replaceable deployer). So `ModelRegistryService` stays the one
 * object callers get, built from the same dependencies as before; it builds the parts once and
 * each method is one delegation.
 */
import type { BlobStore } from '../../repositories/blob-store.js';
import type { ModelRegistryRepository } from '../../repositories/model-registry.repository.js';
import {
  PRODUCTION_ALIAS,
  type AliasHistoryResponse,
  type AliasMoveResponse,
  type ModelAlias,
  type ModelDetail,
  type ModelDetailResponse,
  type ModelListQuery,
  type ModelListResponse,
  type ProductionRef,
  type ServingOutcome,
} from '../../shared/api/models.js';
import type { EventBus } from '../event-bus.js';
import { AliasDeployment } from './alias-deployment.js';
import { AliasMoves } from './alias-moves.js';
import { ModelArtifacts } from './model-artifacts.js';
import { ModelCatalog } from './model-catalog.js';
import { ModelRegistration } from './model-registration.js';
import type {
  AliasMoveOptions,
  ModelDeployer,
  ModelInspector,
  ModelRegistryOptions,
  OpenedBlob,
  RegisterModelInput,
  RegisteredModel,
} from './registry-types.js';

export type {
  AliasGauge,
  AliasMoveOptions,
  InspectedModel,
  ModelDeployer,
  ModelInspector,
  ModelRegistryOptions,
  OpenedBlob,
  RegisterModelInput,
  RegisteredModel,
} from './registry-types.js';
export { GATE_OVERRIDE_PREFIX, aliasTask, gateRejectionOf, historyId } from './alias-moves.js';
export { compareMetrics, flattenMetrics } from './model-catalog.js';
export { checkDeploymentClasses } from './model-registration.js';

export class ModelRegistryService {
  private readonly catalog: ModelCatalog;
  private readonly registration: ModelRegistration;
  private readonly artifacts: ModelArtifacts;
  private readonly deployment: AliasDeployment;
  private readonly aliases: AliasMoves;

  constructor(
    private readonly models: ModelRegistryRepository,
    blobs: BlobStore,
    inspector: ModelInspector,
    events: EventBus,
    private readonly options: ModelRegistryOptions = {},
  ) {
    this.catalog = new ModelCatalog(models);
    this.registration = new ModelRegistration(models, blobs, inspector, this.catalog, options);
    this.artifacts = new ModelArtifacts(this.catalog, blobs);
    this.deployment = new AliasDeployment(models, events, options);
    this.aliases = new AliasMoves(models, this.catalog, this.deployment, options);
  }

  /** Sets (or replaces) the deployer told about `production` moves. */
  setDeployer(deployer: ModelDeployer | undefined): void {
    this.options.deployer = deployer;
  }

  // --- versions (model-registration.ts) ---------------------------------------------------

  /** Validates and registers a model; idempotent for the same version and artifact. */
  register(input: RegisterModelInput): Promise<RegisteredModel> {
    return this.registration.register(input);
  }

  /** Records a version's dataset snapshot when it has none; false when it already had one. */
  attachDataset(version: string, datasetId: string): Promise<boolean> {
    return this.registration.attachDataset(version, datasetId);
  }

  /** Replaces a version's evaluation metrics (the training job evaluates after registering). */
  recordMetrics(version: string, metrics: Record<string, unknown>): Promise<ModelDetail> {
    return this.registration.recordMetrics(version, metrics);
  }

  // --- reading (model-catalog.ts) ---------------------------------------------------------

  list(query: ModelListQuery): Promise<ModelListResponse> {
    return this.catalog.list(query);
  }

  /** One version. Throws MODEL_NOT_FOUND. */
  get(version: string): Promise<ModelDetail> {
    return this.catalog.get(version);
  }

  /** One version with its metrics beside production's. */
  detail(version: string): Promise<ModelDetailResponse> {
    return this.catalog.detail(version);
  }

  /** The version an alias points at, or null when the alias is not set. */
  resolveAlias(alias: string): Promise<ModelDetail | null> {
    return this.catalog.resolveAlias(alias);
  }

  /** What agents follow (heartbeat answers). */
  production(): Promise<ProductionRef | null> {
    return this.catalog.production();
  }

  /** `production` and `staging` for model status. */
  mainAliases(): Promise<{ production: ModelAlias | null; staging: ModelAlias | null }> {
    return this.catalog.mainAliases();
  }

  // --- files (model-artifacts.ts) ---------------------------------------------------------

  /** model.onnx of a version, as a stream. Throws MODEL_NOT_FOUND. */
  openArtifact(version: string): Promise<OpenedBlob> {
    return this.artifacts.openArtifact(version);
  }

  /** weights.pt of a version. MODEL_NOT_FOUND when the version or its weights are missing. */
  openWeights(version: string): Promise<OpenedBlob> {
    return this.artifacts.openWeights(version);
  }

  /** model.onnx bytes (evaluation, serving). */
  readArtifact(version: string): Promise<Buffer> {
    return this.artifacts.readArtifact(version);
  }

  /** weights.pt bytes for a warm start, or null when the version has none. */
  readWeights(version: string): Promise<Buffer | null> {
    return this.artifacts.readWeights(version);
  }

  /** The training log text, or null when none was stored. */
  readTrainingLog(version: string): Promise<string | null> {
    return this.artifacts.readTrainingLog(version);
  }

  // --- aliases (alias-moves.ts, alias-deployment.ts) --------------------------------------

  /** Points `alias` at `version` (a no-op when it already does); see alias-moves.ts. */
  promote(version: string, alias: string, options: AliasMoveOptions): Promise<AliasMoveResponse> {
    return this.aliases.promote(version, alias, options);
  }

  /** Moves `alias` back to the version it pointed at before its latest move. */
  rollback(alias: string, options: AliasMoveOptions): Promise<AliasMoveResponse> {
    return this.aliases.rollback(alias, options);
  }

  history(alias: string, limit: number): Promise<AliasHistoryResponse> {
    return this.aliases.history(alias, limit);
  }

  /** Loads the aliases, sets their gauges and deploys `production`. Run once at server start. */
  start(): Promise<ServingOutcome | null> {
    return this.deployment.start();
  }

  /** Notices alias moves made by other processes; returns the aliases that moved. */
  syncAliases(): Promise<string[]> {
    return this.deployment.syncAliases();
  }

  // --- seeding ----------------------------------------------------------------------------

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
}
