/**
 * What the labeling page's model tests share: `run` applies editor actions in order through
 * annotationReducer, and `key` is a key press with no modifier unless given. Test-only.
 */
import { annotationReducer } from '../../web/src/pages/labeling/annotation.js';
import type { AnnotationAction, AnnotationState } from '../../web/src/pages/labeling/annotation.js';
import type { KeyLike } from '../../web/src/pages/labeling/shortcuts.js';

/** `state` after `actions`, one after the other. */
export function run(state: AnnotationState, ...actions: AnnotationAction[]): AnnotationState {
  return actions.reduce(annotationReducer, state);
}

/** The key `value` pressed with `mods` (no Ctrl, Meta, Shift or Alt by default). */
export const key = (value: string, mods: Partial<KeyLike> = {}): KeyLike => ({
  key: value,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  altKey: false,
  ...mods,
});
