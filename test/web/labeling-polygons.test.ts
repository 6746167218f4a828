/**
 * Mask outlines and crop classes in the labeling page's editor model (annotation.ts), its keys
 * (shortcuts.ts) and what it takes from the inspection chain (stage-labels.ts): an outline is
 * drawn point by point inside its box and closed only when the label API would take it; its
 * points can be dragged and removed; it follows its box; crop classes come from the classify
 * stage's production model; the frame's stage outputs pre-fill the model boxes.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_POLYGON_POINTS as API_MAX_POINTS,
  MIN_POLYGON_POINTS as API_MIN_POINTS,
  labelRequestSchema,
} from '../../src/shared/api/labeling.js';
import type { ModelListResponse, ModelSummary } from '../../src/shared/api/models.js';
import {
  MAX_POLYGON_POINTS,
  MIN_POLYGON_POINTS,
  initialAnnotation,
  labelBoxes,
  polygonArea,
  polygonProblem,
  remapPolygon,
} from '../../web/src/pages/labeling/annotation.js';
import type { AnnotationState } from '../../web/src/pages/labeling/annotation.js';
import { SHORTCUTS, commandFor } from '../../web/src/pages/labeling/shortcuts.js';
import {
  cropClassesOf,
  refusedBoxIndex,
  stagePreLabels,
} from '../../web/src/pages/labeling/stage-labels.js';
import { key, run } from './labeling-fixture.js';

// Box 1: (100,100)–(200,180); box 2: (300,300)–(400,360).
const start = initialAnnotation(640, 480, [
  { className: 'crack', confidence: 0.8, box: { x1: 100, y1: 100, x2: 200, y2: 180 } },
  { className: 'dent', confidence: 0.6, box: { x1: 300, y1: 300, x2: 400, y2: 360 } },
]);

/** Box 1 with the outline (110,110) (190,110) (150,170), drawn by clicks and closed. */
function outlined(): AnnotationState {
  return run(
    start,
    { type: 'polygon-start', id: 1 },
    { type: 'polygon-point', x: 110, y: 110 },
    { type: 'polygon-point', x: 190, y: 110 },
    { type: 'polygon-point', x: 150, y: 170 },
    { type: 'polygon-close' },
  );
}

