/**
 * The labeling queue page (`/labeling`): one item at a time, the model's boxes as pre-labels to
 * correct, keyboard first (shortcuts.ts; `?` lists them), the next item preloaded so it
 * appears at once (use-labeling-session.ts). Beside it: the item's facts (why it was sampled,
 * its score), the class picker, the boxes as a list (every box reachable without a mouse),
 * notes, and the actions; above it the queue's numbers, below it who labeled what recently.
 *
 * Each box may also get a mask outline (P, then click its points) and a crop class (a select
 * of the classify stage's classes, C to step); when the item's frame went through the
 * inspection chain, its stage outputs are the starting point (stage-labels.ts).
 *
 * Requests are checked with the API's own schemas before they are sent; what the server still
 * refuses (a lost claim, a box outside the frame, an outline outside its box) is shown as it
 * answers, next to the box it names.
 */
import type { CSSProperties } from 'react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { PageProps } from '../../app/paths';
import { useAuth, useCan } from '../../app/auth';
import { LABELERS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { Panel } from '../../components/Stat';
import {
  classesSettingsSchema,
  flagRequestSchema,
  labelRequestSchema,
} from '../../../../src/shared/api/labeling';
import type { LabelRequest } from '../../../../src/shared/api/labeling';
import { inspectionLogItemSchema } from '../../../../src/shared/api/inspection-logs';
import { modelListResponseSchema } from '../../../../src/shared/api/models';
import { api } from '../../lib/api';
import { formatDateTime, formatNumber } from '../../lib/time';
import { useQuery } from '../../lib/use-query';
import { Annotator, classColor } from './Annotator';
import type { EditBox } from './annotation';
import { defaultBoxAt, labelBoxes, polygonProblem } from './annotation';
import { cropClassesOf, refusedBoxIndex, stagePreLabels } from './stage-labels';
import type { Command } from './shortcuts';
import { SHORTCUTS, commandFor } from './shortcuts';
import type { SessionEntry } from './use-labeling-session';
import { frameIdOf, useLabelingSession } from './use-labeling-session';
import {
  LabelingTabs,
  QueueStatsPanel,
  RecentLabelsPanel,
  StatusBadge,
  reasonText,
  reviewerName,
  useQueueStats,
} from './QueuePanels';
import './labeling.css';

/** Actions that must not repeat while a key is held down. */
const NO_REPEAT = new Set<Command['type']>([
  'submit',
  'no-defects',
  'skip',
  'flag',
  'next',
  'previous',
  'draw',
  'place',
  'help',
  'polygon',
  'polygon-close',
  'delete-polygon',
]);

/** The frame's aspect ratio as a CSS variable (the layout sizes the frame by the window height). */
function aspectStyle(entry: SessionEntry | null): CSSProperties | undefined {
  if (entry === null) return undefined;
  const { width, height } = entry.annotation;
  return { '--labeling-aspect': String(width / height) } as CSSProperties;
}

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/**
 * The first message of each request field, from a zod error; a box's own problem also under
 * `boxes.<index>` (shown next to that box).
 */
function fieldErrors(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    const key = String(issue.path[0] ?? 'form');
    errors[key] ??= issue.message;
    if (key === 'boxes' && typeof issue.path[1] === 'number') {
      const field = issue.path.slice(2).map(String).join('.');
      errors[`boxes.${issue.path[1]}`] ??=
        field === '' ? issue.message : `${field}: ${issue.message}`;
    }
  }
  return errors;
}

export default function LabelingPage(_props: PageProps) {
  const canLabel = useCan(LABELERS);
  const stats = useQueueStats();
  return (
    <div className="labeling-page">
      <div className="labeling-title">
        <h1>Labeling</h1>
        <LabelingTabs current="label" />
        <QueueStatsPanel stats={stats} />
      </div>
      {canLabel ? (
        <Workspace onItem={stats.refresh} />
      ) : (
        <p className="notice">
          Your token may read the queue but not label: labeling needs a <strong>labeler</strong> or{' '}
          <strong>admin</strong> token.
        </p>
      )}
      <RecentLabelsPanel />
    </div>
  );
}

