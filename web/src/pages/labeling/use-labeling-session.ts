/**
 * One reviewer's pass through the labeling queue: the items of this session (newest last),
 * where the reviewer is among them (D/F move back and forth), each item's draft boxes, and the
 * NEXT item, preloaded before the current one is submitted.
 *
 * Preloading: as soon as an item is shown, the highest-priority waiting item (not claimed, not
 * in this session) is fetched with its frame image (decoded). It is only CLAIMED when the
 * reviewer moves on — in the same moment as the submission, in parallel — so claims are never
 * held for items nobody is looking at, and the lead time (claim → label) is the time the item
 * was on screen. Two reviewers may preload the same item; the one who claims it second falls
 * back to the next waiting item (a slower, unpreloaded switch).
 *
 * The server keeps every rule (claims, leases, who may label what); this hook only orders the
 * calls and keeps drafts. It never retries an action on its own.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  FlagRequest,
  LabelRequest,
  LabelingItem,
  SkipRequest,
} from '../../../../src/shared/api/labeling';
import {
  labelingItemSchema,
  nextItemResponseSchema,
  queueListResponseSchema,
} from '../../../../src/shared/api/labeling';
import { ApiError, api, errorMessage } from '../../lib/api';
import { loadFrame } from '../../lib/frames';
import type { AnnotationAction, AnnotationState } from './annotation';
import { annotationReducer, initialAnnotation } from './annotation';

const Q = '/api/labeling-queue';
/** Renew the claim on the item on screen this often (the default lease is 300 s). */
const RENEW_MS = 120_000;
/** While nothing waits, look again this often. */
const EMPTY_POLL_MS = 3_000;

export interface SessionEntry {
  item: LabelingItem;
  /**
   * `open`: yours to label; `done`: submitted, skipped or flagged in this session (read-only);
   * `lost`: your claim ran out and another reviewer took it.
   */
  state: 'open' | 'done' | 'lost';
  annotation: AnnotationState;
  notes: string;
}

export interface LabelingSession {
  entries: readonly SessionEntry[];
  /** Position in `entries`; `entries.length` = past the end (waiting for an item). */
  index: number;
  current: SessionEntry | null;
  phase: 'starting' | 'ready' | 'waiting' | 'error';
  /** The item that comes next, already fetched (its image too), or null. */
  preloaded: LabelingItem | null;
  busy: boolean;
  /** The last action's failure, for people. */
  error: string | null;
  /** Set by a successful action ("Labeled lq-…"), for the status line. */
  message: string | null;
  dispatch: (action: AnnotationAction) => void;
  /** An edit of one item's boxes, wherever the reviewer is now (e.g. stage outputs arriving). */
  dispatchTo: (itemId: string, action: AnnotationAction) => void;
  setNotes: (notes: string) => void;
  label: (request: LabelRequest) => Promise<boolean>;
  skip: (request: SkipRequest) => Promise<boolean>;
  flag: (request: FlagRequest) => Promise<boolean>;
  next: () => Promise<void>;
  previous: () => void;
  clearError: () => void;
}

function entryFor(item: LabelingItem): SessionEntry {
  const width = item.width ?? 640;
  const height = item.height ?? 480;
  return {
    item,
    state: 'open',
    annotation: initialAnnotation(width, height, item.preLabels),
    notes: '',
  };
}

/** The frame id `lib/frames` loads for an item (its frame result), or null without a frame. */
export function frameIdOf(item: LabelingItem): string | null {
  return item.frameUrl === null ? null : item.predictionId;
}

interface State {
  entries: SessionEntry[];
  index: number;
  phase: LabelingSession['phase'];
  preloaded: LabelingItem | null;
  busy: boolean;
  error: string | null;
  message: string | null;
}

