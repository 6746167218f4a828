/**
 * The box editor's model, without React or the DOM: the boxes of one item in FRAME pixels, the
 * selection, and undo/redo. Every edit goes through `annotationReducer`, so the editor, the
 * keyboard shortcuts and the unit tests (test/web/labeling-annotation.test.ts) share one set of
 * rules: boxes stay inside the frame, never get smaller than MIN_SIDE, and every change that
 * alters the boxes is one undo step. Selection changes are not undo steps.
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
}

export interface AnnotationState {
  width: number;
  height: number;
  boxes: readonly EditBox[];
  selected: number | null;
  past: readonly (readonly EditBox[])[];
  future: readonly (readonly EditBox[])[];
  nextId: number;
}

/** The smallest box side the editor makes, frame pixels (the API's minimum is 1). */
export const MIN_SIDE = 2;
/** Undo steps kept per item. */
export const MAX_UNDO = 200;

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
    });
  }
  return { width, height, boxes, selected: null, past: [], future: [], nextId: boxes.length + 1 };
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
  | { type: 'redo' };

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
  const next = change(current);
  if (
    next.className === current.className &&
    next.box.x1 === current.box.x1 &&
    next.box.y1 === current.box.y1 &&
    next.box.x2 === current.box.x2 &&
    next.box.y2 === current.box.y2
  ) {
    return state;
  }
  const boxes = state.boxes.slice();
  boxes[index] = { ...next, origin: current.origin === 'drawn' ? 'drawn' : 'edited' };
  return commit(state, boxes);
}

/** A selection that still names a box, else null. */
function keepSelection(selected: number | null, boxes: readonly EditBox[]): number | null {
  return selected !== null && boxes.some((box) => box.id === selected) ? selected : null;
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
      return { ...commit(state, boxes), selected: keepSelection(state.selected, boxes) };
    }
    case 'delete-all':
      return state.boxes.length === 0 ? state : { ...commit(state, []), selected: null };
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
      };
    }
  }
}

/** The boxes as the label request sends them. */
export function labelBoxes(state: AnnotationState): { className: string; box: Rect }[] {
  return state.boxes.map((box) => ({ className: box.className, box: { ...box.box } }));
}