function Workspace({ onItem }: { onItem: () => void }) {
  const session = useLabelingSession(true);
  const { state: auth } = useAuth();
  const myId = auth.status === 'signed-in' ? auth.session.tokenId : null;
  const classesQuery = useQuery(
    (signal) => api.get('/api/settings/classes', classesSettingsSchema, { signal }),
    [],
  );
  const classes = useMemo(() => classesQuery.data?.classes ?? [], [classesQuery.data]);
  const modelsQuery = useQuery(
    (signal) => api.get('/api/models', modelListResponseSchema, { signal, query: { limit: 500 } }),
    [],
  );
  const cropClasses = useMemo(
    () => (modelsQuery.data === undefined ? [] : cropClassesOf(modelsQuery.data)),
    [modelsQuery.data],
  );
  const [activeClass, setActiveClass] = useState<string | null>(null);
  const chosenClass = activeClass ?? classes[0] ?? '';
  const [drawing, setDrawing] = useState(false);
  const [help, setHelp] = useState(false);
  const [flagging, setFlagging] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [hint, setHint] = useState<string | null>(null);
  const pointer = useRef<{ x: number; y: number } | null>(null);

  const entry = session.current;
  const readOnly = entry === null || entry.state !== 'open' || session.busy;
  const annotation = entry?.annotation;
  const selected = annotation?.boxes.find((box) => box.id === annotation.selected) ?? null;
  const outlining = !readOnly && (annotation?.polygonDraft ?? null) !== null;

  // A new item: a clean slate for the form.
  const itemId = entry?.item.id;
  useEffect(() => {
    setErrors({});
    setDrawing(false);
    setHint(null);
    // A claim publishes no event: refresh the numbers when an item is taken.
    onItem();
  }, [itemId, onItem]);

  // The frame's stage outputs (outlines, crop classes) as the start of its model boxes.
  const predictionId = entry?.item.predictionId ?? null;
  const itemWidth = entry?.annotation.width;
  const itemHeight = entry?.annotation.height;
  const { dispatchTo } = session;
  useEffect(() => {
    if (itemId === undefined || predictionId === null) return;
    if (itemWidth === undefined || itemHeight === undefined) return;
    const controller = new AbortController();
    api
      .get(`/api/inspection-logs/${encodeURIComponent(predictionId)}`, inspectionLogItemSchema, {
        signal: controller.signal,
      })
      .then(
        (result) => {
          const stages = stagePreLabels(result, itemWidth, itemHeight);
          if (stages.length > 0) dispatchTo(itemId, { type: 'prefill-stages', stages });
        },
        // Without the result the reviewer starts from the boxes alone.
        () => undefined,
      );
    return () => controller.abort();
  }, [dispatchTo, itemId, predictionId, itemWidth, itemHeight]);

  const submitLabel = useCallback(
    async (noDefects: boolean) => {
      if (entry === null || entry.state !== 'open') {
        setHint(
          entry === null ? 'Nothing to label.' : 'This item is closed: press F for the next one.',
        );
        return;
      }
      const boxes = labelBoxes(entry.annotation);
      if (noDefects && boxes.length > 0) {
        setErrors({
          boxes: `“No defects” goes with no boxes: delete the ${boxes.length} box(es) first.`,
        });
        return;
      }
      const notes = entry.notes.trim() === '' ? undefined : entry.notes;
      const request: LabelRequest = noDefects
        ? { boxes: [], noDefects: true, notes }
        : { boxes, notes };
      const parsed = labelRequestSchema.safeParse(request);
      if (!parsed.success) {
        const found = fieldErrors(parsed.error.issues);
        if (found.noDefects !== undefined && boxes.length === 0) {
          found.boxes = 'No boxes: draw one (R), or say “No defects” (N) if the frame is clean.';
          delete found.noDefects;
        }
        setErrors(found);
        return;
      }
      setErrors({});
      await session.label(parsed.data);
    },
    [entry, session],
  );

  const skip = useCallback(async () => {
    if (entry === null || entry.state !== 'open') return;
    const notes = entry.notes.trim() === '' ? undefined : entry.notes;
    await session.skip(notes === undefined ? {} : { notes });
  }, [entry, session]);

  const run = useCallback(
    (command: Command) => {
      const dispatch = session.dispatch;
      setHint(null);
      switch (command.type) {
        case 'help':
          setHelp((open) => !open);
          return;
        case 'submit':
          void submitLabel(false);
          return;
        case 'no-defects':
          void submitLabel(true);
          return;
        case 'skip':
          void skip();
          return;
        case 'next':
          void session.next();
          return;
        case 'previous':
          session.previous();
          return;
        case 'flag':
          if (!readOnly) setFlagging(true);
          return;
        case 'undo':
          dispatch({ type: 'undo' });
          return;
        case 'redo':
          dispatch({ type: 'redo' });
          return;
        case 'escape':
          if (annotation?.polygonDraft != null) dispatch({ type: 'polygon-cancel' });
          else if (drawing) setDrawing(false);
          else dispatch({ type: 'select', id: null });
          return;
        case 'polygon':
          if (readOnly) setHint('This item is closed: nothing to outline.');
          else if (selected === null)
            setHint('Select a box first (S), then press P to outline it.');
          else {
            setDrawing(false);
            dispatch({ type: 'polygon-start', id: selected.id });
            setHint(
              'Click the outline’s points inside the box; Enter or the first point closes it.',
            );
          }
          return;
        case 'polygon-close': {
          const draft = annotation?.polygonDraft;
          if (draft == null) return;
          const problem = polygonProblem(draft.points);
          if (problem !== null) setHint(`Not closed: ${problem}.`);
          else dispatch({ type: 'polygon-close' });
          return;
        }
        case 'polygon-undo-point':
          dispatch({ type: 'polygon-undo-point' });
          return;
        case 'delete-polygon':
          if (selected !== null) dispatch({ type: 'delete-polygon', id: selected.id });
          return;
        case 'crop-class-step': {
          if (selected === null || cropClasses.length === 0) return;
          const at =
            selected.cropClass === undefined ? -1 : cropClasses.indexOf(selected.cropClass);
          const next =
            at === -1
              ? command.step === 1
                ? 0
                : cropClasses.length - 1
              : (at + command.step + cropClasses.length) % cropClasses.length;
          const name = cropClasses[next];
          if (name !== undefined)
            dispatch({ type: 'set-crop-class', id: selected.id, cropClass: name });
          return;
        }
        case 'draw':
          if (readOnly) setHint('This item is closed: nothing to draw on.');
          else setDrawing((value) => !value);
          return;
        case 'place': {
          if (readOnly || annotation === undefined) return;
          const at = pointer.current ?? { x: annotation.width / 2, y: annotation.height / 2 };
          dispatch({
            type: 'add',
            box: defaultBoxAt(at.x, at.y, annotation.width, annotation.height),
            className: chosenClass,
          });
          setDrawing(false);
          return;
        }
        case 'class': {
          const name = classes[command.index];
          if (name === undefined) return;
          setActiveClass(name);
          if (selected !== null) dispatch({ type: 'set-class', id: selected.id, className: name });
          return;
        }
        case 'delete':
          if (selected !== null) dispatch({ type: 'delete', id: selected.id });
          return;
        case 'select-step':
          dispatch({ type: 'select-step', step: command.step });
          return;
        case 'nudge':
          if (selected !== null)
            dispatch({ type: 'nudge', id: selected.id, dx: command.dx, dy: command.dy });
          return;
        case 'grow':
          if (selected !== null)
            dispatch({ type: 'grow', id: selected.id, dw: command.dw, dh: command.dh });
          return;
      }
    },
    [
      annotation,
      chosenClass,
      classes,
      cropClasses,
      drawing,
      readOnly,
      selected,
      session,
      skip,
      submitLabel,
    ],
  );

  // The page's keyboard. Off while a dialog is open (the dialog has its own keys) and while
  // typing, except Ctrl+Enter (submit from the notes) and Esc (leave the field).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (flagging || event.defaultPrevented) return;
      const command = commandFor(event, drawing, outlining);
      if (command === null) return;
      if (help && command.type !== 'help' && command.type !== 'escape') return;
      if (help) {
        event.preventDefault();
        setHelp(false);
        return;
      }
      if (isTyping(event.target)) {
        if (command.type === 'escape') {
          (event.target as HTMLElement).blur();
          return;
        }
        if (command.type !== 'submit') return;
      }
      // Space on a focused button presses the button (Enter while drawing places a box).
      if (event.target instanceof HTMLButtonElement && event.key === ' ') return;
      if (event.repeat && NO_REPEAT.has(command.type)) {
        event.preventDefault();
        return;
      }
      if ((command.type === 'nudge' || command.type === 'grow') && selected === null) return;
      event.preventDefault();
      run(command);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [drawing, flagging, help, outlining, run, selected]);

  // Problems of single boxes: the form's own checks, and the server's refusal naming a box.
  const boxErrors: Record<number, string> = {};
  for (const [key, message] of Object.entries(errors)) {
    const found = /^boxes\.(\d+)$/.exec(key);
    if (found !== null) boxErrors[Number(found[1])] = message;
  }
  const refused = refusedBoxIndex(session.error);
  if (refused !== null && session.error !== null) boxErrors[refused] ??= session.error;

  if (session.phase === 'starting')
    return <p className="loading">Taking the next item from the queue…</p>;
  if (session.phase === 'error' && entry === null) {
    return <ErrorBanner error={new Error(session.error ?? 'failed')} what="the next item" />;
  }

  return (
    <div
      className="labeling-workspace"
      data-item-id={entry?.item.id ?? ''}
      data-preloaded={session.preloaded?.id ?? ''}
    >
      <section className="labeling-main" aria-label="Item" style={aspectStyle(entry)}>
        {entry === null ? (
          <div className="labeling-empty panel" role="status">
            <p>
              <strong>The queue is empty.</strong> New items appear here as the cameras sample them
              (checking every few seconds).
            </p>
            {session.entries.length > 0 && (
              <p className="muted">Press D to look at the items of this session.</p>
            )}
          </div>
        ) : (
          <>
            <Toolbar
              entry={entry}
              drawing={drawing}
              readOnly={readOnly}
              selected={selected}
              onDraw={() => run({ type: 'draw' })}
              onUndo={() => run({ type: 'undo' })}
              onRedo={() => run({ type: 'redo' })}
              onDelete={() => run({ type: 'delete' })}
              onOutline={() => run({ type: outlining ? 'polygon-close' : 'polygon' })}
              outlining={outlining}
              onHelp={() => setHelp(true)}
            />
            <Annotator
              frameId={frameIdOf(entry.item)}
              annotation={entry.annotation}
              dispatch={session.dispatch}
              classes={classes}
              activeClass={chosenClass}
              readOnly={readOnly}
              drawing={drawing}
              onDrawn={() => setDrawing(false)}
              pointer={pointer}
              alt={`Frame of ${entry.item.camera}${entry.item.capturedAt === null ? '' : ` at ${formatDateTime(entry.item.capturedAt)}`}, ${entry.annotation.boxes.length} boxes`}
            />
          </>
        )}
        <p className="labeling-status" role="status" aria-live="polite">
          {outlining
            ? `Outlining: click points inside the box (${(annotation?.polygonDraft?.points.length ?? 0) / 2} so far); Enter or the first point closes it, Backspace takes one back, Esc stops.`
            : (hint ?? session.message ?? '')}
          {session.preloaded !== null && (
            <span className="muted">
              {(hint ?? session.message) === null ? '' : ' · '}next item ready
            </span>
          )}
        </p>
      </section>
      <aside className="labeling-side" aria-label="Item details and actions">
        {session.error !== null && (
          <div className="error-banner" role="alert">
            <span aria-hidden="true">■ </span>
            <strong>Refused:</strong> {session.error}
            <button type="button" className="button-quiet" onClick={session.clearError}>
              Dismiss
            </button>
          </div>
        )}
        {entry !== null && (
          <>
            <div className="labeling-actions" role="group" aria-label="Actions">
              <button
                type="button"
                className="button-primary"
                disabled={readOnly}
                onClick={() => run({ type: 'submit' })}
              >
                Label <kbd>Ctrl+Enter</kbd>
              </button>
              <button type="button" disabled={readOnly} onClick={() => run({ type: 'no-defects' })}>
                No defects <kbd>N</kbd>
              </button>
              <button type="button" disabled={readOnly} onClick={() => run({ type: 'skip' })}>
                Skip <kbd>Ctrl+Space</kbd>
              </button>
              <button
                type="button"
                className="button-danger"
                disabled={readOnly}
                onClick={() => run({ type: 'flag' })}
              >
                Flag as mistake <kbd>X</kbd>
              </button>
            </div>
          </>
        )}
        <div className="labeling-nav" role="group" aria-label="Move between items">
          <button
            type="button"
            disabled={session.busy || session.index === 0}
            onClick={() => run({ type: 'previous' })}
          >
            ← Previous <kbd>D</kbd>
          </button>
          <button
            type="button"
            disabled={session.busy || entry === null}
            onClick={() => run({ type: 'next' })}
          >
            Next → <kbd>F</kbd>
          </button>
        </div>
        {entry !== null && (
          <>
            <ClassPicker
              classes={classes}
              active={chosenClass}
              disabled={readOnly}
              onPick={(index) => run({ type: 'class', index })}
            />
            <BoxList
              boxes={entry.annotation.boxes}
              selected={entry.annotation.selected}
              classes={classes}
              readOnly={readOnly}
              error={errors.boxes}
              boxErrors={boxErrors}
              cropClasses={cropClasses}
              onSelect={(id) => session.dispatch({ type: 'select', id })}
              onClass={(id, className) => session.dispatch({ type: 'set-class', id, className })}
              onCropClass={(id, cropClass) =>
                session.dispatch({ type: 'set-crop-class', id, cropClass })
              }
              onOutline={(id) => {
                setDrawing(false);
                session.dispatch({ type: 'polygon-start', id });
              }}
              onDeleteOutline={(id) => session.dispatch({ type: 'delete-polygon', id })}
              onDelete={(id) => session.dispatch({ type: 'delete', id })}
            />
            <Field label="Notes (optional)" error={errors.notes}>
              {(props) => (
                <textarea
                  {...props}
                  rows={2}
                  value={entry.notes}
                  disabled={readOnly}
                  onChange={(event) => session.setNotes(event.target.value)}
                />
              )}
            </Field>
          </>
        )}
        {entry !== null && (
          <ItemFacts
            entry={entry}
            myId={myId}
            position={session.index + 1}
            total={session.entries.length}
          />
        )}
      </aside>
      {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
      {flagging && entry !== null && (
        <FlagDialog
          onCancel={() => setFlagging(false)}
          onFlag={async (reason) => {
            const notes = entry.notes.trim() === '' ? undefined : entry.notes;
            const request = { reason, ...(notes === undefined ? {} : { notes }) };
            const parsed = flagRequestSchema.safeParse(request);
            if (!parsed.success) return fieldErrors(parsed.error.issues);
            setFlagging(false);
            await session.flag(parsed.data);
            return null;
          }}
        />
      )}
    </div>
  );
}

