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
 * It never awaits per result: the hot path is one repository call per batch. Batches arrive as
 * the API contract's objects (validated by the route, in the server's decode worker); turning
 * them into table rows is the prediction repository's business.
 */
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { IngestBatchRequest, IngestBatchResponse } from '../shared/api/ingest.js';
import type { FrameResult } from '../shared/domain.js';
import type { EventBus } from './event-bus.js';
import { summarizeLatencies, withoutRepeatedIds, type CameraLatencies } from './ingest-batch.js';

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
    private readonly predictions: Pick<PredictionRepository, 'insertResults'>,
    private readonly events: EventBus,
    options: IngestServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onObserverError = options.onObserverError ?? (() => undefined);
    for (const observer of options.observers ?? []) this.observers.add(observer);
  }

  /** Adds an observer of newly stored results. Returns the function that removes it. */
  onIngested(observer: IngestObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  /**
   * Stores the batch's results (a repeated id counts once) in one transaction, then announces
   * the newly stored ones. Resolves after the commit.
   */
  async ingest(batch: IngestBatchRequest): Promise<IngestBatchResponse> {
    const distinct = withoutRepeatedIds(batch.results);
    const agentId = batch.agentId ?? null;
    const storedIds = await this.predictions.insertResults(distinct, agentId, this.now());
    const committedAt = this.now();
    if (storedIds.size > 0) {
      const stored =
        storedIds.size === distinct.length
          ? distinct
          : distinct.filter((result) => storedIds.has(result.id));
      this.announce(stored, agentId, committedAt);
    }
    return {
      accepted: storedIds.size,
      duplicates: batch.results.length - storedIds.size,
      committedAt,
    };
  }

  private announce(stored: readonly FrameResult[], agentId: string | null, at: number): void {
    if (this.events.hasListeners('frame')) {
      for (const result of stored) {
        this.events.publish({ type: 'frame', at, agentId, result });
      }
    }
    if (this.observers.size === 0) return;
    const latencies = summarizeLatencies(stored);
    for (const observer of this.observers) {
      try {
        observer(latencies, agentId);
      } catch (error) {
        this.onObserverError(error);
      }
    }
  }
}
