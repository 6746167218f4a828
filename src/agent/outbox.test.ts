import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeResult } from '../../test/helpers/frame-results.js';
import { isVisionLoopError } from '../shared/errors.js';
import { Outbox, ROW_OVERHEAD_BYTES, type OutboxEntry } from './outbox.js';

/** Accounted bytes of one makeResult row. */
function resultRowBytes(i = 0): number {
  const result = makeResult(i);
  return Buffer.byteLength(JSON.stringify(result)) + result.id.length + ROW_OVERHEAD_BYTES;
}

let dir: string;
const open: Outbox[] = [];

function openOutbox(options: Parameters<typeof Outbox.open>[1] = {}, name = 'outbox.db'): Outbox {
  const outbox = Outbox.open(join(dir, name), options);
  open.push(outbox);
  return outbox;
}

function entries(from: number, to: number, jpegFor: (i: number) => Uint8Array | null = () => null) {
  const list: OutboxEntry[] = [];
  for (let i = from; i < to; i++) list.push({ result: makeResult(i), jpeg: jpegFor(i) });
  return list;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-outbox-'));
});

afterEach(() => {
  for (const outbox of open.splice(0)) outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Outbox', () => {
  it('hands results out in append order and forgets them only when acknowledged', () => {
    const outbox = openOutbox();
    expect(outbox.append(entries(0, 5)).appended).toBe(5);
    const first = outbox.peekResults(3);
    expect(first.map((r) => r.id)).toEqual(['r-000', 'r-001', 'r-002']);
    expect(JSON.parse(first[1]!.body)).toEqual(makeResult(1));
    // Peeking twice gives the same batch: nothing leaves without an acknowledgement.
    expect(outbox.peekResults(3).map((r) => r.seq)).toEqual(first.map((r) => r.seq));
    expect(outbox.acknowledgeResults(first.map((r) => r.seq))).toBe(3);
    expect(outbox.peekResults(10).map((r) => r.id)).toEqual(['r-003', 'r-004']);
    expect(outbox.stats()).toMatchObject({ pendingResults: 2, acknowledgedResults: 3 });
    // Acknowledging again (a retried batch) removes nothing more.
    expect(outbox.acknowledgeResults(first.map((r) => r.seq))).toBe(0);
    expect(outbox.stats().acknowledgedResults).toBe(3);
  });

  it('stores an id once even when it is appended twice', () => {
    const outbox = openOutbox();
    outbox.append(entries(0, 3));
    expect(outbox.append(entries(2, 4)).appended).toBe(1);
    expect(outbox.peekResults(10).map((r) => r.id)).toEqual(['r-000', 'r-001', 'r-002', 'r-003']);
  });

  it('keeps pending results, counters and settings across a restart', () => {
    const path = join(dir, 'outbox.db');
    const before = Outbox.open(path);
    before.append(entries(0, 6));
    before.acknowledgeResults(before.peekResults(2).map((r) => r.seq));
    before.saveSettings({ revision: 3, uploadFrames: 'all', jpegQuality: 70 });
    const bytes = before.stats().bytes;
    before.close();

    const after = openOutbox();
    expect(after.peekResults(10).map((r) => r.id)).toEqual(['r-002', 'r-003', 'r-004', 'r-005']);
    expect(after.stats()).toMatchObject({
      pendingResults: 4,
      acknowledgedResults: 2,
      bytes,
    });
    expect(bytes).toBe(4 * resultRowBytes());
    expect(after.loadSettings()).toEqual({ revision: 3, uploadFrames: 'all', jpegQuality: 70 });
    // New results go after the old ones.
    after.append(entries(6, 7));
    expect(after.peekResults(10).at(-1)?.id).toBe('r-006');
  });

  it('refuses a second agent on the same file', () => {
    openOutbox();
    let caught: unknown;
    try {
      Outbox.open(join(dir, 'outbox.db'));
    } catch (error) {
      caught = error;
    }
    expect(isVisionLoopError(caught) && caught.code).toBe('CONFLICT');
  });

  it('makes a frame uploadable only after its result was acknowledged', () => {
    const outbox = openOutbox();
    const jpeg = new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
    outbox.append(entries(0, 3, (i) => (i === 1 ? jpeg : null)));
    expect(outbox.stats().pendingFrames).toBe(1);
    expect(outbox.peekFrames(5)).toEqual([]);
    outbox.acknowledgeResults(outbox.peekResults(1).map((r) => r.seq));
    expect(outbox.peekFrames(5)).toEqual([]);
    outbox.acknowledgeResults(outbox.peekResults(1).map((r) => r.seq));
    const [frame] = outbox.peekFrames(5);
    expect(frame?.resultId).toBe('r-001');
    expect(Uint8Array.from(frame!.jpeg)).toEqual(jpeg);
    expect(outbox.removeFrame(frame!.seq, 'uploaded')).toBe(true);
    expect(outbox.stats()).toMatchObject({
      pendingFrames: 0,
      uploadedFrames: 1,
      pendingResults: 1,
    });
  });

  it('drops a rejected result together with its frame, and counts both', () => {
    const outbox = openOutbox();
    outbox.append(entries(0, 2, () => new Uint8Array(100)));
    const [bad] = outbox.peekResults(1);
    expect(outbox.rejectResults([bad!.seq])).toBe(1);
    expect(outbox.stats()).toMatchObject({
      pendingResults: 1,
      pendingFrames: 1,
      rejectedResults: 1,
      rejectedFrames: 1,
    });
  });

  it('sheds frames oldest first, then the oldest results, with exact counts', () => {
    const R = resultRowBytes();
    // Frames accounted at exactly 2R each.
    const jpeg = new Uint8Array(2 * R - 'r-000'.length - ROW_OVERHEAD_BYTES);
    const outbox = openOutbox({ maxBytes: 14 * R });

    // 10 results + 3 frames = 16R: one frame (the oldest) goes.
    let outcome = outbox.append(entries(0, 10, (i) => (i % 3 === 2 ? jpeg : null)));
    expect(outcome).toEqual({ appended: 10, framesAppended: 3, shedResults: 0, shedFrames: 1 });
    expect(outbox.stats()).toMatchObject({ bytes: 14 * R, pendingFrames: 2, shedFrames: 1 });

    // +1 result = 15R: a frame goes, not a result.
    outcome = outbox.append(entries(10, 11));
    expect(outcome).toMatchObject({ shedResults: 0, shedFrames: 1 });
    expect(outbox.stats()).toMatchObject({ pendingResults: 11, pendingFrames: 1, bytes: 13 * R });

    // +5 results = 18R: the last frame (2R), then the two oldest results (2R).
    outcome = outbox.append(entries(11, 16));
    expect(outcome).toMatchObject({ appended: 5, shedResults: 2, shedFrames: 1 });
    expect(outbox.stats()).toMatchObject({
      pendingResults: 14,
      pendingFrames: 0,
      bytes: 14 * R,
      shedResults: 2,
      shedFrames: 3,
    });
    expect(outbox.peekResults(1)[0]?.id).toBe('r-002');

    // The counters live in the file.
    outbox.close();
    const reopened = openOutbox({ maxBytes: 14 * R });
    expect(reopened.stats()).toMatchObject({ shedResults: 2, shedFrames: 3, bytes: 14 * R });
  });

  it('stays within its disk budget however much is appended', () => {
    const maxBytes = 1024 * 1024;
    const outbox = openOutbox({ maxBytes });
    const frame = new Uint8Array(20_000).fill(7);
    for (let round = 0; round < 40; round++) {
      const base = round * 50;
      const list = entries(0, 50, (i) => (i % 10 === 0 ? frame : null)).map((entry, k) => ({
        ...entry,
        result: { ...entry.result, id: `b${base + k}` },
      }));
      outbox.append(list);
      expect(outbox.stats().bytes).toBeLessThanOrEqual(maxBytes);
    }
    const stats = outbox.stats();
    // 2000 results and 200 frames (≈ 6 MB) went in; ≤ 1 MiB stayed, the newest.
    expect(stats.shedFrames + stats.pendingFrames).toBe(200);
    expect(stats.pendingFrames).toBeLessThanOrEqual(5);
    expect(stats.shedResults + stats.pendingResults).toBe(2000);
    expect(outbox.peekResults(1)[0]?.id).toBe(`b${2000 - stats.pendingResults}`);
    outbox.close();
    const path = join(dir, 'outbox.db');
    const onDisk =
      statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
    // SQLite's own page overhead on top of the accounted bytes.
    expect(onDisk).toBeLessThanOrEqual(maxBytes * 1.25);
  });

  it('sheds and retries when the disk is full, and counts what it cannot keep', () => {
    const warnings: string[] = [];
    // 64 pages of 4 KiB: room for roughly 150 results in all.
    const outbox = openOutbox({ maxPageCount: 64, onWarning: (m) => warnings.push(m) });
    let appended = 0;
    for (let round = 0; round < 10; round++) {
      appended += outbox.append(entries(round * 50, round * 50 + 50)).appended;
    }
    const stats = outbox.stats();
    expect(warnings.some((m) => m.includes('disk is full'))).toBe(true);
    // Every append made room for itself: nothing was lost on the way in, the oldest went.
    expect(appended).toBe(500);
    expect(stats.shedResults).toBeGreaterThan(0);
    expect(stats.pendingResults + stats.shedResults).toBe(500);
    expect(outbox.peekResults(1)[0]?.id).toBe(`r-${String(stats.shedResults).padStart(3, '0')}`);
    expect(outbox.peekResults(1000).at(-1)?.id).toBe('r-499');

    // A frame bigger than the whole file: the frame is shed, its result is kept.
    const huge = new Uint8Array(400_000);
    const before = outbox.stats();
    const outcome = outbox.append([{ result: makeResult(899), jpeg: huge }]);
    expect(outcome).toMatchObject({ appended: 1, framesAppended: 0, shedFrames: 1 });
    expect(outbox.stats().shedFrames).toBe(before.shedFrames + 1);
    expect(outbox.stats().pendingFrames).toBe(0);
    expect(outbox.peekResults(1000).at(-1)?.id).toBe('r-899');
  });
});
