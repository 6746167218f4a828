/**
 * The box editor's model, without React or the DOM: the boxes of one item in FRAME pixels, the
 * selection, and undo/redo. Every edit goes through `annotationReducer`, so the editor, the
 * keyboard shortcuts and the unit tests (test/web/labeling-annotation.test.ts) share one set of
 * rules: boxes stay inside the frame, never get smaller than MIN_SIDE, and every change that
 * alters the boxes is one undo step. Selection changes are not undo steps.
 *
 * A box may carry a mask outline (`polygon`, flat frame pixels `[x0, y0, x1, y1, …]`, every
 * point inside its box, as the label API demands) and a crop class (`cropClass`). An outline is
 * drawn point by point into `polygonDraft` (not an undo step until it is closed); moving or
 * resizing a box carries its outline along, scaled to the new box.
 *
 * It must never import anything (it is compiled by both the web and the Node test build).
 */

export interface Rect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface EditBox {
  /** Stable within one item (for React keys and the selection). */
  id: number;
  className: string;
  box: Rect;
  /** `model`: a pre-label as the model drew it; `edited` once changed; `drawn` by the reviewer. */
  origin: 'model' | 'edited' | 'drawn';
  /** The model's confidence, for pre-labels. */
  confidence?: number;
  /** Index of the pre-label it started from (stage outputs are matched by it). */
  preLabel?: number;
  /** The defect's mask outline, flat frame pixels, 3..MAX_POLYGON_POINTS points inside `box`. */
  polygon?: readonly number[];
  /** The crop classifier's class for this box (e.g. a severity). */
  cropClass?: string;
}

/** An outline being drawn on one box: its points so far (flat), not yet a polygon. */
export interface PolygonDraft {
  id: number;
  points: readonly number[];
}

export interface AnnotationState {
  width: number;
  height: number;
  boxes: readonly EditBox[];
  selected: number | null;
  past: readonly (readonly EditBox[])[];
  future: readonly (readonly EditBox[])[];
  nextId: number;
  /** The outline being drawn, or null. */
  polygonDraft: PolygonDraft | null;
}

/** The smallest box side the editor makes, frame pixels (the API's minimum is 1). */
export const MIN_SIDE = 2;
/** Undo steps kept per item. */
export const MAX_UNDO = 200;
/** Fewest and most points of an outline (the label API's MIN/MAX_POLYGON_POINTS). */
export const MIN_POLYGON_POINTS = 3;
export const MAX_POLYGON_POINTS = 64;
/**
 * A click this close to the first point (frame pixels) closes the outline being drawn; on a
 * small box a fifth of its shorter side, so its points can still be close to each other.
 */
export const CLOSE_DISTANCE = 6;

export function closeDistance(rect: Rect): number {
  return Math.min(CLOSE_DISTANCE, Math.min(rect.x2 - rect.x1, rect.y2 - rect.y1) / 5);
}

export type Handle = 'nw' | 'n' | 'ne' | 'e' | 'se' | 's' | 'sw' | 'w';
export const HANDLES: readonly Handle[] = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

const round = (value: number): number => Math.round(value);

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** The rectangle spanned by two corner points, inside a `width`×`height` frame. */
export function rectFromPoints(
  ax: number,
  ay: number,
  bx: number,
  by: number,
  width: number,
  height: number,
): Rect {
  const x1 = round(clamp(Math.min(ax, bx), 0, width));
  const y1 = round(clamp(Math.min(ay, by), 0, height));
  const x2 = round(clamp(Math.max(ax, bx), 0, width));
  const y2 = round(clamp(Math.max(ay, by), 0, height));
  return { x1, y1, x2, y2 };
}

export function isBigEnough(rect: Rect): boolean {
  return rect.x2 - rect.x1 >= MIN_SIDE && rect.y2 - rect.y1 >= MIN_SIDE;
}

/** `rect` moved by (dx, dy), keeping its size, stopped at the frame's edges. */
export function moveRect(rect: Rect, dx: number, dy: number, width: number, height: number): Rect {
  const w = rect.x2 - rect.x1;
  const h = rect.y2 - rect.y1;
  const x1 = round(clamp(rect.x1 + dx, 0, Math.max(0, width - w)));
  const y1 = round(clamp(rect.y1 + dy, 0, Math.max(0, height - h)));
  return { x1, y1, x2: x1 + w, y2: y1 + h };
}

