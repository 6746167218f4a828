/**
 * Inspections: every stored frame result, newest first (with the rule that decided it, the
 * later stages' crop classes and area, and the shadow's agreement), with every filter of
 * `GET /api/inspection-logs` (kept in the URL) and keyset pages — the API hands out a cursor
 * per page, so nothing ever counts the whole table. A row opens the frame's detail.
 */
import type { FormEvent } from 'react';
import { useMemo, useState } from 'react';
import { inspectionLogsResponseSchema } from '../../../../src/shared/api/inspection-logs';
import type { InspectionLogItem } from '../../../../src/shared/api/inspection-logs';
import { SYNTH_CLASSES } from '../../../../src/shared/domain';
import { navigate, useSearchParams } from '../../app/router';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { Pagination } from '../../components/Pagination';
import { Panel } from '../../components/Stat';
import type { Column } from '../../components/Table';
import { Table } from '../../components/Table';
import { api } from '../../lib/api';
import { formatDateTime, formatNumber, browserTimeZone } from '../../lib/time';
import { useQuery } from '../../lib/use-query';
import { DecisionBadge, UncertainMark } from './DecisionBadge';
import type { FilterDraft, FilterErrors } from './filters';
import { EMPTY_DRAFT, FILTER_KEYS, checkDraft, draftFromParams, queryFromParams } from './filters';
import { decidedByText, stagesSummary } from './stages';
import './inspections.css';

function detectionSummary(item: InspectionLogItem): string {
  if (item.detections.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const d of item.detections) counts.set(d.className, (counts.get(d.className) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n > 1 ? `${n}× ${name}` : name)).join(', ');
}

const COLUMNS: readonly Column<InspectionLogItem>[] = [
  { key: 'time', header: 'Captured', render: (row) => formatDateTime(row.capturedAt) },
  { key: 'camera', header: 'Camera', render: (row) => row.camera },
  { key: 'frame', header: 'Frame', align: 'right', render: (row) => row.frameIndex },
  {
    key: 'decision',
    header: 'Decision',
    render: (row) => <DecisionBadge decision={row.decision} />,
  },
  {
    key: 'uncertain',
    header: 'Uncertain',
    render: (row) => (row.uncertain ? <UncertainMark /> : <span className="muted">no</span>),
  },
  {
    key: 'decidedBy',
    header: 'Decided by',
    render: (row) =>
      row.decidedBy === undefined ? <span className="muted">—</span> : decidedByText(row),
  },
  { key: 'detections', header: 'Detections', render: detectionSummary },
  { key: 'stages', header: 'Crop class · area', render: stagesSummary },
  {
    key: 'shadow',
    header: 'Shadow',
    render: (row) =>
      row.shadow === undefined ? (
        <span className="muted">—</span>
      ) : row.shadow.disagrees ? (
        <strong className="inspection-disagrees" title={row.shadow.version}>
          <span aria-hidden="true">▲ </span>disagrees ({row.shadow.disagreement.toFixed(2)})
        </strong>
      ) : (
        <span title={row.shadow.version}>agrees ({row.shadow.disagreement.toFixed(2)})</span>
      ),
  },
  { key: 'model', header: 'Model', render: (row) => row.modelVersion },
  {
    key: 'latency',
    header: 'Total ms',
    align: 'right',
    render: (row) => formatNumber(row.latencies.totalMs, 1),
  },
  {
    key: 'open',
    header: <span className="visually-hidden">Open</span>,
    render: (row) => (
      <a
        href={`/inspections/${encodeURIComponent(row.id)}`}
        onClick={(event) => {
          event.preventDefault();
          event.stopPropagation();
          navigate(`/inspections/${encodeURIComponent(row.id)}${window.location.search}`);
        }}
        aria-label={`Open ${row.camera} frame ${row.frameIndex}`}
      >
        Open
      </a>
    ),
  },
];