export function useLabelingSession(enabled: boolean): LabelingSession {
  const [state, setState] = useState<State>({
    entries: [],
    index: 0,
    phase: 'starting',
    preloaded: null,
    busy: false,
    error: null,
    message: null,
  });
  // The latest state for the async flows (they outlive the render that started them).
  const ref = useRef(state);
  ref.current = state;
  const preloading = useRef(false);
  const preloadAgain = useRef(false);

  const update = useCallback((change: (previous: State) => State) => {
    setState((previous) => {
      const next = change(previous);
      ref.current = next;
      return next;
    });
  }, []);

  /** Fetches the top waiting item not in this session, and its image; sets `preloaded`. */
  const preload = useCallback(async (): Promise<void> => {
    // One at a time; a request made meanwhile runs once the current one ends (the session may
    // have moved on, so its pick may be stale).
    if (preloading.current) {
      preloadAgain.current = true;
      return;
    }
    preloading.current = true;
    try {
      do {
        preloadAgain.current = false;
        const seen = new Set(ref.current.entries.map((entry) => entry.item.id));
        const page = await api.get(Q, queueListResponseSchema, {
          query: { status: 'pending', limit: seen.size + 5 },
        });
        const item = page.items.find((candidate) => !seen.has(candidate.id)) ?? null;
        const frameId = item === null ? null : frameIdOf(item);
        // Fetched and decoded before it counts as preloaded (a failure shows on arrival instead).
        if (frameId !== null) await loadFrame(frameId).catch(() => undefined);
        const taken = ref.current.entries.some((entry) => entry.item.id === item?.id);
        if (taken) preloadAgain.current = true;
        else update((previous) => ({ ...previous, preloaded: item }));
      } while (preloadAgain.current);
    } catch {
      // Preloading is an optimisation: moving on without it still works.
    } finally {
      preloading.current = false;
    }
  }, [update]);

  /**
   * Claims the item to show after the current one: the preloaded one, else (taken meanwhile,
   * or none) the first waiting item another reviewer has not taken, else null.
   */
  const claimNext = useCallback(async (): Promise<LabelingItem | null> => {
    const seen = new Set(ref.current.entries.map((entry) => entry.item.id));
    const candidates: string[] = [];
    const preloaded = ref.current.preloaded;
    if (preloaded !== null && !seen.has(preloaded.id)) candidates.push(preloaded.id);
    for (let round = 0; round < 2; round++) {
      for (const id of candidates) {
        try {
          return await api.post(
            `${Q}/${encodeURIComponent(id)}/claim`,
            undefined,
            labelingItemSchema,
          );
        } catch (error) {
          if (!(error instanceof ApiError) || (error.status !== 409 && error.status !== 404))
            throw error;
          seen.add(id);
        }
      }
      candidates.length = 0;
      const page = await api.get(Q, queueListResponseSchema, {
        query: { status: 'pending', limit: seen.size + 5 },
      });
      for (const item of page.items) if (!seen.has(item.id)) candidates.push(item.id);
      if (candidates.length === 0) return null;
    }
    return null;
  }, []);

  /** Shows `item` after the current position (or goes to it if the session already has it). */
  const showClaimed = useCallback(
    (item: LabelingItem | null) => {
      update((previous) => {
        if (item === null) {
          return { ...previous, index: previous.entries.length, phase: 'waiting', preloaded: null };
        }
        const known = previous.entries.findIndex((entry) => entry.item.id === item.id);
        if (known !== -1) {
          const entries = previous.entries.slice();
          const entry = entries[known];
          if (entry !== undefined) entries[known] = { ...entry, item, state: 'open' };
          return { ...previous, entries, index: known, phase: 'ready' };
        }
        const entries = [...previous.entries, entryFor(item)];
        return {
          ...previous,
          entries,
          index: entries.length - 1,
          phase: 'ready',
          preloaded: previous.preloaded?.id === item.id ? null : previous.preloaded,
        };
      });
    },
    [update],
  );

  // Start: the item this reviewer holds, else the highest-priority waiting one.
  useEffect(() => {
    if (!enabled) return;
    let active = true;
    api.get(`${Q}/next`, nextItemResponseSchema).then(
      (answer) => {
        if (!active) return;
        showClaimed(answer.item);
        void preload();
      },
      (error: unknown) => {
        if (!active) return;
        update((previous) => ({ ...previous, phase: 'error', error: errorMessage(error) }));
      },
    );
    return () => {
      active = false;
    };
  }, [enabled, preload, showClaimed, update]);

  // While nothing waits: look again, and show the first item that arrives.
  useEffect(() => {
    if (!enabled || state.phase !== 'waiting' || state.index < state.entries.length) return;
    let active = true;
    const timer = setInterval(() => {
      if (ref.current.busy) return;
      void (async () => {
        try {
          const item = await claimNext();
          if (!active || item === null) return;
          if (ref.current.index < ref.current.entries.length) return;
          showClaimed(item);
          void preload();
        } catch {
          // try again on the next tick
        }
      })();
    }, EMPTY_POLL_MS);
    return () => {
      active = false;
      clearInterval(timer);
    };
  }, [enabled, state.phase, state.index, state.entries.length, claimNext, preload, showClaimed]);

  // Keep the claim on the item on screen alive.
  const currentId = state.entries[state.index]?.item.id;
  const currentOpen = state.entries[state.index]?.state === 'open';
  useEffect(() => {
    if (!enabled || currentId === undefined || !currentOpen) return;
    const timer = setInterval(() => {
      api
        .post(`${Q}/${encodeURIComponent(currentId)}/claim`, undefined, labelingItemSchema)
        .catch(() => undefined);
    }, RENEW_MS);
    return () => clearInterval(timer);
  }, [enabled, currentId, currentOpen]);

  const dispatch = useCallback(
    (action: AnnotationAction) => {
      update((previous) => {
        const entry = previous.entries[previous.index];
        if (entry === undefined || entry.state !== 'open') return previous;
        const annotation = annotationReducer(entry.annotation, action);
        if (annotation === entry.annotation) return previous;
        const entries = previous.entries.slice();
        entries[previous.index] = { ...entry, annotation };
        return { ...previous, entries };
      });
    },
    [update],
  );

  const dispatchTo = useCallback(
    (itemId: string, action: AnnotationAction) => {
      update((previous) => {
        const index = previous.entries.findIndex((entry) => entry.item.id === itemId);
        const entry = previous.entries[index];
        if (entry === undefined || entry.state !== 'open') return previous;
        const annotation = annotationReducer(entry.annotation, action);
        if (annotation === entry.annotation) return previous;
        const entries = previous.entries.slice();
        entries[index] = { ...entry, annotation };
        return { ...previous, entries };
      });
    },
    [update],
  );

  const setNotes = useCallback(
    (notes: string) => {
      update((previous) => {
        const entry = previous.entries[previous.index];
        if (entry === undefined) return previous;
        const entries = previous.entries.slice();
        entries[previous.index] = { ...entry, notes };
        return { ...previous, entries };
      });
    },
    [update],
  );

  /** Renews the claim on a session item the reviewer returns to; marks it lost if taken. */
  const renew = useCallback(
    (id: string) => {
      api.post(`${Q}/${encodeURIComponent(id)}/claim`, undefined, labelingItemSchema).then(
        (item) =>
          update((previous) => ({
            ...previous,
            entries: previous.entries.map((entry) =>
              entry.item.id === id ? { ...entry, item, state: 'open' } : entry,
            ),
          })),
        (error: unknown) => {
          if (!(error instanceof ApiError) || error.status !== 409) return;
          update((previous) => ({
            ...previous,
            entries: previous.entries.map((entry) =>
              entry.item.id === id && entry.state === 'open' ? { ...entry, state: 'lost' } : entry,
            ),
            error: `This item is no longer yours: ${error.message}`,
          }));
        },
      );
    },
    [update],
  );

  /** Moves past the current position: a later session item, else the next claimed one. */
  const advance = useCallback(
    async (claimed: Promise<LabelingItem | null> | null) => {
      const { index, entries } = ref.current;
      if (index < entries.length - 1) {
        const target = entries[index + 1];
        update((previous) => ({ ...previous, index: index + 1 }));
        if (target?.state === 'open') renew(target.item.id);
        return;
      }
      const item = await (claimed ?? claimNext());
      showClaimed(item);
      void preload();
    },
    [claimNext, preload, renew, showClaimed, update],
  );

  /** Sends one closing action for the item on screen; on success moves to the next item. */
  const act = useCallback(
    async (verb: 'label' | 'skip' | 'flag', body: unknown, done: string): Promise<boolean> => {
      const { entries, index, busy } = ref.current;
      const entry = entries[index];
      if (busy || entry === undefined || entry.state !== 'open') return false;
      update((previous) => ({ ...previous, busy: true, error: null }));
      // Claim the next item while the server stores this one (at the end of the session only).
      const claimed = index === entries.length - 1 ? claimNext() : null;
      claimed?.catch(() => undefined);
      let result: LabelingItem;
      try {
        result = await api.post(
          `${Q}/${encodeURIComponent(entry.item.id)}/${verb}`,
          body,
          labelingItemSchema,
        );
      } catch (error) {
        update((previous) => ({ ...previous, busy: false, error: errorMessage(error) }));
        return false;
      }
      update((previous) => ({
        ...previous,
        entries: previous.entries.map((other) =>
          other.item.id === result.id ? { ...other, item: result, state: 'done' } : other,
        ),
        message: `${done} ${result.id}`,
      }));
      try {
        await advance(claimed);
      } catch (error) {
        update((previous) => ({ ...previous, error: errorMessage(error) }));
      } finally {
        update((previous) => ({ ...previous, busy: false }));
      }
      return true;
    },
    [advance, claimNext, update],
  );

  const label = useCallback((request: LabelRequest) => act('label', request, 'Labeled'), [act]);
  const skip = useCallback((request: SkipRequest) => act('skip', request, 'Skipped'), [act]);
  const flag = useCallback((request: FlagRequest) => act('flag', request, 'Flagged'), [act]);

  const next = useCallback(async () => {
    const { busy, index, entries } = ref.current;
    if (busy || index >= entries.length) return;
    update((previous) => ({ ...previous, busy: true, error: null }));
    try {
      await advance(null);
    } catch (error) {
      update((previous) => ({ ...previous, error: errorMessage(error) }));
    } finally {
      update((previous) => ({ ...previous, busy: false }));
    }
  }, [advance, update]);

  const previous = useCallback(() => {
    const { busy, index, entries } = ref.current;
    if (busy || index === 0 || entries.length === 0) return;
    const target = entries[index - 1];
    update((state) => ({ ...state, index: index - 1, error: null }));
    if (target?.state === 'open') renew(target.item.id);
  }, [renew, update]);

  const clearError = useCallback(
    () => update((previous) => ({ ...previous, error: null })),
    [update],
  );

  return {
    entries: state.entries,
    index: state.index,
    current: state.entries[state.index] ?? null,
    phase: state.phase,
    preloaded: state.preloaded,
    busy: state.busy,
    error: state.error,
    message: state.message,
    dispatch,
    dispatchTo,
    setNotes,
    label,
    skip,
    flag,
    next,
    previous,
    clearError,
  };
}