/**
 * `rect` with the edges of `handle` moved to the point (x, y), inside the frame, never smaller
 * than MIN_SIDE (an edge dragged past the opposite one stops MIN_SIDE short of it).
 */
export function resizeRect(
  rect: Rect,
  handle: Handle,
  x: number,
  y: number,
  width: number,
  height: number,
): Rect {
  let { x1, y1, x2, y2 } = rect;
  if (handle.includes('w')) x1 = clamp(x, 0, x2 - MIN_SIDE);
  if (handle.includes('e')) x2 = clamp(x, x1 + MIN_SIDE, width);
  if (handle.includes('n')) y1 = clamp(y, 0, y2 - MIN_SIDE);
  if (handle.includes('s')) y2 = clamp(y, y1 + MIN_SIDE, height);
  return { x1: round(x1), y1: round(y1), x2: round(x2), y2: round(y2) };
}

/** Grows (or with negative values shrinks) the right and bottom edges by (dw, dh). */
export function growRect(rect: Rect, dw: number, dh: number, width: number, height: number): Rect {
  return resizeRect(rect, 'se', rect.x2 + dw, rect.y2 + dh, width, height);
}

/** Where a handle sits on `rect`. */
export function handlePoint(rect: Rect, handle: Handle): { x: number; y: number } {
  const cx = (rect.x1 + rect.x2) / 2;
  const cy = (rect.y1 + rect.y2) / 2;
  const x = handle.includes('w') ? rect.x1 : handle.includes('e') ? rect.x2 : cx;
  const y = handle.includes('n') ? rect.y1 : handle.includes('s') ? rect.y2 : cy;
  return { x, y };
}

/** A new box's default size when placed from the keyboard: a sixth of the frame's sides. */
export function defaultBoxAt(cx: number, cy: number, width: number, height: number): Rect {
  const w = Math.max(MIN_SIDE, Math.round(width / 6));
  const h = Math.max(MIN_SIDE, Math.round(height / 6));
  return moveRect({ x1: 0, y1: 0, x2: w, y2: h }, cx - w / 2, cy - h / 2, width, height);
}

export interface PreLabel {
  className: string;
  confidence: number;
  box: Rect;
}

/** What the later stages said about one pre-label: its outline and crop class, if any. */
export interface StagePreLabel {
  polygon?: readonly number[];
  cropClass?: string;
}

/** The area an outline encloses (shoelace formula), square frame pixels. */
export function polygonArea(points: readonly number[]): number {
  let twice = 0;
  const count = Math.floor(points.length / 2);
  for (let index = 0; index < count; index++) {
    const next = (index + 1) % count;
    const x0 = points[index * 2] ?? 0;
    const y0 = points[index * 2 + 1] ?? 0;
    const x1 = points[next * 2] ?? 0;
    const y1 = points[next * 2 + 1] ?? 0;
    twice += x0 * y1 - x1 * y0;
  }
  return Math.abs(twice) / 2;
}

/** The point (x, y) moved inside `rect`, rounded to 0.1 px. */
export function clampToRect(x: number, y: number, rect: Rect): [number, number] {
  const tenth = (value: number) => Math.round(value * 10) / 10;
  return [tenth(clamp(x, rect.x1, rect.x2)), tenth(clamp(y, rect.y1, rect.y2))];
}

/** Every point of an outline moved inside `rect`. */
export function clampPolygon(points: readonly number[], rect: Rect): number[] {
  const out: number[] = [];
  for (let index = 0; index + 1 < points.length; index += 2) {
    out.push(...clampToRect(points[index] ?? 0, points[index + 1] ?? 0, rect));
  }
  return out;
}

/** An outline drawn in `from` carried to `to`: each point keeps its relative place in the box. */
export function remapPolygon(points: readonly number[], from: Rect, to: Rect): number[] {
  const sx = from.x2 === from.x1 ? 1 : (to.x2 - to.x1) / (from.x2 - from.x1);
  const sy = from.y2 === from.y1 ? 1 : (to.y2 - to.y1) / (from.y2 - from.y1);
  const moved: number[] = [];
  for (let index = 0; index + 1 < points.length; index += 2) {
    moved.push(
      to.x1 + ((points[index] ?? 0) - from.x1) * sx,
      to.y1 + ((points[index + 1] ?? 0) - from.y1) * sy,
    );
  }
  return clampPolygon(moved, to);
}