function Toolbar({
  entry,
  drawing,
  readOnly,
  selected,
  onDraw,
  onUndo,
  onRedo,
  onDelete,
  onOutline,
  outlining,
  onHelp,
}: {
  entry: SessionEntry;
  drawing: boolean;
  readOnly: boolean;
  selected: EditBox | null;
  onDraw: () => void;
  onUndo: () => void;
  onRedo: () => void;
  onDelete: () => void;
  onOutline: () => void;
  outlining: boolean;
  onHelp: () => void;
}) {
  return (
    <div className="labeling-toolbar" role="toolbar" aria-label="Box tools">
      <button type="button" aria-pressed={drawing} disabled={readOnly} onClick={onDraw}>
        {drawing ? '✚ Drawing… ' : 'Draw box '}
        <kbd>R</kbd>
      </button>
      <button
        type="button"
        disabled={readOnly || entry.annotation.past.length === 0}
        onClick={onUndo}
      >
        Undo <kbd>Ctrl+Z</kbd>
      </button>
      <button
        type="button"
        disabled={readOnly || entry.annotation.future.length === 0}
        onClick={onRedo}
      >
        Redo <kbd>Ctrl+Shift+Z</kbd>
      </button>
      <button type="button" disabled={readOnly || selected === null} onClick={onDelete}>
        Delete box <kbd>Del</kbd>
      </button>
      <button
        type="button"
        aria-pressed={outlining}
        disabled={readOnly || (selected === null && !outlining)}
        onClick={onOutline}
      >
        Outline mask <kbd>P</kbd>
      </button>
      <button type="button" className="button-quiet" onClick={onHelp} aria-haspopup="dialog">
        Shortcuts <kbd>?</kbd>
      </button>
      {drawing && (
        <span className="labeling-small">
          Drag on the frame, or press Enter to place a box; Esc to stop.
        </span>
      )}
    </div>
  );
}

