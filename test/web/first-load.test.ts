/**
 * The dashboard's first load (docs/dashboard.md#speed): index.html's start-up script
 * (web/src/app/boot.ts, run here from the very text the build inlines), the first-load map the
 * build writes (web/vite.config.ts firstLoadRoutes), and the API client taking a prefetched
 * answer once (web/src/lib/api.ts).
 */
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { EVENT_TYPES } from '../../src/shared/api/events.js';
import type { BootEvents, BootPrefetch, BootRoute } from '../../web/src/app/boot.js';
import { BOOT_EVENTS_BUFFER, TOKEN_STORAGE_KEY, bootScript } from '../../web/src/app/boot.js';
import { OVERVIEW_WINDOW_SECONDS, PAGES, matchPath } from '../../web/src/app/paths.js';
import { ApiClient, PREFETCH_MAX_AGE_MS } from '../../web/src/lib/api.js';
import { firstLoadRoutes } from '../../web/vite.config.js';

const TOKEN = `vl_${'a'.repeat(43)}`;

const MAP: BootRoute[] = [
  {
    path: '/',
    files: ['/assets/OverviewPage-1.js', '/assets/shared-2.js', '/assets/OverviewPage-3.css'],
    prefetch: ['/api/metrics?window=60', '/api/agents'],
  },
  { path: '/inspections', files: ['/assets/InspectionsPage-4.js'], prefetch: [] },
  { path: '/inspections/:id', files: ['/assets/InspectionPage-5.js'], prefetch: [] },
];

interface FakeLink {
  rel?: string;
  as?: string;
  href?: string;
  crossOrigin?: string;
}

/** An EventSource with listeners and a way to deliver a message to them. */
class FakeEventSource {
  readonly listeners = new Map<string, Set<(message: Event) => void>>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (message: Event) => void) {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
  }
  removeEventListener(type: string, listener: (message: Event) => void) {
    this.listeners.get(type)?.delete(listener);
  }
  deliver(type: string, data: string) {
    const message = { type, data } as unknown as Event;
    for (const listener of this.listeners.get(type) ?? []) listener(message);
  }
}

/** A window with just what boot touches; runs the inlined script text against it. */
function runBoot(pathname: string, token: string | null, map: readonly BootRoute[] = MAP) {
  const links: FakeLink[] = [];
  const fetches: { url: string; init: RequestInit }[] = [];
  const streams: FakeEventSource[] = [];
  const win = {
    EventSource: class extends FakeEventSource {
      constructor(url: string) {
        super(url);
        streams.push(this);
      }
    },
    localStorage: { getItem: (key: string) => (key === TOKEN_STORAGE_KEY ? token : null) },
    location: { pathname },
    performance: { now: () => 250 },
    fetch: (url: string, init: RequestInit) => {
      fetches.push({ url, init });
      return Promise.resolve(new Response('{}'));
    },
    document: {
      createElement: (): FakeLink => ({}),
      head: { appendChild: (link: FakeLink) => links.push(link) },
    },
  } as unknown as Window & {
    __visionloopSession?: unknown;
    __visionloopPrefetch?: BootPrefetch;
    __visionloopEvents?: BootEvents;
  };
  // The exact text index.html gets, in a fresh global scope holding only `window`: a
  // reference to anything outside boot's body would throw.
  runInNewContext(bootScript(map), { window: win });
  return { win, links, fetches, streams };
}