/**
 * Why an outline cannot be a mask (too few or too many points, no area), or null when it can.
 * The server checks the same (docs/labeling.md, "Mask outlines and crop classes").
 */
export function polygonProblem(points: readonly number[]): string | null {
  const count = Math.floor(points.length / 2);
  if (count < MIN_POLYGON_POINTS) {
    return `an outline needs at least ${MIN_POLYGON_POINTS} points (it has ${count})`;
  }
  if (count > MAX_POLYGON_POINTS) return `an outline has at most ${MAX_POLYGON_POINTS} points`;
  if (polygonArea(points) <= 0) return 'the outline encloses no area';
  return null;
}

/** The editor's start for an item: the model's boxes (clipped to the frame), nothing selected. */
export function initialAnnotation(
  width: number,
  height: number,
  preLabels: readonly PreLabel[],
): AnnotationState {
  const boxes: EditBox[] = [];
  for (const label of preLabels) {
    const box = rectFromPoints(
      label.box.x1,
      label.box.y1,
      label.box.x2,
      label.box.y2,
      width,
      height,
    );
    if (!isBigEnough(box)) continue;
    boxes.push({
      id: boxes.length + 1,
      className: label.className,
      box,
      origin: 'model',
      confidence: label.confidence,
      preLabel: preLabels.indexOf(label),
    });
  }
  return {
    width,
    height,
    boxes,
    selected: null,
    past: [],
    future: [],
    nextId: boxes.length + 1,
    polygonDraft: null,
  };
}

export type AnnotationAction =
  | { type: 'add'; box: Rect; className: string }
  | { type: 'set-box'; id: number; box: Rect }
  | { type: 'set-class'; id: number; className: string }
  | { type: 'delete'; id: number }
  | { type: 'delete-all' }
  | { type: 'select'; id: number | null }
  | { type: 'select-step'; step: 1 | -1 }
  | { type: 'nudge'; id: number; dx: number; dy: number }
  | { type: 'grow'; id: number; dw: number; dh: number }
  | { type: 'undo' }
  | { type: 'redo' }
  /** Starts drawing an outline on a box (selects it; drops any outline being drawn). */
  | { type: 'polygon-start'; id: number }
  /** Adds a point to the outline being drawn (inside its box); near the first point: closes. */
  | { type: 'polygon-point'; x: number; y: number }
  /** Removes the last point of the outline being drawn. */
  | { type: 'polygon-undo-point' }
  /** Makes the outline being drawn the box's polygon (one undo step), if it is a valid one. */
  | { type: 'polygon-close' }
  | { type: 'polygon-cancel' }
  | { type: 'move-vertex'; id: number; index: number; x: number; y: number }
  | { type: 'delete-vertex'; id: number; index: number }
  | { type: 'delete-polygon'; id: number }
  | { type: 'set-crop-class'; id: number; cropClass: string | null }
  /**
   * The later stages' outputs for the pre-labels (by pre-label index): the start of the boxes
   * the reviewer has not given an outline or crop class yet. Not an undo step.
   */
  | { type: 'prefill-stages'; stages: readonly (StagePreLabel | null | undefined)[] };

/** The boxes changed: one undo step, the redo list dropped. */
function commit(state: AnnotationState, boxes: readonly EditBox[]): AnnotationState {
  const past = [...state.past, state.boxes];
  return {
    ...state,
    boxes,
    past: past.length > MAX_UNDO ? past.slice(past.length - MAX_UNDO) : past,
    future: [],
  };
}

function replaceBox(
  state: AnnotationState,
  id: number,
  change: (box: EditBox) => EditBox,
): AnnotationState {
  const index = state.boxes.findIndex((box) => box.id === id);
  const current = state.boxes[index];
  if (current === undefined) return state;
  let next = change(current);
  const moved =
    next.box.x1 !== current.box.x1 ||
    next.box.y1 !== current.box.y1 ||
    next.box.x2 !== current.box.x2 ||
    next.box.y2 !== current.box.y2;
  if (
    !moved &&
    next.className === current.className &&
    next.cropClass === current.cropClass &&
    samePoints(next.polygon, current.polygon)
  ) {
    return state;
  }
  // The outline goes where its box goes.
  if (moved && next.polygon !== undefined && next.polygon === current.polygon) {
    next = { ...next, polygon: remapPolygon(next.polygon, current.box, next.box) };
  }
  const boxes = state.boxes.slice();
  boxes[index] = { ...next, origin: current.origin === 'drawn' ? 'drawn' : 'edited' };
  return commit(state, boxes);
}

