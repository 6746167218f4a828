/**
 * The labeling page's box editor model and key map (web/src/pages/labeling/annotation.ts and
 * shortcuts.ts), which are import-free so they run here under Node: boxes stay inside the frame
 * and at least MIN_SIDE, each edit is one undo step, undo/redo walk back and forth exactly, and
 * the keys mean what the `?` overlay says.
 */
import { describe, expect, it } from 'vitest';
import {
  MIN_SIDE,
  annotationReducer,
  defaultBoxAt,
  initialAnnotation,
  labelBoxes,
  rectFromPoints,
  resizeRect,
} from '../../web/src/pages/labeling/annotation.js';
import { SHORTCUTS, commandFor } from '../../web/src/pages/labeling/shortcuts.js';
import { reviewerName } from '../../web/src/pages/labeling/reviewer.js';
import { key, run } from './labeling-fixture.js';

describe('box editor model', () => {
  const start = initialAnnotation(640, 480, [
    { className: 'crack', confidence: 0.55, box: { x1: 10.4, y1: 20.6, x2: 110, y2: 90 } },
    // Overshooting the frame: clipped.
    { className: 'dent', confidence: 0.45, box: { x1: 600, y1: 400, x2: 700, y2: 520 } },
    // Smaller than MIN_SIDE after rounding: dropped.
    { className: 'stain', confidence: 0.5, box: { x1: 5, y1: 5, x2: 5.4, y2: 30 } },
  ]);

  it('starts from the pre-labels, clipped and rounded to frame pixels', () => {
    expect(labelBoxes(start)).toEqual([
      { className: 'crack', box: { x1: 10, y1: 21, x2: 110, y2: 90 } },
      { className: 'dent', box: { x1: 600, y1: 400, x2: 640, y2: 480 } },
    ]);
    expect(start.boxes.map((box) => box.origin)).toEqual(['model', 'model']);
    expect(start.selected).toBeNull();
  });

  it('draws, relabels, nudges, resizes and deletes, each one undo step', () => {
    const drawn = run(start, {
      type: 'add',
      box: { x1: 300, y1: 200, x2: 250, y2: 150 },
      className: 'scratch',
    });
    expect(drawn.selected).toBe(3);
    expect(drawn.boxes[2]).toMatchObject({
      className: 'scratch',
      origin: 'drawn',
      box: { x1: 250, y1: 150, x2: 300, y2: 200 },
    });

    const edited = run(
      drawn,
      { type: 'set-class', id: 1, className: 'scratch' },
      { type: 'nudge', id: 3, dx: -1000, dy: 10 },
      { type: 'grow', id: 3, dw: 10, dh: -1000 },
      { type: 'delete', id: 2 },
    );
    expect(labelBoxes(edited)).toEqual([
      { className: 'scratch', box: { x1: 10, y1: 21, x2: 110, y2: 90 } },
      // Moved to the left edge (size kept), then widened by 10 and shrunk to MIN_SIDE high.
      { className: 'scratch', box: { x1: 0, y1: 160, x2: 60, y2: 160 + MIN_SIDE } },
    ]);
    expect(edited.boxes[0]?.origin).toBe('edited');
    expect(edited.past).toHaveLength(5);

    // Undo all five steps back to the start, then redo them all.
    let back = edited;
    for (let i = 0; i < 5; i++) back = annotationReducer(back, { type: 'undo' });
    expect(back.boxes).toEqual(start.boxes);
    expect(annotationReducer(back, { type: 'undo' })).toBe(back);
    let forward = back;
    for (let i = 0; i < 5; i++) forward = annotationReducer(forward, { type: 'redo' });
    expect(forward.boxes).toEqual(edited.boxes);
    // A new edit after an undo drops the redo list.
    const branched = run(edited, { type: 'undo' }, { type: 'delete-all' });
    expect(branched.future).toEqual([]);
    expect(branched.boxes).toEqual([]);
  });

  it('refuses boxes smaller than MIN_SIDE and ignores no-op edits', () => {
    expect(
      run(start, { type: 'add', box: { x1: 5, y1: 5, x2: 6, y2: 50 }, className: 'crack' }),
    ).toBe(start);
    expect(run(start, { type: 'nudge', id: 2, dx: 5, dy: 5 })).toBe(start); // already at the corner
    expect(run(start, { type: 'set-class', id: 1, className: 'crack' })).toBe(start);
    expect(resizeRect({ x1: 10, y1: 10, x2: 50, y2: 50 }, 'nw', 80, 90, 640, 480)).toEqual({
      x1: 50 - MIN_SIDE,
      y1: 50 - MIN_SIDE,
      x2: 50,
      y2: 50,
    });
    expect(rectFromPoints(-10, -10, 700, 500, 640, 480)).toEqual({
      x1: 0,
      y1: 0,
      x2: 640,
      y2: 480,
    });
  });

  it('places a keyboard box a sixth of the frame in size, inside the frame', () => {
    expect(defaultBoxAt(320, 240, 640, 480)).toEqual({ x1: 267, y1: 200, x2: 374, y2: 280 });
    expect(defaultBoxAt(0, 479, 640, 480)).toEqual({ x1: 0, y1: 400, x2: 107, y2: 480 });
  });

  it('cycles the selection with S / Shift+S', () => {
    const first = run(start, { type: 'select-step', step: 1 });
    expect(first.selected).toBe(1);
    expect(run(first, { type: 'select-step', step: 1 }).selected).toBe(2);
    expect(run(first, { type: 'select-step', step: -1 }).selected).toBe(2);
  });
});

