/**
 * Live events for `/api/events` (server-sent events) and for anything inside the server that
 * reacts to what happens: frame results as they are ingested, agents coming and going, and
 * system events (later: drift level changes, training progress, model swaps).
 *
 * In-process: with several server replicas each replica streams the events it saw itself.
 */
import type { ChainEvent, RolloutEvent } from '../shared/api/events.js';
import type { FrameResult } from '../shared/domain.js';

export type SystemEvent =
  | { type: 'frame'; at: number; agentId: string | null; result: FrameResult }
  | {
      type: 'agent';
      at: number;
      action: 'registered' | 'online' | 'offline';
      agentId: string;
      camera: string;
    }
  | { type: 'system'; at: number; level: 'info' | 'warning' | 'error'; message: string }
  | {
      type: 'model';
      at: number;
      /** `current` only opens an agent's model stream; the bus carries `alias-moved`. */
      action: 'alias-moved' | 'current';
      alias: string;
      fromVersion: string | null;
      toVersion: string | null;
      sha256: string | null;
      actor: string | null;
      reason: string | null;
    }
  | {
      type: 'labeling';
      at: number;
      /** What a reviewer did to a labeling-queue item. */
      action: 'labeled' | 'approved' | 'rejected' | 'skipped' | 'flagged';
      itemId: string;
      camera: string;
      /** The item's status after the action. */
      status: string;
      /** The acting token's id. */
      reviewer: string;
    }
  | DriftLevelEvent
  | RolloutEvent
  | ChainEvent;

/** A camera's drift level changed (src/services/drift/). */
export interface DriftLevelEvent {
  type: 'drift';
  at: number;
  camera: string;
  level: 'green' | 'yellow' | 'red' | 'unknown';
  previousLevel: 'green' | 'yellow' | 'red' | 'unknown';
  status: 'ok' | 'drift' | 'insufficient_data' | 'no_reference';
  /** Share of drifted features; null when nothing could be tested. */
  driftShare: number | null;
  driftedFeatures: string[];
  reportId: string;
  reason: string;
}

export type SystemEventType = SystemEvent['type'];
export type EventListener = (event: SystemEvent) => void;

export interface EventBus {
  publish(event: SystemEvent): void;
  /**
   * Returns the unsubscribe function. With `types`, the listener receives only events of
   * those types (and hasListeners counts it only for them).
   */
  subscribe(listener: EventListener, types?: readonly SystemEventType[]): () => void;
  readonly listenerCount: number;
  /**
   * Whether some listener takes events of `type`. Publishers of costly events ask first:
   * ingest materializes frame results for `frame` events only when someone takes them (an
   * agent's model stream, subscribed to `model` only, does not).
   */
  hasListeners(type: SystemEventType): boolean;
}

interface Subscription {
  listener: EventListener;
  /** The types it takes; null: every type. */
  types: ReadonlySet<SystemEventType> | null;
}

export class InProcessEventBus implements EventBus {
  private readonly subscriptions = new Set<Subscription>();
  private readonly subscriptionsByType = new Map<SystemEventType, number>();
  private subscriptionsOfEveryType = 0;

  publish(event: SystemEvent): void {
    for (const { listener, types } of this.subscriptions) {
      if (types !== null && !types.has(event.type)) continue;
      try {
        listener(event);
      } catch {
        // A failing subscriber (a closed stream) must not stop delivery to the others.
      }
    }
  }

  subscribe(listener: EventListener, types?: readonly SystemEventType[]): () => void {
    const subscription: Subscription = {
      listener,
      types: types === undefined ? null : new Set(types),
    };
    this.subscriptions.add(subscription);
    this.count(subscription.types, 1);
    return () => {
      if (this.subscriptions.delete(subscription)) this.count(subscription.types, -1);
    };
  }

  get listenerCount(): number {
    return this.subscriptions.size;
  }

  hasListeners(type: SystemEventType): boolean {
    return this.subscriptionsOfEveryType > 0 || (this.subscriptionsByType.get(type) ?? 0) > 0;
  }

  private count(types: ReadonlySet<SystemEventType> | null, delta: number): void {
    if (types === null) {
      this.subscriptionsOfEveryType += delta;
      return;
    }
    for (const type of types) {
      this.subscriptionsByType.set(type, (this.subscriptionsByType.get(type) ?? 0) + delta);
    }
  }
}