function samePoints(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  return a.every((value, index) => value === b[index]);
}

/** `box` without its outline (an optional field is absent, not undefined). */
function withoutPolygon(box: EditBox): EditBox {
  const { polygon: _polygon, ...rest } = box;
  return rest;
}

function withoutCropClass(box: EditBox): EditBox {
  const { cropClass: _cropClass, ...rest } = box;
  return rest;
}

/** The outline being drawn, closed into its box's polygon; unchanged when it is not valid. */
function closeDraft(state: AnnotationState): AnnotationState {
  const draft = state.polygonDraft;
  if (draft === null || polygonProblem(draft.points) !== null) return state;
  const closed = replaceBox(state, draft.id, (current) => ({
    ...current,
    polygon: [...draft.points],
  }));
  return { ...closed, polygonDraft: null };
}

/** A selection that still names a box, else null. */
function keepSelection(selected: number | null, boxes: readonly EditBox[]): number | null {
  return selected !== null && boxes.some((box) => box.id === selected) ? selected : null;
}

/** An outline being drawn whose box still exists, else null. */
function keepDraft(draft: PolygonDraft | null, boxes: readonly EditBox[]): PolygonDraft | null {
  return draft !== null && boxes.some((box) => box.id === draft.id) ? draft : null;
}

export function annotationReducer(
  state: AnnotationState,
  action: AnnotationAction,
): AnnotationState {
  const { width, height } = state;
  switch (action.type) {
    case 'add': {
      const box = rectFromPoints(
        action.box.x1,
        action.box.y1,
        action.box.x2,
        action.box.y2,
        width,
        height,
      );
      if (!isBigEnough(box)) return state;
      const id = state.nextId;
      const added = commit(state, [
        ...state.boxes,
        { id, className: action.className, box, origin: 'drawn' },
      ]);
      return { ...added, selected: id, nextId: id + 1 };
    }
    case 'set-box': {
      const box = rectFromPoints(
        action.box.x1,
        action.box.y1,
        action.box.x2,
        action.box.y2,
        width,
        height,
      );
      if (!isBigEnough(box)) return state;
      return replaceBox(state, action.id, (current) => ({ ...current, box }));
    }
    case 'set-class':
      return replaceBox(state, action.id, (current) => ({
        ...current,
        className: action.className,
      }));
    case 'nudge':
      return replaceBox(state, action.id, (current) => ({
        ...current,
        box: moveRect(current.box, action.dx, action.dy, width, height),
      }));
    case 'grow':
      return replaceBox(state, action.id, (current) => ({
        ...current,
        box: growRect(current.box, action.dw, action.dh, width, height),
      }));
    case 'delete': {
      if (!state.boxes.some((box) => box.id === action.id)) return state;
      const boxes = state.boxes.filter((box) => box.id !== action.id);
      return {
        ...commit(state, boxes),
        selected: keepSelection(state.selected, boxes),
        polygonDraft: state.polygonDraft?.id === action.id ? null : state.polygonDraft,
      };
    }
    case 'delete-all':
      return state.boxes.length === 0
        ? state
        : { ...commit(state, []), selected: null, polygonDraft: null };
    case 'polygon-start':
      if (!state.boxes.some((box) => box.id === action.id)) return state;
      return { ...state, selected: action.id, polygonDraft: { id: action.id, points: [] } };
    case 'polygon-point': {
      const draft = state.polygonDraft;
      const box = state.boxes.find((candidate) => candidate.id === draft?.id);
      if (draft === null || box === undefined) return state;
      const [x, y] = clampToRect(action.x, action.y, box.box);
      const count = draft.points.length / 2;
      const [fx, fy] = [draft.points[0] ?? 0, draft.points[1] ?? 0];
      if (count >= MIN_POLYGON_POINTS && Math.hypot(x - fx, y - fy) <= closeDistance(box.box)) {
        return closeDraft(state);
      }
      if (count >= MAX_POLYGON_POINTS) return state;
      const [lx, ly] = [draft.points.at(-2), draft.points.at(-1)];
      if (lx === x && ly === y) return state;
      return { ...state, polygonDraft: { ...draft, points: [...draft.points, x, y] } };
    }
    case 'polygon-undo-point': {
      const draft = state.polygonDraft;
      if (draft === null || draft.points.length === 0) return state;
      return { ...state, polygonDraft: { ...draft, points: draft.points.slice(0, -2) } };
    }
    case 'polygon-close':
      return closeDraft(state);
    case 'polygon-cancel':
      return state.polygonDraft === null ? state : { ...state, polygonDraft: null };
    case 'move-vertex':
      return replaceBox(state, action.id, (current) => {
        const polygon = current.polygon;
        if (polygon === undefined || action.index * 2 + 1 >= polygon.length) return current;
        const moved = polygon.slice();
        const [x, y] = clampToRect(action.x, action.y, current.box);
        moved[action.index * 2] = x;
        moved[action.index * 2 + 1] = y;
        return polygonProblem(moved) === null ? { ...current, polygon: moved } : current;
      });
    case 'delete-vertex':
      return replaceBox(state, action.id, (current) => {
        const polygon = current.polygon;
        if (polygon === undefined || action.index * 2 + 1 >= polygon.length) return current;
        const fewer = [
          ...polygon.slice(0, action.index * 2),
          ...polygon.slice(action.index * 2 + 2),
        ];
        return polygonProblem(fewer) === null ? { ...current, polygon: fewer } : current;
      });
    case 'delete-polygon':
      return replaceBox(state, action.id, withoutPolygon);
    case 'set-crop-class':
      return replaceBox(state, action.id, (current) =>
        action.cropClass === null
          ? withoutCropClass(current)
          : { ...current, cropClass: action.cropClass },
      );
    case 'prefill-stages': {
      let changed = false;
      const boxes = state.boxes.map((box) => {
        if (box.origin !== 'model' || box.preLabel === undefined) return box;
        const stage = action.stages[box.preLabel];
        if (stage === null || stage === undefined) return box;
        let next = box;
        if (box.polygon === undefined && stage.polygon !== undefined) {
          const polygon = clampPolygon(stage.polygon, box.box);
          if (polygonProblem(polygon) === null) next = { ...next, polygon };
        }
        if (box.cropClass === undefined && stage.cropClass !== undefined) {
          next = { ...next, cropClass: stage.cropClass };
        }
        if (next !== box) changed = true;
        return next;
      });
      return changed ? { ...state, boxes } : state;
    }
    case 'select':
      return { ...state, selected: keepSelection(action.id, state.boxes) };
    case 'select-step': {
      if (state.boxes.length === 0) return { ...state, selected: null };
      const index = state.boxes.findIndex((box) => box.id === state.selected);
      const count = state.boxes.length;
      const nextIndex =
        index === -1 ? (action.step === 1 ? 0 : count - 1) : (index + action.step + count) % count;
      return { ...state, selected: state.boxes[nextIndex]?.id ?? null };
    }
    case 'undo': {
      const previous = state.past.at(-1);
      if (previous === undefined) return state;
      return {
        ...state,
        boxes: previous,
        past: state.past.slice(0, -1),
        future: [state.boxes, ...state.future],
        selected: keepSelection(state.selected, previous),
        polygonDraft: keepDraft(state.polygonDraft, previous),
      };
    }
    case 'redo': {
      const [next, ...rest] = state.future;
      if (next === undefined) return state;
      return {
        ...state,
        boxes: next,
        past: [...state.past, state.boxes],
        future: rest,
        selected: keepSelection(state.selected, next),
        polygonDraft: keepDraft(state.polygonDraft, next),
      };
    }
  }
}

/** One box as the label request sends it. */
export interface LabelBoxOut {
  className: string;
  box: Rect;
  polygon?: number[];
  cropClass?: string;
}

/** The boxes as the label request sends them (outline and crop class when they have them). */
export function labelBoxes(state: AnnotationState): LabelBoxOut[] {
  return state.boxes.map((box) => ({
    className: box.className,
    box: { ...box.box },
    ...(box.polygon === undefined ? {} : { polygon: [...box.polygon] }),
    ...(box.cropClass === undefined ? {} : { cropClass: box.cropClass }),
  }));
}
