/**
 * React hooks over the live channel (lib/events.ts):
 * - `useEvents(types, onBatch)`: `onBatch` gets the events of `types` once per animation
 *   frame (an array, oldest first). Keep state updates inside it to one `setState` per batch.
 * - `useConnectionState()`: `open`, `reconnecting`, … for showing the connection.
 */
import { useEffect, useRef, useSyncExternalStore } from 'react';
import type { EventType, LiveEvent } from '../../../src/shared/api/events';
import type { ConnectionState } from './events';
import { events } from './events';

/** The events of type `T`, e.g. `EventOf<'frame'>` is a FrameEvent. */
export type EventOf<T extends EventType> = Extract<LiveEvent, { type: T }>;

export function useEvents<T extends EventType>(
  types: readonly T[],
  onBatch: (batch: readonly EventOf<T>[]) => void,
): void {
  const handlerRef = useRef(onBatch);
  handlerRef.current = onBatch;
  const key = [...types].sort().join(',');
  useEffect(() => {
    const list = key.split(',') as EventType[];
    // The hub passes only events whose type is in `list`, so the narrowing holds.
    return events.subscribe(list, (batch) => handlerRef.current(batch as readonly EventOf<T>[]));
  }, [key]);
}

export function useConnectionState(): ConnectionState {
  return useSyncExternalStore(events.onStateChange, events.getState);
}
