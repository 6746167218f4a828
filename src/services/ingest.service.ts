/**
 * Ingest: stores batches of frame results from agents, exactly once each.
 *
 * A batch is committed in one transaction before the answer goes out, so an acknowledged
 * result is durable, and an unacknowledged batch can be sent again: ids already stored are
 * counted as duplicates and not stored twice. After the commit, each newly stored result is
 * published as a `frame` event (when someone listens), and the ingest observers (Prometheus
 * counters and histograms) get the per-camera latencies of the newly stored results.
 * Duplicates are never published or observed.
 *
 * It never awaits per result: the hot path is one repository call per batch. Request bodies
 * arrive prepared (src/services/ingest-batch.ts): encoded for the repository off this thread.
 */
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { PredictionRowFormat } from '../repositories/prediction-rows.js';
import type { IngestBatchRequest, IngestBatchResponse } from '../shared/api/ingest.js';
import type { FrameResult } from '../shared/domain.js';
import type { EventBus } from './event-bus.js';
import {
  prepareIngestBatch,
  preparedResults,
  summarizeLatencies,
  type CameraLatencies,
  type PreparedIngestBatch,
} from './ingest-batch.js';

/**
 * Called after each commit with the per-camera latencies of the results that batch newly
 * stored (never empty). Runs synchronously on the request path: keep it cheap, and never
 * throw (errors are reported to `onObserverError` and otherwise ignored).
 */
export type IngestObserver = (stored: readonly CameraLatencies[], agentId: string | null) => void;

export interface IngestServiceOptions {
  now?: () => number;
  observers?: readonly IngestObserver[];
  onObserverError?: (error: unknown) => void;
}

export class IngestService {
  private readonly now: () => number;
  private readonly observers = new Set<IngestObserver>();
  private readonly onObserverError: (error: unknown) => void;

  constructor(
    private readonly predictions: Pick<PredictionRepository, 'rowFormat' | 'insertRows'>,
    private readonly events: EventBus,
    options: IngestServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onObserverError = options.onObserverError ?? (() => undefined);
    for (const observer of options.observers ?? []) this.observers.add(observer);
  }

  /** The row format prepared batches must carry (see prepareIngestBatch). */
  get rowFormat(): PredictionRowFormat {
    return this.predictions.rowFormat;
  }

  /** Adds an observer of newly stored results. Returns the function that removes it. */
  onIngested(observer: IngestObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  ingest(batch: IngestBatchRequest): Promise<IngestBatchResponse> {
    return this.ingestPrepared(prepareIngestBatch(batch, this.rowFormat));
  }

  /** ingest for a batch prepared elsewhere (the server's decode worker) in `rowFormat`. */
  async ingestPrepared(batch: PreparedIngestBatch): Promise<IngestBatchResponse> {
    const storedIds = await this.predictions.insertRows(batch.rows, batch.agentId, this.now());
    const committedAt = this.now();
    if (storedIds.size > 0) this.announce(batch, storedIds, committedAt);
    return {
      accepted: storedIds.size,
      duplicates: batch.received - storedIds.size,
      committedAt,
    };
  }

  private announce(batch: PreparedIngestBatch, storedIds: Set<string>, at: number): void {
    const everyResult = storedIds.size === batch.distinct;
    let stored: readonly FrameResult[] | undefined;
    // Results are only materialized (parsed again from the body, on PostgreSQL) when needed.
    const storedResults = (): readonly FrameResult[] => {
      if (stored === undefined) {
        const results = preparedResults(batch);
        stored = everyResult ? results : results.filter((r) => storedIds.has(r.id));
      }
      return stored;
    };
    const agentId = batch.agentId;
    if (this.events.hasListeners('frame')) {
      for (const result of storedResults()) {
        this.events.publish({ type: 'frame', at, agentId, result });
      }
    }
    if (this.observers.size === 0) return;
    const latencies = everyResult ? batch.latencies : summarizeLatencies(storedResults());
    for (const observer of this.observers) {
      try {
        observer(latencies, agentId);
      } catch (error) {
        this.onObserverError(error);
      }
    }
  }
}