function ItemFacts({
  entry,
  myId,
  position,
  total,
}: {
  entry: SessionEntry;
  myId: string | null;
  position: number;
  total: number;
}) {
  const { item } = entry;
  return (
    <Panel title={`Item ${position} of ${total} this session`} className="labeling-facts">
      <dl className="labeling-dl">
        <dt>Item</dt>
        <dd className="labeling-mono">{item.id}</dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={item.status} />
          {entry.state === 'lost' && (
            <span className="labeling-small"> (claimed by another reviewer)</span>
          )}
          {entry.state === 'done' && item.labeledBy?.id === myId && (
            <span className="labeling-small"> by you {formatDateTime(item.labeledAt)}</span>
          )}
        </dd>
        <dt>Why sampled</dt>
        <dd>
          <span data-reason={item.reason}>{reasonText(item.reason)}</span>{' '}
          <span className="muted">(score {formatNumber(item.priority, 3)})</span>
        </dd>
        <dt>Ranked by</dt>
        <dd data-strategy={item.strategy ?? 'none'}>
          {item.strategy === null
            ? '—'
            : `${strategyText(item.strategy)} (${formatNumber(item.strategyScore ?? 0, 3)})`}
        </dd>
        <dt>Camera</dt>
        <dd>
          {item.camera}
          {item.capturedAt !== null && (
            <span className="muted"> · {formatDateTime(item.capturedAt)}</span>
          )}
        </dd>
        <dt>Model</dt>
        <dd>
          {item.modelVersion ?? '—'} · {item.preLabels.length} pre-label
          {item.preLabels.length === 1 ? '' : 's'}
        </dd>
        {item.claim !== null && (
          <>
            <dt>Claim</dt>
            <dd>
              {reviewerName(item.claim.reviewer)} until {formatDateTime(item.claim.expiresAt)}
            </dd>
          </>
        )}
      </dl>
    </Panel>
  );
}

