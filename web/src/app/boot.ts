/**
 * What index.html does before the app's code has loaded (docs/dashboard.md#speed). The build
 * (web/vite.config.ts) writes `boot`'s source into index.html as an inline classic script, with
 * the first-load map of every page (`BootRoute`: its chunk files and the API answers it needs
 * first); the browser runs it while it parses the HTML, so all of it starts at once instead of
 * one after the other once the entry has run:
 *
 * - the stored token's session check (`GET /api/session`, taken by auth.tsx);
 * - the live channel (`/api/events`, adopted by lib/events.ts when the token matches), keeping
 *   the messages that arrive before the app listens, for the app to replay;
 * - for the page at `location.pathname` only: `<link rel="modulepreload">` for its chunk and
 *   every chunk that chunk imports (and a style preload for its CSS), and its first API
 *   requests (`PagePath.prefetch`), taken once by the first `api.get` of the same URL with the
 *   same token (lib/api.ts `takePrefetched`).
 *
 * Signed out (no stored token) it does nothing: the sign-in page comes first.
 *
 * `boot` must stay self-contained (it is inlined by its source text: no imports, no helpers
 * from outside its body) and must never throw (a failure only means the app asks later).
 */

import { EVENT_TYPES } from '../../../src/shared/api/events.js';

/** Where the dashboard keeps the signed-in token (auth.tsx uses this key; boot reads it). */
export const TOKEN_STORAGE_KEY = 'visionloop.token';

/** Frame events per second per camera the dashboard asks for (the server thins to this). */
export const DASHBOARD_EVENTS_MAX_FPS = 5;

/** A page's first-load entry, as the build writes it into index.html. */
export interface BootRoute {
  /** The page's path pattern (`/inspections/:id`), matched like router.tsx's matchPath. */
  path: string;
  /** Absolute URLs of the page's chunk, the chunks it imports, and their CSS. */
  files: readonly string[];
  /** GET URLs to send at once (PagePath.prefetch). */
  prefetch: readonly string[];
}

/** Answers index.html's script started, each to be taken once. */
export interface BootPrefetch {
  /** The token they were sent with. */
  token: string;
  /** When they were sent (performance.now()). */
  at: number;
  responses: Record<string, Promise<Response>>;
}

/** The live channel index.html opened, and what it received before the app took it. */
export interface BootEvents {
  token: string;
  source: EventSource;
  /** Messages of the live event types that arrived before the app listened, oldest first. */
  buffered: MessageEvent<string>[];
  /** Stops buffering (the app calls it once it listens itself). */
  stopBuffering: () => void;
}

/** At most this many early messages are kept (the newest): the app replays them when it starts. */
export const BOOT_EVENTS_BUFFER = 100;

declare global {
  interface Window {
    /** The stored token's session check, sent by index.html (auth.tsx takes it). */
    __visionloopSession?: { token: string; response: Promise<Response> };
    /** The first page's API answers, sent by index.html (lib/api.ts takes them). */
    __visionloopPrefetch?: BootPrefetch;
    /** The live channel, opened by index.html (lib/events.ts adopts it). */
    __visionloopEvents?: BootEvents;
  }
}

/**
 * index.html's start-up work; `routes` is the build's first-load map, `eventTypes` the live
 * event types (src/shared/api/events.ts), `bufferSize` BOOT_EVENTS_BUFFER. Never throws.
 */
export function boot(
  win: Window,
  routes: readonly BootRoute[],
  eventsMaxFps: number,
  eventTypes: readonly string[],
  bufferSize: number,
): void {
  try {
    // TOKEN_STORAGE_KEY, written out: boot is inlined by its text (first-load.test.ts checks).
    const token = win.localStorage.getItem('visionloop.token');
    if (token === null || token === '') return;
    const get = (url: string): Promise<Response> =>
      win.fetch(url, {
        headers: { accept: 'application/json', authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
    win.__visionloopSession = { token, response: get('/api/session') };
    // The live channel as lib/events.ts opens it (the hub adopts this one): every signed-in
    // page shows its state, and the overview's first frames then do not wait for the app.
    // What arrives before the app listens is kept (the newest `bufferSize`) and replayed by
    // the hub: the overview's first live frame is then one that came while its code loaded.
    const query = `access_token=${encodeURIComponent(token)}&maxFps=${eventsMaxFps}`;
    const source = new (win as Window & typeof globalThis).EventSource(`/api/events?${query}`);
    const buffered: MessageEvent<string>[] = [];
    const keep = (message: Event) => {
      buffered.push(message as MessageEvent<string>);
      if (buffered.length > bufferSize) buffered.shift();
    };
    for (const type of eventTypes) source.addEventListener(type, keep);
    win.__visionloopEvents = {
      token,
      source,
      buffered,
      stopBuffering: () => {
        for (const type of eventTypes) source.removeEventListener(type, keep);
      },
    };

    const split = (value: string) => value.replace(/\/+$/, '').split('/').filter(Boolean);
    const have = split(win.location.pathname);
    const route = routes.find((candidate) => {
      const want = split(candidate.path);
      return (
        want.length === have.length &&
        want.every((segment, index) => {
          const actual = have[index] ?? '';
          if (!segment.startsWith(':')) return segment === actual;
          try {
            decodeURIComponent(actual);
            return true;
          } catch {
            return false;
          }
        })
      );
    });
    if (route === undefined) return;

    const responses: Record<string, Promise<Response>> = {};
    for (const url of route.prefetch) responses[url] = get(url);
    win.__visionloopPrefetch = { token, at: win.performance.now(), responses };

    for (const file of route.files) {
      const link = win.document.createElement('link');
      if (file.endsWith('.css')) {
        link.rel = 'preload';
        link.as = 'style';
      } else {
        link.rel = 'modulepreload';
      }
      // As Vite's own preloads and stylesheet links: the same request mode as the request that
      // will use it, or the browser fetches the file twice.
      link.crossOrigin = '';
      link.href = file;
      win.document.head.appendChild(link);
    }
  } catch {
    // no storage (private mode) or no fetch: the app does all of it when it starts
  }
}

/**
 * The inline script for index.html: `boot`'s source called with `routes` (JSON, with `<`
 * escaped so no string can close the script element).
 */
export function bootScript(routes: readonly BootRoute[]): string {
  const data = JSON.stringify(routes).replace(/</g, '\\u003c');
  const types = JSON.stringify(EVENT_TYPES);
  return `(${boot.toString()})(window, ${data}, ${DASHBOARD_EVENTS_MAX_FPS}, ${types}, ${BOOT_EVENTS_BUFFER});`;
}