describe("index.html's start-up script", () => {
  it('signed out: sends nothing and preloads nothing', () => {
    const { win, links, fetches, streams } = runBoot('/', null);
    expect(fetches).toEqual([]);
    expect(streams).toEqual([]);
    expect(links).toEqual([]);
    expect(win.__visionloopSession).toBeUndefined();
    expect(win.__visionloopPrefetch).toBeUndefined();
  });

  it("on the overview: session check, the overview's API calls and its chunks, at once", () => {
    const { win, links, fetches, streams } = runBoot('/', TOKEN);
    expect(streams.map((stream) => stream.url)).toEqual([
      `/api/events?access_token=${TOKEN}&maxFps=5`,
    ]);
    expect(win.__visionloopEvents).toMatchObject({ token: TOKEN });
    expect(fetches.map((call) => call.url)).toEqual([
      '/api/session',
      '/api/metrics?window=60',
      '/api/agents',
    ]);
    for (const call of fetches) {
      expect(call.init.headers).toEqual({
        accept: 'application/json',
        authorization: `Bearer ${TOKEN}`,
      });
      expect(call.init.cache).toBe('no-store');
    }
    expect(links).toEqual([
      { rel: 'modulepreload', crossOrigin: '', href: '/assets/OverviewPage-1.js' },
      { rel: 'modulepreload', crossOrigin: '', href: '/assets/shared-2.js' },
      { rel: 'preload', as: 'style', crossOrigin: '', href: '/assets/OverviewPage-3.css' },
    ]);
    expect(win.__visionloopPrefetch?.token).toBe(TOKEN);
    expect(win.__visionloopPrefetch?.at).toBe(250);
    expect(Object.keys(win.__visionloopPrefetch?.responses ?? {})).toEqual([
      '/api/metrics?window=60',
      '/api/agents',
    ]);
  });

  it('keeps the live messages that arrive before the app listens, the newest 100, until told to stop', () => {
    const { win, streams } = runBoot('/', TOKEN);
    const stream = streams[0];
    if (stream === undefined) throw new Error('no stream');
    // Every live event type is kept; other types (the server sends none) are not.
    expect([...stream.listeners.keys()]).toEqual([...EVENT_TYPES]);
    stream.deliver('frame', '{"n":1}');
    stream.deliver('drift', '{"n":2}');
    const early = win.__visionloopEvents;
    expect(early?.buffered.map((message) => message.data)).toEqual(['{"n":1}', '{"n":2}']);
    for (let n = 3; n <= BOOT_EVENTS_BUFFER + 10; n += 1) stream.deliver('frame', `{"n":${n}}`);
    expect(early?.buffered).toHaveLength(BOOT_EVENTS_BUFFER);
    expect(early?.buffered[0]?.data).toBe('{"n":11}');
    early?.stopBuffering();
    stream.deliver('frame', '{"n":999}');
    expect(early?.buffered.at(-1)?.data).toBe(`{"n":${BOOT_EVENTS_BUFFER + 10}}`);
    expect([...stream.listeners.values()].every((set) => set.size === 0)).toBe(true);
  });

  it("another page: only that page's files; a path with params matches its pattern", () => {
    const detail = runBoot('/inspections/42/', TOKEN);
    expect(detail.links.map((link) => link.href)).toEqual(['/assets/InspectionPage-5.js']);
    expect(detail.fetches.map((call) => call.url)).toEqual(['/api/session']);
    const unknown = runBoot('/no/such/page', TOKEN);
    expect(unknown.links).toEqual([]);
    expect(unknown.fetches.map((call) => call.url)).toEqual(['/api/session']);
    expect(unknown.win.__visionloopPrefetch).toBeUndefined();
    // The live channel opens on every signed-in page (the layout shows its state).
    expect(unknown.streams).toHaveLength(1);
  });

  it('picks the same page as the router for every path', () => {
    const map = PAGES.map((page) => ({ path: page.path, files: [page.path], prefetch: [] }));
    const paths = [
      '/',
      '/inspections',
      '/inspections/',
      '/inspections/7',
      '/inspections/%E0%A4%A',
      '/labeling',
      '/labeling/review',
      '/labeling/other',
      '/models',
      '/models/v12',
      '/settings',
      '/drift/x',
      '/nothing',
    ];
    for (const path of paths) {
      const router = PAGES.find((page) => matchPath(page.path, path) !== null)?.path;
      const booted = runBoot(path, TOKEN, map).links.map((link) => link.href);
      expect(booted, path).toEqual(router === undefined ? [] : [router]);
    }
  });

  it('cannot be closed early by a file name holding </script>', () => {
    const script = bootScript([{ path: '/', files: ['/assets/</script><b>.js'], prefetch: [] }]);
    expect(script).not.toContain('</script>');
    expect(
      runBoot('/', TOKEN, [{ path: '/', files: ['/a</script>.js'], prefetch: [] }]).links,
    ).toEqual([{ rel: 'modulepreload', crossOrigin: '', href: '/a</script>.js' }]);
  });

  it("prefetches the URL the overview's first metrics request builds", () => {
    const overview = PAGES.find((page) => page.path === '/');
    expect(overview?.prefetch).toContain(`/api/metrics?window=${OVERVIEW_WINDOW_SECONDS}`);
  });
});

/** A minimal rolldown output chunk for firstLoadRoutes. */
function chunk(
  fileName: string,
  options: { facade?: string; imports?: string[]; css?: string[]; entry?: boolean },
) {
  return {
    type: 'chunk' as const,
    fileName,
    isEntry: options.entry ?? false,
    facadeModuleId: options.facade ?? null,
    imports: options.imports ?? [],
    viteMetadata: { importedCss: new Set(options.css ?? []), importedAssets: new Set<string>() },
  };
}