function ClassPicker({
  classes,
  active,
  disabled,
  onPick,
}: {
  classes: readonly string[];
  active: string;
  disabled: boolean;
  onPick: (index: number) => void;
}) {
  return (
    <fieldset className="labeling-classes" disabled={disabled}>
      <legend>Class (new box and selected box)</legend>
      {classes.map((name, index) => (
        <button
          key={name}
          type="button"
          aria-pressed={name === active}
          onClick={() => onPick(index)}
          style={{ borderColor: classColor(classes, name) }}
        >
          {index < 9 && <kbd>{index + 1}</kbd>} {name}
        </button>
      ))}
    </fieldset>
  );
}

function BoxList({
  boxes,
  selected,
  classes,
  readOnly,
  error,
  boxErrors,
  cropClasses,
  onSelect,
  onClass,
  onCropClass,
  onOutline,
  onDeleteOutline,
  onDelete,
}: {
  boxes: readonly EditBox[];
  selected: number | null;
  classes: readonly string[];
  readOnly: boolean;
  error: string | undefined;
  /** A problem of one box, by its position in the list. */
  boxErrors: Record<number, string>;
  /** The crop classes to pick from (the classify stage's); none: no crop class select. */
  cropClasses: readonly string[];
  onSelect: (id: number) => void;
  onClass: (id: number, className: string) => void;
  onCropClass: (id: number, cropClass: string | null) => void;
  onOutline: (id: number) => void;
  onDeleteOutline: (id: number) => void;
  onDelete: (id: number) => void;
}) {
  return (
    <div className="labeling-boxes">
      <h2 id="labeling-boxes-title">Boxes ({boxes.length})</h2>
      {error !== undefined && (
        <p className="field-error" role="alert">
          <span aria-hidden="true">■ </span>
          {error}
        </p>
      )}
      {boxes.length === 0 ? (
        <p className="muted labeling-small">No boxes. Draw one (R), or submit “No defects” (N).</p>
      ) : (
        <ul aria-labelledby="labeling-boxes-title">
          {boxes.map((box, index) => (
            <li key={box.id} className={box.id === selected ? 'is-selected' : undefined}>
              <button
                type="button"
                className="button-quiet"
                aria-pressed={box.id === selected}
                aria-label={`Select box ${index + 1}: ${box.className}`}
                onClick={() => onSelect(box.id)}
              >
                <span aria-hidden="true" style={{ color: classColor(classes, box.className) }}>
                  {box.origin === 'model' ? '▭' : '■'}
                </span>{' '}
                {index + 1}
              </button>
              <select
                aria-label={`Class of box ${index + 1}`}
                value={box.className}
                disabled={readOnly}
                onChange={(event) => onClass(box.id, event.target.value)}
              >
                {classes.includes(box.className) ? null : (
                  <option value={box.className}>{box.className}</option>
                )}
                {classes.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
              <span className="labeling-small labeling-mono">
                {box.box.x1},{box.box.y1} → {box.box.x2},{box.box.y2}
              </span>
              <span className="labeling-small muted">
                {box.origin === 'model'
                  ? `model ${formatNumber(box.confidence, 2)}`
                  : box.origin === 'edited'
                    ? 'model, corrected'
                    : 'drawn'}
              </span>
              {!readOnly && (
                <button
                  type="button"
                  className="button-quiet"
                  aria-label={`Delete box ${index + 1}`}
                  onClick={() => onDelete(box.id)}
                >
                  ✕
                </button>
              )}
              <div className="labeling-box-stages">
                {(cropClasses.length > 0 || box.cropClass !== undefined) && (
                  <select
                    aria-label={`Box ${index + 1} crop class`}
                    value={box.cropClass ?? ''}
                    disabled={readOnly}
                    onChange={(event) =>
                      onCropClass(box.id, event.target.value === '' ? null : event.target.value)
                    }
                  >
                    <option value="">crop class: none</option>
                    {box.cropClass !== undefined && !cropClasses.includes(box.cropClass) && (
                      <option value={box.cropClass}>{box.cropClass}</option>
                    )}
                    {cropClasses.map((name) => (
                      <option key={name} value={name}>
                        {name}
                      </option>
                    ))}
                  </select>
                )}
                <span
                  className="labeling-small"
                  data-outline-points={(box.polygon?.length ?? 0) / 2}
                >
                  {box.polygon === undefined
                    ? 'no outline'
                    : `outline ${box.polygon.length / 2} points`}
                </span>
                {!readOnly && (
                  <button
                    type="button"
                    className="button-quiet"
                    aria-label={`${box.polygon === undefined ? 'Outline' : 'Redraw the outline of'} box ${index + 1}`}
                    onClick={() => onOutline(box.id)}
                  >
                    {box.polygon === undefined ? 'Outline' : 'Redraw'}
                  </button>
                )}
                {!readOnly && box.polygon !== undefined && (
                  <button
                    type="button"
                    className="button-quiet"
                    aria-label={`Delete the outline of box ${index + 1}`}
                    onClick={() => onDeleteOutline(box.id)}
                  >
                    ✕ outline
                  </button>
                )}
              </div>
              {boxErrors[index] !== undefined && (
                <p className="field-error labeling-box-error" role="alert">
                  <span aria-hidden="true">■ </span>
                  {boxErrors[index]}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A native modal dialog (focus stays inside, Esc closes). */
function useModal(onClose: () => void) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
    const onCancel = (event: Event) => {
      event.preventDefault();
      onClose();
    };
    dialog?.addEventListener('cancel', onCancel);
    return () => dialog?.removeEventListener('cancel', onCancel);
  }, [onClose]);
  return ref;
}

function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const ref = useModal(onClose);
  return (
    <dialog ref={ref} className="labeling-dialog" aria-labelledby="labeling-shortcuts-title">
      <h2 id="labeling-shortcuts-title">Keyboard shortcuts</h2>
      <table className="table">
        <caption className="visually-hidden">Keys and what they do</caption>
        <thead>
          <tr>
            <th scope="col">Keys</th>
            <th scope="col">What</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map((row) => (
            <tr key={row.what}>
              <td>
                {row.keys.map((key, index) => (
                  <span key={key}>
                    {index > 0 && ' '}
                    {key === '…' ? '…' : <kbd>{key}</kbd>}
                  </span>
                ))}
              </td>
              <td>{row.what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={onClose} autoFocus>
        Close <kbd>Esc</kbd>
      </button>
    </dialog>
  );
}

function FlagDialog({
  onCancel,
  onFlag,
}: {
  onCancel: () => void;
  onFlag: (reason: string) => Promise<Record<string, string> | null>;
}) {
  const ref = useModal(onCancel);
  const [reason, setReason] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  return (
    <dialog ref={ref} className="labeling-dialog" aria-labelledby="labeling-flag-title">
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          void onFlag(reason).then((found) => setErrors(found ?? {}));
        }}
      >
        <h2 id="labeling-flag-title">Flag as a model mistake</h2>
        <Field
          label="What did the model get wrong?"
          hint="e.g. “glare called a scratch”, “missed a dent”"
          error={errors.reason ?? errors.notes}
        >
          {(props) => (
            <input
              {...props}
              autoFocus
              value={reason}
              onChange={(event) => setReason(event.target.value)}
            />
          )}
        </Field>
        <div className="labeling-actions">
          <button type="submit" className="button-danger">
            Flag as mistake
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A ranking strategy as reviewers read it (docs/sampling.md, "Ranking"). */
function strategyText(strategy: string): string {
  switch (strategy) {
    case 'uncertainty':
      return 'uncertain detections';
    case 'candidates':
      return 'half-seen (below the threshold)';
    case 'diversity':
      return 'unlike recent samples';
    case 'class_balance':
      return 'rare class';
    case 'random':
      return 'random';
    default:
      return strategy;
  }
}
