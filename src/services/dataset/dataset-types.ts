/**
 * The dataset service's port (`ClassCatalogue`), options and the shapes its callers pass in
 * and get back. Types only.
 */
import type { Readable } from 'node:stream';
import type { ExtractLimits } from '../../repositories/dataset-archive.js';
import type { DatasetCounts, SnapshotResult } from '../../shared/api/datasets.js';
import type { Actor } from '../labeling.service.js';

/** Where the deployment's class names come from (the labeling service). */
export interface ClassCatalogue {
  classNames(): Promise<string[]>;
  /** Appends names not known yet; returns the full list. */
  addClasses(names: readonly string[], actor: Actor | null): Promise<string[]>;
}

export interface DatasetServiceOptions {
  now?: () => number;
  /** Where archive imports are unpacked (default: the OS temp directory). */
  tmpDir?: string;
  extractLimits?: ExtractLimits;
}

export interface ImportOptions {
  name?: string;
  /** Append class names the deployment does not know (default: refuse them). */
  addClasses?: boolean;
  /**
   * Store the images as reviewed labels too (default). False registers the snapshot alone:
   * a model's training set that is not new evidence for the retraining policy (the shipped
   * seed's synthetic training set, kept for replay).
   */
  reviewedLabels?: boolean;
}

export interface ImportResult extends SnapshotResult {
  /** Images written as reviewed labels (0 when the snapshot already existed). */
  images: number;
  warnings: string[];
}

export interface MaterializedDataset {
  id: string;
  dir: string;
  dataYaml: string;
  counts: DatasetCounts;
}

export interface DatasetArchive {
  /** The dataset id (the manifest hash), also for an export of the current labels. */
  id: string;
  filename: string;
  stream: Readable;
}