describe('mask outline editing', () => {
  it('agrees with the label API on the point counts', () => {
    expect(MIN_POLYGON_POINTS).toBe(API_MIN_POINTS);
    expect(MAX_POLYGON_POINTS).toBe(API_MAX_POINTS);
  });

  it('draws an outline point by point and closes it as one undo step', () => {
    const drafting = run(
      start,
      { type: 'polygon-start', id: 1 },
      { type: 'polygon-point', x: 110, y: 110 },
      { type: 'polygon-point', x: 190, y: 110 },
    );
    expect(drafting.selected).toBe(1);
    expect(drafting.polygonDraft).toEqual({ id: 1, points: [110, 110, 190, 110] });
    // Drafting is not an undo step, and two points are no outline.
    expect(drafting.past).toHaveLength(0);
    expect(run(drafting, { type: 'polygon-close' })).toBe(drafting);

    const closed = outlined();
    expect(closed.polygonDraft).toBeNull();
    expect(closed.boxes[0]?.polygon).toEqual([110, 110, 190, 110, 150, 170]);
    expect(closed.boxes[0]?.origin).toBe('edited');
    expect(closed.past).toHaveLength(1);
    const undone = run(closed, { type: 'undo' });
    expect(undone.boxes[0]?.polygon).toBeUndefined();
    expect(run(undone, { type: 'redo' }).boxes[0]?.polygon).toEqual([110, 110, 190, 110, 150, 170]);
  });

  it('closes when a click lands near the first point, and keeps points inside the box', () => {
    const state = run(
      start,
      { type: 'polygon-start', id: 1 },
      { type: 'polygon-point', x: 120, y: 120 },
      // Outside the box: moved to its edge.
      { type: 'polygon-point', x: 260, y: 90 },
      { type: 'polygon-point', x: 150, y: 175 },
      // 4 px from the first point: closes (no fourth point).
      { type: 'polygon-point', x: 123, y: 117 },
    );
    expect(state.polygonDraft).toBeNull();
    expect(state.boxes[0]?.polygon).toEqual([120, 120, 200, 100, 150, 175]);
  });

  it('refuses an outline with no area and takes points back', () => {
    const line = run(
      start,
      { type: 'polygon-start', id: 1 },
      { type: 'polygon-point', x: 110, y: 110 },
      { type: 'polygon-point', x: 150, y: 140 },
      { type: 'polygon-point', x: 190, y: 170 },
    );
    expect(polygonProblem(line.polygonDraft?.points ?? [])).toBe('the outline encloses no area');
    expect(run(line, { type: 'polygon-close' }).boxes[0]?.polygon).toBeUndefined();
    const back = run(line, { type: 'polygon-undo-point' });
    expect(back.polygonDraft?.points).toEqual([110, 110, 150, 140]);
    expect(run(back, { type: 'polygon-cancel' }).polygonDraft).toBeNull();
    expect(polygonProblem([1, 1, 2, 2])).toBe('an outline needs at least 3 points (it has 2)');
  });

  it('stops at 64 points', () => {
    // A point at the bottom, then 70 in a zigzag along the top of box 1 (never near the first).
    let state = run(
      start,
      { type: 'polygon-start', id: 1 },
      { type: 'polygon-point', x: 150, y: 178 },
    );
    for (let index = 0; index < 70; index++) {
      state = run(state, {
        type: 'polygon-point',
        x: 102 + index * 1.4,
        y: index % 2 === 0 ? 102 : 140,
      });
    }
    expect(state.polygonDraft?.points).toHaveLength(MAX_POLYGON_POINTS * 2);
    expect(run(state, { type: 'polygon-close' }).boxes[0]?.polygon).toHaveLength(128);
  });

  it('drags a point (inside the box), removes one, and deletes the outline', () => {
    const closed = outlined();
    const dragged = run(closed, { type: 'move-vertex', id: 1, index: 2, x: 170, y: 400 });
    expect(dragged.boxes[0]?.polygon).toEqual([110, 110, 190, 110, 170, 180]);
    expect(dragged.past).toHaveLength(2);
    // A triangle keeps its three points.
    expect(run(dragged, { type: 'delete-vertex', id: 1, index: 0 })).toBe(dragged);
    const square = run(
      dragged,
      { type: 'polygon-start', id: 1 },
      { type: 'polygon-point', x: 110, y: 110 },
      { type: 'polygon-point', x: 190, y: 110 },
      { type: 'polygon-point', x: 190, y: 170 },
      { type: 'polygon-point', x: 110, y: 170 },
      { type: 'polygon-close' },
    );
    expect(polygonArea(square.boxes[0]?.polygon ?? [])).toBe(80 * 60);
    const fewer = run(square, { type: 'delete-vertex', id: 1, index: 3 });
    expect(fewer.boxes[0]?.polygon).toEqual([110, 110, 190, 110, 190, 170]);
    const gone = run(fewer, { type: 'delete-polygon', id: 1 });
    expect(gone.boxes[0]).not.toHaveProperty('polygon');
    expect(run(gone, { type: 'undo' }).boxes[0]?.polygon).toEqual([110, 110, 190, 110, 190, 170]);
  });

  it('carries the outline along when its box moves or is resized', () => {
    const closed = outlined();
    const moved = run(closed, { type: 'nudge', id: 1, dx: 10, dy: -5 });
    expect(moved.boxes[0]?.box).toEqual({ x1: 110, y1: 95, x2: 210, y2: 175 });
    expect(moved.boxes[0]?.polygon).toEqual([120, 105, 200, 105, 160, 165]);
    // Twice as wide: x distances from the left edge double.
    const wider = run(closed, {
      type: 'set-box',
      id: 1,
      box: { x1: 100, y1: 100, x2: 300, y2: 180 },
    });
    expect(wider.boxes[0]?.polygon).toEqual([120, 110, 280, 110, 200, 170]);
    expect(
      remapPolygon(
        [100, 100, 200, 180],
        { x1: 100, y1: 100, x2: 200, y2: 180 },
        {
          x1: 0,
          y1: 0,
          x2: 50,
          y2: 40,
        },
      ),
    ).toEqual([0, 0, 50, 40]);
  });

  it('sets and clears the crop class, and sends both in a request the API takes', () => {
    const classed = run(outlined(), { type: 'set-crop-class', id: 1, cropClass: 'major' });
    expect(classed.boxes[0]?.cropClass).toBe('major');
    expect(run(classed, { type: 'set-crop-class', id: 1, cropClass: 'major' })).toBe(classed);
    const boxes = labelBoxes(classed);
    expect(boxes).toEqual([
      {
        className: 'crack',
        box: { x1: 100, y1: 100, x2: 200, y2: 180 },
        polygon: [110, 110, 190, 110, 150, 170],
        cropClass: 'major',
      },
      { className: 'dent', box: { x1: 300, y1: 300, x2: 400, y2: 360 } },
    ]);
    expect(labelRequestSchema.safeParse({ boxes }).success).toBe(true);
    const cleared = run(classed, { type: 'set-crop-class', id: 1, cropClass: null });
    expect(cleared.boxes[0]).not.toHaveProperty('cropClass');
  });

  it('drops the outline being drawn when its box goes', () => {
    const drafting = run(start, { type: 'polygon-start', id: 2 });
    expect(run(drafting, { type: 'delete', id: 2 }).polygonDraft).toBeNull();
    expect(run(drafting, { type: 'delete', id: 1 }).polygonDraft).toEqual({ id: 2, points: [] });
  });

  it('pre-fills model boxes from stage outputs, not as an undo step, never over an edit', () => {
    const filled = run(start, {
      type: 'prefill-stages',
      stages: [
        // Overshoots box 1 at (205,150): clipped to x 200.
        { polygon: [105, 105, 205, 150, 120, 175], cropClass: 'minor' },
        null,
      ],
    });
    expect(filled.boxes[0]?.polygon).toEqual([105, 105, 200, 150, 120, 175]);
    expect(filled.boxes[0]?.cropClass).toBe('minor');
    expect(filled.boxes[1]).not.toHaveProperty('cropClass');
    expect(filled.past).toHaveLength(0);
    expect(filled.boxes[0]?.origin).toBe('model');
    const mine = run(start, { type: 'set-crop-class', id: 1, cropClass: 'critical' });
    const after = run(mine, { type: 'prefill-stages', stages: [{ cropClass: 'minor' }] });
    expect(after.boxes[0]?.cropClass).toBe('critical');
  });
});

