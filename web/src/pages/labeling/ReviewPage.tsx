/**
 * The review view (`/labeling/review`): labels waiting for a second reviewer, approved or
 * rejected one by one or as a selection (`POST /api/labeling-queue/review`), keyboard first.
 * The rule that a labeler may not approve their own label is the server's: own labels are
 * marked, and a refusal is shown item by item as the server answers it.
 */
import type { CSSProperties } from 'react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { PageProps } from '../../app/paths';
import { useAuth, useCan } from '../../app/auth';
import { LABELERS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import type { FrameBox, FramePolygon } from '../../components/FrameWithBoxes';
import { FrameWithBoxes } from '../../components/FrameWithBoxes';
import { Pagination } from '../../components/Pagination';
import { Panel } from '../../components/Stat';
import type {
  BulkReviewRequest,
  BulkReviewResponse,
  LabelingItem,
} from '../../../../src/shared/api/labeling';
import {
  bulkReviewRequestSchema,
  bulkReviewResponseSchema,
  classesSettingsSchema,
  queueListResponseSchema,
} from '../../../../src/shared/api/labeling';
import { api } from '../../lib/api';
import { formatDateTime, formatNumber, formatRelative } from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import { classColor } from './Annotator';
import {
  LabelingTabs,
  QueueStatsPanel,
  reasonText,
  reviewerName,
  useQueueStats,
} from './QueuePanels';
import { frameIdOf } from './use-labeling-session';
import './labeling.css';

const PAGE_SIZE = 50;

const REVIEW_KEYS: readonly [string, string][] = [
  ['↑ ↓ / K J', 'previous / next label'],
  ['Space', 'select or unselect'],
  ['Ctrl+A', 'select all on this page'],
  ['A', 'approve (the selection, else the current label)'],
  ['R', 'reject'],
  ['Shift+R', 'reject and send back to the queue'],
  ['Esc', 'clear the selection'],
];

function isTyping(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))
  );
}