describe('the first-load map the build writes', () => {
  const pages = '/app/web/src/pages';
  const bundle = Object.fromEntries(
    [
      chunk('assets/index-1.js', { entry: true, imports: ['assets/core-2.js'] }),
      chunk('assets/core-2.js', {}),
      chunk('assets/shared-3.js', { imports: ['assets/core-2.js'] }),
      chunk('assets/OverviewPage-4.js', {
        facade: `${pages}/overview/OverviewPage.tsx`,
        imports: ['assets/shared-3.js', 'assets/core-2.js'],
        css: ['assets/OverviewPage-5.css'],
      }),
      ...PAGES.filter((page) => page.module !== 'overview/OverviewPage').map((page) =>
        chunk(`assets/${page.module.replace('/', '_')}.js`, {
          facade: `${pages}/${page.module}.tsx`,
          imports: ['assets/core-2.js'],
        }),
      ),
    ].map((item) => [item.fileName, item]),
  );

  it("lists a page's chunk first, then what it imports that the entry does not load", () => {
    const routes = firstLoadRoutes(pages, bundle as never);
    expect(routes.map((route) => route.path)).toEqual(PAGES.map((page) => page.path));
    expect(routes[0]).toEqual({
      path: '/',
      files: ['/assets/OverviewPage-4.js', '/assets/shared-3.js', '/assets/OverviewPage-5.css'],
      prefetch: ['/api/metrics?window=60', '/api/agents'],
    });
    const settings = routes.find((route) => route.path === '/settings');
    expect(settings).toEqual({
      path: '/settings',
      files: ['/assets/settings_SettingsPage.js'],
      prefetch: [],
    });
  });

  it('fails the build when a page has no chunk', () => {
    const partial = { ...bundle };
    delete partial['assets/settings_SettingsPage.js'];
    expect(() => firstLoadRoutes(pages, partial as never)).toThrow(
      /no chunk for \/settings's page module .*settings\/SettingsPage\.tsx/,
    );
  });

  it('without a bundle (dev server): no files, the prefetches still', () => {
    const routes = firstLoadRoutes(pages, undefined);
    expect(routes[0]).toEqual({
      path: '/',
      files: [],
      prefetch: ['/api/metrics?window=60', '/api/agents'],
    });
  });
});

describe('the API client and a prefetched answer', () => {
  const schema = z.object({ n: z.number() });
  const fetchMock = vi.fn(() => Promise.resolve(Response.json({ n: 2 })));

  function prefetch(token: string, at: number, body: unknown = { n: 1 }) {
    vi.stubGlobal('fetch', fetchMock);
    vi.stubGlobal('window', {
      __visionloopPrefetch: {
        token,
        at,
        responses: { '/api/x?window=60': Promise.resolve(Response.json(body)) },
      },
    });
  }

  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockClear();
  });

  it('takes it once, for the same URL and token; then asks the server', async () => {
    prefetch(TOKEN, performance.now());
    const client = new ApiClient();
    client.setToken(TOKEN);
    expect(await client.get('/api/x', schema, { query: { window: 60 } })).toEqual({ n: 1 });
    expect(fetchMock).not.toHaveBeenCalled();
    expect(await client.get('/api/x', schema, { query: { window: 60 } })).toEqual({ n: 2 });
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it('ignores it for another URL, another token, or when it is too old', async () => {
    prefetch(TOKEN, performance.now());
    const other = new ApiClient();
    other.setToken(`vl_${'b'.repeat(43)}`);
    expect(await other.get('/api/x', schema, { query: { window: 60 } })).toEqual({ n: 2 });
    const client = new ApiClient();
    client.setToken(TOKEN);
    expect(await client.get('/api/x', schema, { query: { window: 30 } })).toEqual({ n: 2 });
    expect(fetchMock).toHaveBeenCalledTimes(2);

    prefetch(TOKEN, performance.now() - PREFETCH_MAX_AGE_MS - 1);
    expect(await client.get('/api/x', schema, { query: { window: 60 } })).toEqual({ n: 2 });
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });

  it('checks a prefetched answer like any other: a contract mismatch is a clear error', async () => {
    prefetch(TOKEN, performance.now(), { n: 'one' });
    const client = new ApiClient();
    client.setToken(TOKEN);
    await expect(client.get('/api/x', schema, { query: { window: 60 } })).rejects.toThrow(
      /GET \/api\/x: the answer does not match the contract at n/,
    );
  });
});
