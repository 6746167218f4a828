/**
 * Retention (docs/operations.md): with `VISIONLOOP_RETENTION_DAYS` set, a scheduled
 * `retention.run` deletes prediction rows (and their class rows) captured more than N days ago,
 * and the frames (JPEG blobs) they pointed at, except frames that something still needs: a
 * labeling-queue item, a reviewed label, a dataset snapshot's image, or a younger prediction
 * with the same bytes (blobs are content-addressed).
 *
 * It never holds ingest up: rows go in batches of `batchSize` (default 500), each deleted in
 * its own short transaction, with a pause between batches that lets waiting writers in. The
 * job stops promptly when its signal aborts; the next run carries on where it stopped (it only
 * ever deletes what is still old), so a pass cut short costs nothing.
 */
import type { BlobKey } from '../db/schema.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type { RetentionRepository } from '../repositories/retention.repository.js';
import type { RetentionRunPayload } from '../shared/api/jobs.js';
import { parseManifest } from './dataset-manifest.js';
import type { ScheduledJob } from './jobs/job-catalogue.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';

const DAY_MS = 24 * 60 * 60_000;

/** Removes one frame from the blob store (absent: nothing to do). */
export interface FrameRemover {
  remove(key: BlobKey): Promise<void>;
}

export interface RetentionOptions {
  /** Days of predictions and frames to keep; null: retention is off. */
  days: number | null;
  /** Rows per batch. Default 500. */
  batchSize?: number;
  /** Pause between batches, ms (lets ingest's writes in). Default 20. */
  pauseMs?: number;
  /** Frame keys collected before their references are checked. Default 1000. */
  frameCheckSize?: number;
  /** How often the schedule fires, ms. Default one hour. */
  everyMs?: number;
  now?: () => number;
}

export interface RetentionResult {
  [key: string]: JsonValue;
  days: number;
  cutoff: number;
  predictionsDeleted: number;
  framesDeleted: number;
  /** Frames of deleted predictions kept because a label, queue item, dataset or row names them. */
  framesKept: number;
  batches: number;
  /** True when the pass ended early (cancelled, or the worker stopped); the next run goes on. */
  interrupted: boolean;
}

export class RetentionService {
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly frameCheckSize: number;
  private readonly now: () => number;

  constructor(
    private readonly repository: RetentionRepository,
    private readonly blobs: Pick<BlobStore, 'get'>,
    /** Null when the blob store cannot delete: rows go, frames stay (the result says so). */
    private readonly frames: FrameRemover | null,
    private readonly options: RetentionOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.pauseMs = options.pauseMs ?? 20;
    this.frameCheckSize = options.frameCheckSize ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The configured retention in days; null when off. */
  get days(): number | null {
    return this.options.days;
  }

  /** The schedule's period, ms. */
  intervalMs(): number {
    return this.options.everyMs ?? 60 * 60_000;
  }

  /** One `retention.run` per period while retention is on; nothing while it is off. */
  scheduledRuns(): Promise<ScheduledJob[]> {
    if (this.options.days === null) return Promise.resolve([]);
    return Promise.resolve([{ name: 'retention.run', payload: {}, dedupeKey: 'retention.run' }]);
  }

  /** Deletes what is older than the retention (the job's handler). */
  async run(payload: RetentionRunPayload, context?: JobContext): Promise<RetentionResult> {
    const days = payload.days ?? this.options.days;
    const signal = context?.signal;
    if (days === null) {
      return {
        days: 0,
        cutoff: 0,
        predictionsDeleted: 0,
        framesDeleted: 0,
        framesKept: 0,
        batches: 0,
        interrupted: false,
      };
    }
    const cutoff = this.now() - days * DAY_MS;
    const result: RetentionResult = {
      days,
      cutoff,
      predictionsDeleted: 0,
      framesDeleted: 0,
      framesKept: 0,
      batches: 0,
      interrupted: false,
    };
    let datasetImages: Set<string> | null = null;
    const pending = new Set<BlobKey>();
    const flushFrames = async (): Promise<void> => {
      if (pending.size === 0) return;
      const keys = [...pending];
      pending.clear();
      datasetImages ??= await this.datasetImages();
      const referenced = await this.repository.referencedFrames(keys);
      for (const key of keys) {
        if (referenced.has(key) || datasetImages.has(key) || this.frames === null) {
          result.framesKept++;
          continue;
        }
        await this.frames.remove(key);
        result.framesDeleted++;
      }
    };
    for (;;) {
      if (signal?.aborted) {
        result.interrupted = true;
        break;
      }
      const batch = await this.repository.expiredPredictions(cutoff, this.batchSize);
      if (batch.length === 0) break;
      result.predictionsDeleted += await this.repository.deletePredictions(
        batch.map((row) => row.id),
      );
      result.batches++;
      for (const row of batch) if (row.frameBlob !== null) pending.add(row.frameBlob);
      if (pending.size >= this.frameCheckSize) await flushFrames();
      context?.reportProgress({
        stage: 'deleting',
        predictionsDeleted: result.predictionsDeleted,
        framesDeleted: result.framesDeleted,
      });
      if (batch.length < this.batchSize) break;
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
    // Rows already deleted leave their frames to check even when the pass is cut short.
    await flushFrames();
    context?.log('info', 'retention pass', { ...result });
    return result;
  }

  /** The image ids (= blob keys) every dataset snapshot lists. */
  private async datasetImages(): Promise<Set<string>> {
    const images = new Set<string>();
    for (const dataset of await this.repository.datasetManifests()) {
      const bytes = await this.blobs.get(dataset.manifestBlob);
      // A manifest that is missing: keep every frame rather than guess.
      if (bytes === null) throw new Error(`dataset ${dataset.id}: manifest blob is missing`);
      for (const image of parseManifest(bytes.toString('utf8'), dataset.id).images) {
        images.add(image.id);
      }
    }
    return images;
  }
}
