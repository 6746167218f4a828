/**
 * Frame images: `/api/frames/{id}` needs the Authorization header, which an <img> cannot send,
 * so images are fetched through the API client and shown as object URLs. A small cache keeps
 * the last 64 (revoking older URLs), and `preloadFrame(id)` fetches one ahead of time (the
 * labeling page preloads the next item so it appears at once).
 */
import { useEffect, useState } from 'react';
import { ApiError, api } from './api';

const CACHE_SIZE = 64;
/** A 404 is retried this many times, this far apart (the JPEG may still be on its way). */
const FRAME_RETRIES = 3;
const FRAME_RETRY_MS = 1000;
const cache = new Map<string, Promise<string>>();

function remember(id: string, url: Promise<string>): void {
  cache.set(id, url);
  while (cache.size > CACHE_SIZE) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    const stale = cache.get(oldest);
    cache.delete(oldest);
    void stale?.then(
      (objectUrl) => URL.revokeObjectURL(objectUrl),
      () => undefined,
    );
  }
}

/** The object URL of frame `id`'s JPEG (cached; a failure is not cached). */
export function loadFrame(id: string): Promise<string> {
  const cached = cache.get(id);
  if (cached !== undefined) {
    // Most recently used last.
    cache.delete(id);
    cache.set(id, cached);
    return cached;
  }
  const url = api.blob(`/api/frames/${encodeURIComponent(id)}`).then(async (blob) => {
    const objectUrl = URL.createObjectURL(blob);
    // Decode before showing so the swap to this frame is instant.
    const image = new Image();
    image.src = objectUrl;
    await image.decode().catch(() => undefined);
    return objectUrl;
  });
  remember(id, url);
  url.catch(() => cache.delete(id));
  return url;
}

/** Fetch (and decode) frame `id` now, so showing it later is instant. */
export function preloadFrame(id: string): void {
  loadFrame(id).catch(() => undefined);
}

export type FrameImageState =
  | { status: 'loading' }
  | { status: 'ready'; url: string }
  | { status: 'missing' }
  | { status: 'error'; message: string };

/** Frame `id`'s image as an object URL; `missing` when the server stored no JPEG for it. */
export function useFrameImage(id: string | null): FrameImageState {
  const [state, setState] = useState<FrameImageState>({ status: 'loading' });
  useEffect(() => {
    if (id === null) {
      setState({ status: 'missing' });
      return;
    }
    let active = true;
    let retry: ReturnType<typeof setTimeout> | undefined;
    setState((previous) => (previous.status === 'ready' ? previous : { status: 'loading' }));
    const attempt = (left: number) => {
      loadFrame(id).then(
        (url) => active && setState({ status: 'ready', url }),
        (error: unknown) => {
          if (!active) return;
          if (error instanceof ApiError && error.status === 404) {
            // An agent uploads the JPEG just after the result: ask again before giving up.
            if (left > 0) retry = setTimeout(() => attempt(left - 1), FRAME_RETRY_MS);
            else setState({ status: 'missing' });
          } else {
            setState({
              status: 'error',
              message: error instanceof Error ? error.message : 'failed',
            });
          }
        },
      );
    };
    attempt(FRAME_RETRIES);
    return () => {
      active = false;
      clearTimeout(retry);
    };
  }, [id]);
  return state;
}
