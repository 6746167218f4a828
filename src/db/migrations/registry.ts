/**
 * The static, ordered list of every schema migration. A new migration is a new file appended
 * here with the next number; released entries are never edited, reordered or removed (the
 * database records their names). Static imports, no directory scan: works from dist/ and in
 * bundles.
 */
import { coreIngestMigration } from './0001-core-ingest.js';
import { labelingMigration } from './0002-labeling.js';
import { driftMigration } from './0003-drift.js';
import { registryJobsMigration } from './0004-registry-jobs.js';
import { samplingMigration } from './0005-sampling.js';
import { labelingReviewMigration } from './0006-labeling-review.js';
import { jobsDriftMigration } from './0007-jobs-drift.js';
import { modelRegistryMigration } from './0008-model-registry.js';
import { labelingStrategyMigration } from './0009-labeling-strategy.js';
import { inspectionChainRolloutsMigration } from './0010-inspection-chain-rollouts.js';
import type { SchemaMigration } from './migration.js';

export const MIGRATIONS: readonly SchemaMigration[] = [
  coreIngestMigration,
  labelingMigration,
  driftMigration,
  registryJobsMigration,
  samplingMigration,
  labelingReviewMigration,
  jobsDriftMigration,
  modelRegistryMigration,
  labelingStrategyMigration,
  inspectionChainRolloutsMigration,
];