describe('labeling keys', () => {
  it('maps the Label Studio / CVAT conventions', () => {
    expect(commandFor(key('r'), false)).toEqual({ type: 'draw' });
    expect(commandFor(key('Enter'), true)).toEqual({ type: 'place' });
    expect(commandFor(key('Enter'), false)).toBeNull();
    expect(commandFor(key('3'), false)).toEqual({ type: 'class', index: 2 });
    expect(commandFor(key('0'), false)).toBeNull();
    expect(commandFor(key('Delete'), false)).toEqual({ type: 'delete' });
    expect(commandFor(key('Backspace'), false)).toEqual({ type: 'delete' });
    expect(commandFor(key('z', { ctrlKey: true }), false)).toEqual({ type: 'undo' });
    expect(commandFor(key('Z', { ctrlKey: true, shiftKey: true }), false)).toEqual({
      type: 'redo',
    });
    expect(commandFor(key('y', { metaKey: true }), false)).toEqual({ type: 'redo' });
    expect(commandFor(key('Escape'), false)).toEqual({ type: 'escape' });
    expect(commandFor(key('ArrowLeft'), false)).toEqual({ type: 'nudge', dx: -1, dy: 0 });
    expect(commandFor(key('ArrowDown', { shiftKey: true }), false)).toEqual({
      type: 'nudge',
      dx: 0,
      dy: 10,
    });
    expect(commandFor(key('ArrowRight', { ctrlKey: true }), false)).toEqual({
      type: 'grow',
      dw: 1,
      dh: 0,
    });
    expect(commandFor(key('Enter', { ctrlKey: true }), false)).toEqual({ type: 'submit' });
    expect(commandFor(key(' ', { ctrlKey: true, code: 'Space' }), false)).toEqual({ type: 'skip' });
    expect(commandFor(key('f'), false)).toEqual({ type: 'next' });
    expect(commandFor(key('D', { shiftKey: true }), false)).toEqual({ type: 'previous' });
    expect(commandFor(key('?', { shiftKey: true }), false)).toEqual({ type: 'help' });
    // Alt combinations belong to the browser (Alt+← is "back").
    expect(commandFor(key('ArrowLeft', { altKey: true }), false)).toBeNull();
  });

  it('lists every key the handler knows in the overlay', () => {
    const listed = SHORTCUTS.flatMap((row) => row.keys).join(' ');
    for (const name of [
      'R',
      'Enter',
      'Del',
      'Backspace',
      'Ctrl+Z',
      'Ctrl+Shift+Z',
      'Esc',
      'Ctrl+Enter',
      'Ctrl+Space',
      'F',
      'D',
      '?',
      'N',
      'X',
      'S',
    ]) {
      expect(listed).toContain(name);
    }
  });
});

describe('reviewerName', () => {
  it("marks the demo's simulated reviewer and names people as they are", () => {
    expect(reviewerName({ id: 'tok_1', name: 'simulated-reviewer', simulated: true })).toBe(
      'simulated-reviewer (simulated)',
    );
    expect(reviewerName({ id: 'tok_2', name: 'alice' })).toBe('alice');
    expect(reviewerName({ id: 'tok_3', name: null, simulated: false })).toBe('tok_3');
    expect(reviewerName(null)).toBe('—');
  });
});
