/**
 * The labeling page's keyboard: one table that both the key handler (`commandFor`) and the `?`
 * overlay read, so what the overlay lists is what the keys do. Conventions of Label Studio and
 * CVAT: R draw, 1–9 class, Del/Backspace delete, Ctrl+Z / Ctrl+Shift+Z undo/redo, Esc
 * deselect, arrows nudge, Ctrl+Enter submit, Ctrl+Space skip, F/D next/previous. Mask
 * outlines: P starts one on the selected box (click points on the frame), Enter or P closes it,
 * Backspace takes the last point back, Esc drops it; Shift+P deletes the box's outline; C /
 * Shift+C step the selected box's crop class.
 *
 * Import-free (the Node test build compiles it too).
 */

export type Command =
  | { type: 'draw' }
  | { type: 'place' }
  | { type: 'class'; index: number }
  | { type: 'delete' }
  | { type: 'undo' }
  | { type: 'redo' }
  | { type: 'escape' }
  | { type: 'nudge'; dx: number; dy: number }
  | { type: 'grow'; dw: number; dh: number }
  | { type: 'select-step'; step: 1 | -1 }
  | { type: 'submit' }
  | { type: 'no-defects' }
  | { type: 'skip' }
  | { type: 'flag' }
  | { type: 'next' }
  | { type: 'previous' }
  | { type: 'help' }
  | { type: 'polygon' }
  | { type: 'polygon-close' }
  | { type: 'polygon-undo-point' }
  | { type: 'delete-polygon' }
  | { type: 'crop-class-step'; step: 1 | -1 };

/** Arrow step, frame pixels; with Shift. */
export const NUDGE_STEP = 1;
export const NUDGE_STEP_BIG = 10;

/** The overlay's rows, in the order shown. */
export const SHORTCUTS: readonly { keys: readonly string[]; what: string }[] = [
  { keys: ['R'], what: 'Draw a box: drag on the frame (R again or Esc leaves drawing)' },
  { keys: ['Enter'], what: 'While drawing: place a box at the pointer (or the centre)' },
  { keys: ['1', '…', '9'], what: 'Class of the selected box (and of the next box drawn)' },
  { keys: ['S', 'Shift+S'], what: 'Select the next / previous box' },
  { keys: ['←', '↑', '→', '↓'], what: 'Move the selected box by 1 px (with Shift: 10 px)' },
  { keys: ['Ctrl+←↑→↓'], what: 'Resize the selected box (right and bottom edges)' },
  { keys: ['Del', 'Backspace'], what: 'Delete the selected box' },
  { keys: ['P'], what: 'Mask outline of the selected box: click its points on the frame' },
  {
    keys: ['Enter', 'P'],
    what: 'While outlining: close the outline (or click its first point)',
  },
  { keys: ['Backspace'], what: 'While outlining: take the last point back' },
  { keys: ['Shift+P'], what: 'Delete the selected box’s mask outline' },
  { keys: ['C', 'Shift+C'], what: 'Next / previous crop class of the selected box' },
  { keys: ['Esc'], what: 'Deselect, leave drawing, close this overlay' },
  { keys: ['Ctrl+Z'], what: 'Undo' },
  { keys: ['Ctrl+Shift+Z', 'Ctrl+Y'], what: 'Redo' },
  { keys: ['Ctrl+Enter'], what: 'Submit the boxes and go to the next item' },
  { keys: ['N'], what: 'No defects: submit the frame as clean (only with no boxes)' },
  { keys: ['Ctrl+Space'], what: 'Skip the item' },
  { keys: ['X'], what: 'Flag as a model mistake (asks for a reason)' },
  { keys: ['F'], what: 'Next item (this one stays yours while its claim lasts)' },
  { keys: ['D'], what: 'Previous item of this session' },
  { keys: ['?'], what: 'Show or hide this list' },
];

/** The key event fields the matcher reads (a KeyboardEvent has them all). */
export interface KeyLike {
  key: string;
  code?: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

const ARROWS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

/** The command a key press means on the labeling page, or null (let the browser have it). */
export function commandFor(event: KeyLike, drawing: boolean, outlining = false): Command | null {
  if (event.altKey) return null;
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key;
  if (outlining && !ctrl) {
    if (key === 'Enter' || key.toLowerCase() === 'p') return { type: 'polygon-close' };
    if (key === 'Backspace' || key === 'Delete') return { type: 'polygon-undo-point' };
  }
  const arrow = ARROWS[key];
  if (arrow !== undefined) {
    const step = event.shiftKey ? NUDGE_STEP_BIG : NUDGE_STEP;
    return ctrl
      ? { type: 'grow', dw: arrow[0] * step, dh: arrow[1] * step }
      : { type: 'nudge', dx: arrow[0] * step, dy: arrow[1] * step };
  }
  if (ctrl) {
    if (key === 'Enter') return { type: 'submit' };
    if (key === ' ' || event.code === 'Space') return { type: 'skip' };
    const lower = key.toLowerCase();
    if (lower === 'z') return event.shiftKey ? { type: 'redo' } : { type: 'undo' };
    if (lower === 'y') return { type: 'redo' };
    return null;
  }
  if (key === 'Delete' || key === 'Backspace') return { type: 'delete' };
  if (key === 'Escape') return { type: 'escape' };
  if (key === '?') return { type: 'help' };
  if (key === 'Enter') return drawing ? { type: 'place' } : null;
  if (/^[1-9]$/.test(key)) return { type: 'class', index: Number(key) - 1 };
  switch (key.toLowerCase()) {
    case 'r':
      return { type: 'draw' };
    case 's':
      return { type: 'select-step', step: event.shiftKey ? -1 : 1 };
    case 'n':
      return { type: 'no-defects' };
    case 'x':
      return { type: 'flag' };
    case 'p':
      return event.shiftKey ? { type: 'delete-polygon' } : { type: 'polygon' };
    case 'c':
      return { type: 'crop-class-step', step: event.shiftKey ? -1 : 1 };
    case 'f':
      return { type: 'next' };
    case 'd':
      return { type: 'previous' };
    default:
      return null;
  }
}
