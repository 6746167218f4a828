/**
 * The model registry's ports and inputs: what it needs from a runtime (`ModelInspector`), from
 * this server's inference (`ModelDeployer`) and from Prometheus (`AliasGauge`), and the shapes
 * callers pass in and get back. Types only.
 */
import type { Readable } from 'node:stream';
import type { ModelSource } from '../../db/schema.js';
import type { ServingOutcome } from '../../shared/api/models.js';
import type { ModelDetail } from '../../shared/api/models.js';

// The runtime port lives with the runtime (src/inference/, below services); re-exported here
// for the registry's users.
export type { InspectedModel, ModelInspector } from '../../inference/model-inspector.js';

/** This server's inference: told when `production` moves. Never throws; reports instead. */
export interface ModelDeployer {
  deploy(version: string, reason: string): Promise<ServingOutcome>;
}

/** `visionloop_model_info{alias,version}` (PrometheusExporter implements it). */
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
