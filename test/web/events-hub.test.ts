/**
 * The dashboard's live hub (web/src/lib/events.ts): adopting the stream index.html opened
 * (app/boot.ts) with the messages it kept, and replaying the latest frames to a page that
 * subscribes later (docs/dashboard.md#speed).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BootEvents } from '../../web/src/app/boot.js';
import type { LiveEvent } from '../../src/shared/api/events.js';
import { EventsHub, RECENT_FRAMES_MS } from '../../web/src/lib/events.js';
import { makeResult } from '../helpers/frame-results.js';

const TOKEN = `vl_${'b'.repeat(43)}`;

class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static opened: FakeEventSource[] = [];
  readyState = FakeEventSource.OPEN;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readonly listeners = new Map<string, Set<(message: MessageEvent<string>) => void>>();
  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(type: string, listener: (message: MessageEvent<string>) => void) {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
  }
  removeEventListener(type: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.get(type)?.delete(listener);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  deliver(event: LiveEvent) {
    const message = { type: event.type, data: JSON.stringify(event) } as MessageEvent<string>;
    for (const listener of this.listeners.get(event.type) ?? []) listener(message);
  }
}

const frame = (i: number): LiveEvent => ({
  type: 'frame',
  at: 1_700_000_000_000 + i,
  agentId: null,
  result: makeResult(i),
});
const seqs = (batch: readonly LiveEvent[]) =>
  batch.map((event) => (event.type === 'frame' ? event.result.frameIndex - 100 : -1));

let now = 0;
let frames: (() => void)[] = [];
/** Runs the pending animation-frame callbacks (the hub's flushes and replays). */
const animationFrame = () => {
  const due = frames;
  frames = [];
  for (const callback of due) callback();
};

beforeEach(() => {
  now = 1000;
  frames = [];
  FakeEventSource.opened = [];
  vi.stubGlobal('window', globalThis);
  vi.stubGlobal('EventSource', FakeEventSource);
  vi.stubGlobal('document', { visibilityState: 'visible' });
  vi.stubGlobal('requestAnimationFrame', (callback: () => void) => frames.push(callback));
  vi.stubGlobal('performance', { now: () => now });
});
afterEach(() => {
  vi.unstubAllGlobals();
  delete (globalThis as { __visionloopEvents?: BootEvents }).__visionloopEvents;
});

describe('the live hub', () => {
  it("adopts index.html's stream and replays what it kept, oldest first, then what comes next", () => {
    const early = new FakeEventSource('/api/events?early');
    const buffered = [frame(1), frame(2)].map(
      (event) => ({ type: event.type, data: JSON.stringify(event) }) as MessageEvent<string>,
    );
    let stopped = 0;
    (globalThis as { __visionloopEvents?: BootEvents }).__visionloopEvents = {
      token: TOKEN,
      source: early as unknown as EventSource,
      buffered,
      stopBuffering: () => {
        stopped += 1;
      },
    };
    const hub = new EventsHub();
    const got: number[][] = [];
    hub.subscribe(['frame'], (batch) => got.push(seqs(batch)));
    hub.start(TOKEN);
    // No second stream: the early one is used, and it stopped buffering.
    expect(FakeEventSource.opened).toEqual([early]);
    expect(stopped).toBe(1);
    early.deliver(frame(3));
    animationFrame();
    expect(got).toEqual([[1, 2, 3]]);
    expect(hub.received).toBe(3);
  });

  it("closes index.html's stream when it was opened for another token", () => {
    const early = new FakeEventSource('/api/events?other');
    let stopped = 0;
    (globalThis as { __visionloopEvents?: BootEvents }).__visionloopEvents = {
      token: `vl_${'c'.repeat(43)}`,
      source: early as unknown as EventSource,
      buffered: [],
      stopBuffering: () => {
        stopped += 1;
      },
    };
    new EventsHub().start(TOKEN);
    expect(early.readyState).toBe(FakeEventSource.CLOSED);
    expect(stopped).toBe(1);
    expect(FakeEventSource.opened).toHaveLength(2);
  });

  it('gives a page that subscribes later the frames of the last seconds, once, without doubles', () => {
    const hub = new EventsHub();
    hub.start(TOKEN);
    const stream = FakeEventSource.opened[0];
    if (stream === undefined) throw new Error('no stream');
    stream.deliver(frame(1));
    animationFrame();
    now += RECENT_FRAMES_MS + 1; // frame 1 is now too old to replay
    stream.deliver(frame(2));
    stream.deliver(frame(3));
    animationFrame();
    stream.deliver(frame(4)); // still queued when the page subscribes: the flush brings it
    const got: number[][] = [];
    const others: number[][] = [];
    hub.subscribe(['drift'], (batch) => others.push(seqs(batch)));
    hub.subscribe(['frame'], (batch) => got.push(seqs(batch)));
    animationFrame();
    expect(got.flat().sort()).toEqual([2, 3, 4]);
    expect(others).toEqual([]);
    // A page that leaves before the next animation frame gets nothing.
    const late: number[][] = [];
    const leave = hub.subscribe(['frame'], (batch) => late.push(seqs(batch)));
    leave();
    animationFrame();
    expect(late).toEqual([]);
    // After stop (sign-out) nothing is kept.
    hub.stop();
    const after: number[][] = [];
    hub.subscribe(['frame'], (batch) => after.push(seqs(batch)));
    animationFrame();
    expect(after).toEqual([]);
  });
});
