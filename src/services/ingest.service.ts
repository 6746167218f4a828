/**
 * Ingest: stores batches of frame results from agents, exactly once each.
 *
 * A batch is committed in one transaction before the answer goes out, so an acknowledged
 * result is durable, and an unacknowledged batch can be sent again: ids already stored are
 * counted as duplicates and not stored twice. After the commit, each newly stored result is
 * published as a `frame` event and handed to the ingest observers (Prometheus counters and
 * histograms, later the active-learning sampler). Duplicates are never published or observed.
 *
 * It never awaits per result: the hot path is one repository call per batch.
 */
import type { PredictionRepository } from '../repositories/prediction.repository.js';
import type { IngestBatchRequest, IngestBatchResponse } from '../shared/api/ingest.js';
import type { FrameResult } from '../shared/domain.js';
import type { EventBus } from './event-bus.js';

/**
 * Called after each commit with the results that batch newly stored (never empty). Runs
 * synchronously on the request path: keep it cheap, and never throw (errors are reported to
 * `onObserverError` and otherwise ignored).
 */
export type IngestObserver = (stored: readonly FrameResult[], agentId: string | null) => void;

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
    private readonly predictions: PredictionRepository,
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

  async ingest(batch: IngestBatchRequest): Promise<IngestBatchResponse> {
    const agentId = batch.agentId ?? null;
    const unique = withoutRepeatedIds(batch.results);
    const storedIds = await this.predictions.insertResults(unique, agentId, this.now());
    const committedAt = this.now();
    const stored =
      storedIds.size === unique.length ? unique : unique.filter((r) => storedIds.has(r.id));
    if (stored.length > 0) this.announce(stored, agentId, committedAt);
    return {
      accepted: stored.length,
      duplicates: batch.results.length - stored.length,
      committedAt,
    };
  }

  private announce(stored: readonly FrameResult[], agentId: string | null, at: number): void {
    if (this.events.listenerCount > 0) {
      for (const result of stored) this.events.publish({ type: 'frame', at, agentId, result });
    }
    for (const observer of this.observers) {
      try {
        observer(stored, agentId);
      } catch (error) {
        this.onObserverError(error);
      }
    }
  }
}

/** The results with each id's first occurrence only (a batch may repeat a result). */
export function withoutRepeatedIds(results: readonly FrameResult[]): readonly FrameResult[] {
  const seen = new Set<string>();
  let repeated = false;
  for (const result of results) {
    if (seen.has(result.id)) {
      repeated = true;
      break;
    }
    seen.add(result.id);
  }
  if (!repeated) return results;
  seen.clear();
  return results.filter((result) => {
    if (seen.has(result.id)) return false;
    seen.add(result.id);
    return true;
  });
}
