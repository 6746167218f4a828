/**
 * Reading the registry: versions as the API shows them (summary, detail with lineage and
 * metrics), a version's metrics beside production's, and where the aliases point. Also the
 * row lookup every other registry module uses (MODEL_NOT_FOUND). It never writes.
 */
import type { AliasHistoryRow, ModelRow } from '../../db/schema.js';
import type {
  AliasWithSha,
  ModelRegistryRepository,
} from '../../repositories/model-registry.repository.js';
import {
  PRODUCTION_ALIAS,
  STAGING_ALIAS,
  type AliasHistoryEntry,
  type MetricComparison,
  type ModelAlias,
  type ModelDetail,
  type ModelDetailResponse,
  type ModelListQuery,
  type ModelListResponse,
  type ModelSummary,
  type ProductionRef,
} from '../../shared/api/models.js';
import { VisionLoopError } from '../../shared/errors.js';

/** Deepest nesting of metrics flattened for the side-by-side comparison. */
const METRIC_DEPTH = 6;

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** A stored JSON object column, or null when empty, malformed or not an object. */
export function jsonObject(text: string | null): Record<string, unknown> | null {
  const value = parseJson(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** A stored JSON string-array column (non-strings dropped). */
export function stringArray(text: string): string[] {
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

export function historyEntryOf(row: AliasHistoryRow): AliasHistoryEntry {
  return {
    id: row.id,
    alias: row.alias,
    action: row.action,
    fromVersion: row.from_version,
    toVersion: row.to_version,
    actor: row.actor,
    reason: row.reason,
    at: row.created_at,
    scope: scopeOf(row.scope),
  };
}

/** A stored scope (JSON array of cameras) as people read it: `cameras cam-a, cam-b`. */
export function scopeOf(scope: string | null): string | null {
  if (scope === null) return null;
  try {
    const cameras: unknown = JSON.parse(scope);
    if (Array.isArray(cameras)) return `cameras ${cameras.map(String).join(', ')}`;
  } catch {
    // Not JSON: shown as stored.
  }
  return scope;
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

function summaryOf(row: ModelRow, aliases: readonly AliasWithSha[]): ModelSummary {
  return {
    version: row.version,
    source: row.source,
    sha256: row.artifact_sha256,
    bytes: row.artifact_bytes,
    task: row.task,
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

export function modelNotFound(version: string): VisionLoopError {
  return new VisionLoopError('MODEL_NOT_FOUND', `no model version '${version}' is registered`);
}

export class ModelCatalog {
  constructor(private readonly models: ModelRegistryRepository) {}

  /** The row of a registered version. Throws MODEL_NOT_FOUND. */
  async row(version: string): Promise<ModelRow> {
    const row = await this.models.findByVersion(version);
    if (row === undefined) throw modelNotFound(version);
    return row;
  }

  async detailOf(row: ModelRow): Promise<ModelDetail> {
    const aliases = await this.models.listAliases();
    return {
      ...summaryOf(row, aliases),
      trainerParams: jsonObject(row.trainer_params),
      metrics: jsonObject(row.metrics),
      hasTrainingLog: row.training_log_blob !== null,
      producer: row.producer,
      metadata: stringRecord(row.metadata),
    };
  }

  async list(query: ModelListQuery): Promise<ModelListResponse> {
    const [rows, total, aliases] = await Promise.all([
      this.models.list(query.limit, query.offset),
      this.models.count(),
      this.models.listAliases(),
    ]);
    return {
      models: rows.map((row) => summaryOf(row, aliases)),
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
}