export default function ReviewPage(_props: PageProps) {
  const stats = useQueueStats();
  const canReview = useCan(LABELERS);
  const { state: auth, scope } = useAuth();
  const myId = auth.status === 'signed-in' ? auth.session.tokenId : null;
  const [offset, setOffset] = useState(0);
  const list = useQuery(
    (signal) =>
      api.get('/api/labeling-queue', queueListResponseSchema, {
        signal,
        query: { status: 'labeled', limit: PAGE_SIZE, offset },
      }),
    [offset],
    { refreshMs: 10_000 },
  );
  useEvents(['labeling'], () => list.refresh());
  const classesQuery = useQuery(
    (signal) => api.get('/api/settings/classes', classesSettingsSchema, { signal }),
    [],
  );
  const classes = useMemo(() => classesQuery.data?.classes ?? [], [classesQuery.data]);
  const items = useMemo(() => list.data?.items ?? [], [list.data]);
  const total = list.data?.total ?? 0;

  const [focusId, setFocusId] = useState<string | null>(null);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [notes, setNotes] = useState('');
  const [notesError, setNotesError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ response: BulkReviewResponse; at: number } | null>(null);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [showModel, setShowModel] = useState(false);
  const rowsRef = useRef<HTMLUListElement>(null);

  // Keep the focus on an item that is still listed (an approved one leaves the list).
  const focusIndex = Math.max(
    0,
    items.findIndex((item) => item.id === focusId),
  );
  const focused: LabelingItem | undefined = items[focusIndex];
  useEffect(() => {
    if (focused !== undefined && focused.id !== focusId) setFocusId(focused.id);
  }, [focused, focusId]);
  useEffect(() => {
    const listed = new Set(items.map((item) => item.id));
    setSelection((previous) => {
      const kept = [...previous].filter((id) => listed.has(id));
      return kept.length === previous.size ? previous : new Set(kept);
    });
  }, [items]);

  const moveFocus = useCallback(
    (step: number) => {
      if (items.length === 0) return;
      const next = items[Math.min(items.length - 1, Math.max(0, focusIndex + step))];
      if (next === undefined) return;
      setFocusId(next.id);
      rowsRef.current
        ?.querySelector(`[data-id="${CSS.escape(next.id)}"]`)
        ?.scrollIntoView({ block: 'nearest' });
    },
    [focusIndex, items],
  );

  const toggle = useCallback((id: string) => {
    setSelection((previous) => {
      const next = new Set(previous);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }, []);

  const review = useCallback(
    async (action: 'approve' | 'reject', requeue = false) => {
      if (!canReview || busy) return;
      const ids =
        selection.size > 0
          ? items.filter((item) => selection.has(item.id)).map((item) => item.id)
          : focused === undefined
            ? []
            : [focused.id];
      if (ids.length === 0) return;
      const request: BulkReviewRequest = {
        action,
        ids,
        ...(notes.trim() === '' ? {} : { notes }),
        ...(action === 'reject' && requeue ? { requeue: true } : {}),
      };
      const parsed = bulkReviewRequestSchema.safeParse(request);
      if (!parsed.success) {
        const notesIssue = parsed.error.issues.find((issue) => issue.path[0] === 'notes');
        setNotesError(notesIssue?.message);
        if (notesIssue === undefined)
          setFailure(new Error(parsed.error.issues[0]?.message ?? 'invalid'));
        return;
      }
      setNotesError(undefined);
      setBusy(true);
      setFailure(undefined);
      try {
        const response = await api.post(
          '/api/labeling-queue/review',
          parsed.data,
          bulkReviewResponseSchema,
        );
        setOutcome({ response, at: Date.now() });
        const done = new Set(
          response.results.filter((result) => result.ok).map((result) => result.id),
        );
        setSelection((previous) => new Set([...previous].filter((id) => !done.has(id))));
        if (done.size > 0) setNotes('');
        list.refresh();
        stats.refresh();
      } catch (error) {
        setFailure(error);
      } finally {
        setBusy(false);
      }
    },
    [busy, canReview, focused, items, list, notes, selection, stats],
  );

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.altKey || isTyping(event.target)) return;
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key;
      let handled = true;
      if (key === 'ArrowDown' || (!ctrl && key.toLowerCase() === 'j')) moveFocus(1);
      else if (key === 'ArrowUp' || (!ctrl && key.toLowerCase() === 'k')) moveFocus(-1);
      else if (key === 'Escape') setSelection(new Set());
      else if (ctrl && key.toLowerCase() === 'a')
        setSelection(new Set(items.map((item) => item.id)));
      else if (ctrl) handled = false;
      else if (key === ' ' && !(event.target instanceof HTMLButtonElement)) {
        if (focused !== undefined) toggle(focused.id);
      } else if (key.toLowerCase() === 'a' && canReview) void review('approve');
      else if (key.toLowerCase() === 'r' && canReview) void review('reject', event.shiftKey);
      else handled = false;
      if (handled) event.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [canReview, focused, items, moveFocus, review, toggle]);

  const previewBoxes: FrameBox[] = useMemo(() => {
    if (focused === undefined) return [];
    const labels: FrameBox[] = (focused.labels ?? []).map((label) => ({
      ...label.box,
      label:
        label.cropClass === undefined ? label.className : `${label.className} · ${label.cropClass}`,
      color: classColor(classes, label.className),
    }));
    const model: FrameBox[] = showModel
      ? focused.preLabels.map((detection) => ({
          ...detection.box,
          label: `model: ${detection.className} ${detection.confidence.toFixed(2)}`,
          tone: 'uncertain' as const,
        }))
      : [];
    return [...model, ...labels];
  }, [classes, focused, showModel]);

  // The labels' mask outlines, in their box's colour.
  const previewPolygons: FramePolygon[] = useMemo(
    () =>
      (focused?.labels ?? []).flatMap((label) =>
        label.polygon === undefined
          ? []
          : [{ points: label.polygon, color: classColor(classes, label.className) }],
      ),
    [classes, focused],
  );

  const isOwn = (item: LabelingItem) => item.labeledBy?.id === myId && scope !== 'admin';
  const target =
    selection.size > 0
      ? `${selection.size} selected`
      : focused === undefined
        ? 'nothing'
        : 'this label';

  return (
    <div className="labeling-page">
      <div className="labeling-title">
        <h1>Review labels</h1>
        <LabelingTabs current="review" />
        <QueueStatsPanel stats={stats} />
      </div>
      <ErrorBanner error={list.error} onRetry={list.refresh} what="labels to review" />
      <div className="labeling-review">
        <Panel title={`Waiting for review (${total})`} className="labeling-review-list">
          {!canReview && (
            <p className="notice">
              Your token may look at labels but not review them (a labeler or admin token can).
            </p>
          )}
          {items.length === 0 ? (
            <p className="muted">No labels wait for review.</p>
          ) : (
            <ul
              ref={rowsRef}
              className="labeling-review-rows"
              role="listbox"
              aria-label="Labels waiting for review"
              aria-multiselectable="true"
              aria-activedescendant={focused === undefined ? undefined : `review-${focused.id}`}
              tabIndex={0}
            >
              {items.map((item) => {
                const boxes = item.labels ?? [];
                return (
                  <li
                    key={item.id}
                    id={`review-${item.id}`}
                    data-id={item.id}
                    role="option"
                    aria-selected={selection.has(item.id)}
                    aria-current={item.id === focused?.id}
                    onClick={() => setFocusId(item.id)}
                  >
                    <input
                      type="checkbox"
                      aria-label={`Select ${item.id}`}
                      checked={selection.has(item.id)}
                      disabled={!canReview}
                      onChange={() => toggle(item.id)}
                      onClick={(event) => event.stopPropagation()}
                    />
                    <span>
                      <span className="labeling-mono">{item.id}</span>{' '}
                      <span className="muted labeling-small">
                        {boxes.length === 0
                          ? 'no defects'
                          : `${boxes.length} box${boxes.length === 1 ? '' : 'es'}`}
                      </span>
                      <br />
                      <span className="labeling-small">
                        by <strong>{reviewerName(item.labeledBy)}</strong>
                        {item.labeledAt !== null && <> {formatRelative(item.labeledAt)}</>}
                        {isOwn(item) && <span className="labeling-own"> · ▲ your label</span>}
                      </span>
                    </span>
                    <span className="labeling-small muted">{reasonText(item.reason)}</span>
                  </li>
                );
              })}
            </ul>
          )}
          <Pagination
            hasPrevious={offset > 0}
            hasNext={offset + PAGE_SIZE < total}
            onPrevious={() => setOffset(Math.max(0, offset - PAGE_SIZE))}
            onNext={() => setOffset(offset + PAGE_SIZE)}
            label={
              total === 0
                ? undefined
                : `Labels ${offset + 1}–${Math.min(total, offset + PAGE_SIZE)} of ${total}`
            }
          />
          {canReview && (
            <>
              <Field label="Review notes (optional)" error={notesError}>
                {(props) => (
                  <input
                    {...props}
                    value={notes}
                    onChange={(event) => setNotes(event.target.value)}
                  />
                )}
              </Field>
              <div className="labeling-review-actions" role="group" aria-label="Review actions">
                <button
                  type="button"
                  className="button-primary"
                  disabled={busy || items.length === 0}
                  onClick={() => void review('approve')}
                >
                  Approve {selection.size > 0 ? `${selection.size} selected` : ''} <kbd>A</kbd>
                </button>
                <button
                  type="button"
                  className="button-danger"
                  disabled={busy || items.length === 0}
                  onClick={() => void review('reject')}
                >
                  Reject {selection.size > 0 ? `${selection.size} selected` : ''} <kbd>R</kbd>
                </button>
                <button
                  type="button"
                  disabled={busy || items.length === 0}
                  onClick={() => void review('reject', true)}
                >
                  Reject and requeue <kbd>Shift+R</kbd>
                </button>
                <span className="labeling-small muted">Acts on {target}.</span>
              </div>
            </>
          )}
          <ErrorBanner error={failure} />
          {outcome !== null && <Outcome response={outcome.response} />}
          <details className="labeling-small">
            <summary>Keyboard</summary>
            <ul>
              {REVIEW_KEYS.map(([keys, what]) => (
                <li key={keys}>
                  <kbd>{keys}</kbd> {what}
                </li>
              ))}
            </ul>
          </details>
        </Panel>
        <Panel
          title={focused === undefined ? 'Label' : `Label ${focused.id}`}
          className="labeling-review-preview"
          actions={
            <label className="labeling-small">
              <input
                type="checkbox"
                checked={showModel}
                onChange={(event) => setShowModel(event.target.checked)}
              />{' '}
              show the model’s boxes
            </label>
          }
        >
          {focused === undefined ? (
            <p className="muted">Nothing selected.</p>
          ) : (
            <>
              <div
                className="labeling-review-frame"
                style={
                  {
                    '--labeling-aspect': String((focused.width ?? 640) / (focused.height ?? 480)),
                  } as CSSProperties
                }
              >
                <FrameWithBoxes
                  frameId={frameIdOf(focused)}
                  width={focused.width ?? 640}
                  height={focused.height ?? 480}
                  boxes={previewBoxes}
                  polygons={previewPolygons}
                  alt={`Frame of ${focused.id} with ${(focused.labels ?? []).length} labeled boxes`}
                />
              </div>
              <dl className="labeling-dl labeling-small">
                <dt>Labeled by</dt>
                <dd>
                  {reviewerName(focused.labeledBy)} · {formatDateTime(focused.labeledAt)}
                  {isOwn(focused) && (
                    <span className="labeling-own">
                      {' '}
                      · ▲ your label: another reviewer must approve it
                    </span>
                  )}
                </dd>
                <dt>Boxes</dt>
                <dd>
                  {(focused.labels ?? []).length === 0
                    ? 'none — “no defects”'
                    : (focused.labels ?? [])
                        .map(
                          (label) =>
                            label.className +
                            (label.cropClass === undefined ? '' : ` (${label.cropClass})`) +
                            (label.polygon === undefined
                              ? ''
                              : `, outline ${label.polygon.length / 2} points`),
                        )
                        .join('; ')}
                </dd>
                <dt>Why sampled</dt>
                <dd>
                  {reasonText(focused.reason)}{' '}
                  <span className="muted">(score {formatNumber(focused.priority, 3)})</span>
                </dd>
                <dt>Model</dt>
                <dd>
                  {focused.modelVersion ?? '—'}:{' '}
                  {focused.preLabels
                    .map((d) => `${d.className} ${d.confidence.toFixed(2)}`)
                    .join(', ') || 'no detections'}
                </dd>
                {focused.notes !== null && (
                  <>
                    <dt>Notes</dt>
                    <dd>{focused.notes}</dd>
                  </>
                )}
              </dl>
            </>
          )}
        </Panel>
      </div>
    </div>
  );
}

function Outcome({ response }: { response: BulkReviewResponse }) {
  const verb = response.action === 'approve' ? 'Approved' : 'Rejected';
  const refused = response.results.filter((result) => !result.ok);
  return (
    <div role="status" aria-live="polite" className="labeling-outcome">
      <p>
        <strong>
          {verb} {response.succeeded}
        </strong>
        {response.failed > 0 && <>, refused {response.failed}</>}.
      </p>
      {refused.length > 0 && (
        <ul className="labeling-results">
          {refused.map((result) =>
            result.ok ? null : (
              <li key={result.id} className="is-refused">
                <span aria-hidden="true">■ </span>
                <span className="labeling-mono">{result.id}</span>: {result.error.message} (
                {result.error.code})
              </li>
            ),
          )}
        </ul>
      )}
    </div>
  );
}