export default function InspectionsPage() {
  const [params, setParams] = useSearchParams();
  const query = queryFromParams(params);
  const queryKey = JSON.stringify(query);
  // cursors[i] is the cursor of page i (null: the first page); reset when the filters change.
  const [paging, setPaging] = useState<{ key: string; cursors: (string | null)[] }>({
    key: queryKey,
    cursors: [null],
  });
  const cursors = paging.key === queryKey ? paging.cursors : [null];
  const page = cursors.length - 1;
  const cursor = cursors[page] ?? null;

  const logs = useQuery(
    (signal) =>
      api.get('/api/inspection-logs', inspectionLogsResponseSchema, {
        signal,
        query: { ...query, cursor: cursor ?? undefined },
      }),
    [queryKey, cursor],
  );

  const limit = Number(query.limit ?? 50);
  const rowsLabel =
    logs.data === undefined
      ? undefined
      : logs.data.items.length === 0
        ? `Page ${page + 1}: no results`
        : `Results ${page * limit + 1}–${page * limit + logs.data.items.length}`;

  return (
    <div className="inspections">
      <h1>Inspections</h1>
      <FilterForm
        key={params.toString()}
        initial={draftFromParams(params)}
        onApply={(values) => setParams(values)}
        onClear={() => setParams(Object.fromEntries(FILTER_KEYS.map((key) => [key, null])))}
      />
      <Panel
        title="Results"
        actions={
          <button type="button" className="button-quiet" onClick={logs.refresh}>
            Refresh
          </button>
        }
      >
        <ErrorBanner error={logs.error} onRetry={logs.refresh} what="inspection results" />
        {logs.data === undefined && logs.loading ? (
          <p className="loading">Loading results…</p>
        ) : (
          <Table
            caption={`Frame results, newest first (times in ${browserTimeZone()})`}
            columns={COLUMNS}
            rows={logs.data?.items ?? []}
            rowKey={(row) => row.id}
            empty="No result matches these filters."
            onRowActivate={(row) =>
              navigate(`/inspections/${encodeURIComponent(row.id)}${window.location.search}`)
            }
          />
        )}
        <Pagination
          hasPrevious={page > 0}
          hasNext={logs.data?.nextCursor != null}
          onPrevious={() => setPaging({ key: queryKey, cursors: cursors.slice(0, -1) })}
          onNext={() => {
            const next = logs.data?.nextCursor;
            if (next != null) setPaging({ key: queryKey, cursors: [...cursors, next] });
          }}
          label={rowsLabel}
        />
      </Panel>
    </div>
  );
}

function FilterForm({
  initial,
  onApply,
  onClear,
}: {
  initial: FilterDraft;
  onApply: (values: Record<string, string | undefined>) => void;
  onClear: () => void;
}) {
  const [draft, setDraft] = useState<FilterDraft>(initial);
  const [errors, setErrors] = useState<FilterErrors>({});
  const set = <K extends keyof FilterDraft>(key: K, value: FilterDraft[K]) =>
    setDraft((current) => ({ ...current, [key]: value }));
  const classOptions = useMemo(() => [...SYNTH_CLASSES], []);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const checked = checkDraft(draft);
    if (!checked.ok) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    onApply(checked.query);
  };

  return (
    <form className="panel inspections-filters" aria-label="Filters" onSubmit={submit} noValidate>
      <Field label="From" error={errors.from}>
        {(props) => (
          <input
            {...props}
            type="datetime-local"
            value={draft.from}
            onChange={(e) => set('from', e.target.value)}
          />
        )}
      </Field>
      <Field label="To" error={errors.to}>
        {(props) => (
          <input
            {...props}
            type="datetime-local"
            value={draft.to}
            onChange={(e) => set('to', e.target.value)}
          />
        )}
      </Field>
      <Field label="Camera" error={errors.camera}>
        {(props) => (
          <input
            {...props}
            value={draft.camera}
            placeholder="any"
            onChange={(e) => set('camera', e.target.value)}
          />
        )}
      </Field>
      <Field label="Class" error={errors.class}>
        {(props) => (
          <>
            <input
              {...props}
              list="inspections-classes"
              value={draft.class}
              placeholder="any"
              onChange={(e) => set('class', e.target.value)}
            />
            <datalist id="inspections-classes">
              {classOptions.map((name) => (
                <option key={name} value={name} />
              ))}
            </datalist>
          </>
        )}
      </Field>
      <Field label="Decision" error={errors.decision}>
        {(props) => (
          <select
            {...props}
            value={draft.decision}
            onChange={(e) => set('decision', e.target.value as FilterDraft['decision'])}
          >
            <option value="">any</option>
            <option value="FAIL">FAIL</option>
            <option value="PASS">PASS</option>
          </select>
        )}
      </Field>
      <Field label="Uncertain" error={errors.uncertain}>
        {(props) => (
          <select
            {...props}
            value={draft.uncertain}
            onChange={(e) => set('uncertain', e.target.value as FilterDraft['uncertain'])}
          >
            <option value="">any</option>
            <option value="true">uncertain only</option>
            <option value="false">certain only</option>
          </select>
        )}
      </Field>
      <Field label="Model version" error={errors.modelVersion}>
        {(props) => (
          <input
            {...props}
            value={draft.modelVersion}
            placeholder="any"
            onChange={(e) => set('modelVersion', e.target.value)}
          />
        )}
      </Field>
      <Field label="Per page" error={errors.limit}>
        {(props) => (
          <input
            {...props}
            type="number"
            min={1}
            max={500}
            value={draft.limit}
            onChange={(e) => set('limit', e.target.value)}
          />
        )}
      </Field>
      <div className="inspections-filter-actions">
        <button type="submit" className="button-primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft(EMPTY_DRAFT);
            setErrors({});
            onClear();
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}