describe('mask outline keys', () => {
  it('maps P, Enter, Backspace, Shift+P and C', () => {
    expect(commandFor(key('p'), false)).toEqual({ type: 'polygon' });
    expect(commandFor(key('P', { shiftKey: true }), false)).toEqual({ type: 'delete-polygon' });
    expect(commandFor(key('c'), false)).toEqual({ type: 'crop-class-step', step: 1 });
    expect(commandFor(key('C', { shiftKey: true }), false)).toEqual({
      type: 'crop-class-step',
      step: -1,
    });
    // While outlining, Enter and P close, Backspace takes the last point back.
    expect(commandFor(key('Enter'), false, true)).toEqual({ type: 'polygon-close' });
    expect(commandFor(key('p'), false, true)).toEqual({ type: 'polygon-close' });
    expect(commandFor(key('Backspace'), false, true)).toEqual({ type: 'polygon-undo-point' });
    expect(commandFor(key('Escape'), false, true)).toEqual({ type: 'escape' });
    expect(commandFor(key('z', { ctrlKey: true }), false, true)).toEqual({ type: 'undo' });
    const listed = SHORTCUTS.flatMap((row) => row.keys);
    for (const name of ['P', 'Shift+P', 'C', 'Shift+C']) expect(listed).toContain(name);
  });
});

describe('crop classes and stage outputs for the labeling page', () => {
  const model = (
    version: string,
    task: ModelSummary['task'],
    classNames: string[],
    createdAt = 1,
  ) => ({ version, task, classNames, createdAt }) as ModelSummary;

  it('offers the classes of the classify-production model, else the newest classifier', () => {
    const list = {
      models: [
        model('det-1', 'detect', ['crack', 'dent']),
        model('cls-old', 'classify', ['a', 'b'], 1),
        model('cls-2', 'classify', ['not_defect', 'minor', 'major', 'critical'], 2),
        model('cls-3', 'classify', ['x', 'y'], 3),
      ],
      total: 4,
      aliases: [{ alias: 'classify-production', version: 'cls-2' }],
    } as ModelListResponse;
    expect(cropClassesOf(list)).toEqual(['not_defect', 'minor', 'major', 'critical']);
    expect(cropClassesOf({ ...list, aliases: [] })).toEqual(['x', 'y']);
    expect(cropClassesOf({ ...list, models: [list.models[0]!], aliases: [] })).toEqual([]);
  });

  it('scales the stage outlines from the result to the stored frame', () => {
    const stages = stagePreLabels(
      {
        width: 1280,
        height: 960,
        stages: {
          versions: { classify: 'cls-2', segment: 'seg-1' },
          detections: [
            {
              classification: { classId: 2, className: 'major', confidence: 0.9 },
              segmentation: { areaPx: 500, areaMm2: null, polygon: [200, 200, 300, 210, 250, 301] },
              vetoed: false,
            },
            { vetoed: false },
            { segmentation: { areaPx: 0, areaMm2: null, polygon: [] }, vetoed: false },
          ],
          totalAreaPx: 500,
          totalAreaMm2: null,
          maxSeverity: 2,
          timings: {},
        },
      },
      640,
      480,
    );
    expect(stages).toEqual([
      { polygon: [100, 100, 150, 105, 125, 150.5], cropClass: 'major' },
      null,
      null,
    ]);
    expect(stagePreLabels({ width: 640, height: 480, stages: undefined }, 640, 480)).toEqual([]);
  });

  it('finds the box a refusal names', () => {
    expect(
      refusedBoxIndex(
        'boxes[1].polygon: point 2 (260,120) lies outside its box (100,100 – 200,180) (VALIDATION_FAILED)',
      ),
    ).toBe(1);
    expect(refusedBoxIndex('the claim ran out (CONFLICT)')).toBeNull();
    expect(refusedBoxIndex(null)).toBeNull();
  });
});
