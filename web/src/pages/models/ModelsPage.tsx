/**
 * Models: every registered version with its metrics side by side (mAP@0.5 per holdout and per
 * class, speed), the selected version's lineage (parent, dataset snapshot, training run), the
 * aliases with promote and roll back (each with a reason; admins only), and an alias's
 * history (canary steps with the cameras they applied to), each version's task (detect,
 * classify, segment), and the Rollouts panel (RolloutsPanel.tsx: shadow and canary rollouts).
 * `/models/:version` selects a version. A `model` or `rollout` event reloads.
 *
 * Promoting a version the promotion gate rejected answers 409 GATE_REJECTED; the form then
 * offers an explicit override (a checkbox plus the reason, kept in the alias history).
 */
import type { FormEvent } from 'react';
import { useMemo, useState } from 'react';
import {
  aliasHistoryResponseSchema,
  aliasMoveResponseSchema,
  modelDetailResponseSchema,
  modelListResponseSchema,
  promoteRequestSchema,
  rollbackRequestSchema,
} from '../../../../src/shared/api/models';
import type {
  AliasHistoryEntry,
  ModelAlias,
  ModelDetailResponse,
  ModelSummary,
} from '../../../../src/shared/api/models';
import { IfScope, useCan } from '../../app/auth';
import type { PageProps } from '../../app/paths';
import { Link, navigate } from '../../app/router';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { ReasonForm } from '../../components/ReasonForm';
import { Panel } from '../../components/Stat';
import { Table } from '../../components/Table';
import { ApiError, api, errorMessage } from '../../lib/api';
import { formatDateTime } from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import { SERVED_INFERENCE_PATH, flattenMetrics, metricRows } from './metrics';
import { inspectionLogsResponseSchema } from '../../../../src/shared/api/inspection-logs';
import { DEFAULT_STAGE_ALIASES } from '../../../../src/shared/api/inspection-chain';
import { RolloutsPanel } from './RolloutsPanel';
import './models.css';

const MAX_COMPARED = 6;

export default function ModelsPage({ params }: PageProps) {
  const list = useQuery((signal) => api.get('/api/models', modelListResponseSchema, { signal, query: { limit: 100 } }), []);
  useEvents(['model'], () => list.refresh());
  const models = useMemo(() => list.data?.models ?? [], [list.data]);
  const aliases = useMemo(() => list.data?.aliases ?? [], [list.data]);
  const production = aliases.find((a) => a.alias === 'production')?.version ?? null;
  const selected = params.version ?? production ?? models[0]?.version ?? null;

  // Compared versions: the user's ticks, else the selected one, production and the newest.
  const [ticked, setTicked] = useState<string[] | null>(null);
  const compared = useMemo(() => {
    if (ticked !== null) return ticked;
    const defaults = [selected, production, ...models.map((m) => m.version)].filter(
      (v): v is string => v !== null,
    );
    return [...new Set(defaults)].slice(0, 4);
  }, [ticked, selected, production, models]);

  return (
    <div className="models">
      <h1>Models</h1>
      <ErrorBanner error={list.error} onRetry={list.refresh} what="the model registry" />
      {list.data === undefined ? (
        list.loading && <p className="loading">Loading the registry…</p>
      ) : (
        <>
          <Panel title="Versions">
            <Table
              caption="Registered versions, newest first (tick up to 6 to compare)"
              captionHidden
              columns={[
                {
                  key: 'compare',
                  header: 'Compare',
                  render: (m: ModelSummary) => (
                    <input
                      type="checkbox"
                      aria-label={`Compare ${m.version}`}
                      checked={compared.includes(m.version)}
                      disabled={!compared.includes(m.version) && compared.length >= MAX_COMPARED}
                      onClick={(event) => event.stopPropagation()}
                      onChange={(event) => {
                        const next = event.target.checked
                          ? [...compared, m.version]
                          : compared.filter((v) => v !== m.version);
                        setTicked(next);
                      }}
                    />
                  ),
                },
                {
                  key: 'version',
                  header: 'Version',
                  render: (m) => (
                    <Link to={`/models/${encodeURIComponent(m.version)}`} aria-current={m.version === selected ? 'true' : undefined}>
                      {m.version}
                    </Link>
                  ),
                },
                {
                  key: 'aliases',
                  header: 'Aliases',
                  render: (m) =>
                    m.aliases.length === 0 ? (
                      <span className="muted">—</span>
                    ) : (
                      m.aliases.map((alias) => (
                        <span key={alias} className={`models-alias models-alias-${alias === 'production' ? 'production' : 'other'}`}>
                          {alias === 'production' ? '★ ' : ''}
                          {alias}
                        </span>
                      ))
                    ),
                },
                { key: 'task', header: 'Task', render: (m) => m.task },
                { key: 'source', header: 'Source', render: (m) => m.source },
                { key: 'parent', header: 'Parent', render: (m) => m.parentVersion ?? '—' },
                { key: 'created', header: 'Registered', render: (m) => formatDateTime(m.createdAt) },
              ]}
              rows={models}
              rowKey={(m) => m.version}
              rowSelected={(m) => m.version === selected}
              onRowActivate={(m) => navigate(`/models/${encodeURIComponent(m.version)}`)}
              empty="No model is registered yet."
            />
          </Panel>
          <MetricsComparison versions={compared} />
          <div className="models-columns">
            {selected !== null && (
              <VersionPanel version={selected} aliases={aliases} onMoved={list.refresh} />
            )}
            <AliasesPanel aliases={aliases} onMoved={list.refresh} />
          </div>
          <RolloutsPanel
            models={models}
            productionOf={(stage) =>
              aliases.find(
                (a) => a.alias === (stage === 'detect' ? 'production' : DEFAULT_STAGE_ALIASES[stage]),
              )?.version ?? null
            }
            onChanged={list.refresh}
          />
          <AliasHistoryPanel aliases={aliases} updatedAt={list.updatedAt} />
        </>
      )}
    </div>
  );
}

function useDetails(versions: readonly string[]) {
  return useQuery(
    (signal) =>
      Promise.all(
        versions.map((v) =>
          api.get(`/api/models/${encodeURIComponent(v)}`, modelDetailResponseSchema, { signal }),
        ),
      ),
    [versions.join('\n')],
  );
}

/** Frames a version's serving speed is measured over (its newest inferred results). */
const SPEED_SAMPLE = 200;

/**
 * Each version's inference time as the agents measured it: the median `inferenceMs` of its
 * newest inferred results (null when it served none). Read from the inspection logs, so it is
 * what the line saw, not a benchmark.
 */
function useServedSpeed(versions: readonly string[]) {
  return useQuery(
    (signal) =>
      Promise.all(
        versions.map(async (version) => {
          const page = await api.get('/api/inspection-logs', inspectionLogsResponseSchema, {
            signal,
            query: { modelVersion: version, limit: SPEED_SAMPLE },
          });
          const times = page.items
            .filter((item) => item.inferred)
            .map((item) => item.latencies.inferenceMs)
            .sort((a, b) => a - b);
          if (times.length === 0) return null;
          const middle = Math.floor(times.length / 2);
          return times.length % 2 === 1
            ? (times[middle] ?? null)
            : ((times[middle - 1] ?? 0) + (times[middle] ?? 0)) / 2;
        }),
      ),
    [versions.join('\n')],
    { refreshMs: 30_000 },
  );
}

function MetricsComparison({ versions }: { versions: readonly string[] }) {
  const details = useDetails(versions);
  const speeds = useServedSpeed(versions);
  const [everything, setEverything] = useState(false);
  const rows = useMemo(
    () =>
      metricRows(
        (details.data ?? []).map((d, index) => {
          const flat = flattenMetrics(d.model.metrics);
          const speed = speeds.data?.[index];
          if (speed !== null && speed !== undefined) flat.set(SERVED_INFERENCE_PATH, speed);
          return flat;
        }),
        !everything,
      ),
    [details.data, speeds.data, everything],
  );
  const shown = details.data ?? [];
  return (
    <Panel
      title="Metrics side by side"
      actions={
        <label className="models-toggle">
          <input type="checkbox" checked={everything} onChange={(e) => setEverything(e.target.checked)} /> Show every
          metric
        </label>
      }
    >
      <ErrorBanner error={details.error} onRetry={details.refresh} what="the metrics" />
      {shown.length === 0 ? (
        <p className="muted">{details.loading ? 'Loading metrics…' : 'Tick versions above to compare them.'}</p>
      ) : (
        <div className="models-scroll">
          <table className="table models-metrics">
            <caption className="visually-hidden">Metrics per version; ▲ marks the best of a row</caption>
            <thead>
              <tr>
                <th scope="col" style={{ textAlign: 'left' }}>
                  Metric
                </th>
                {shown.map((d) => (
                  <th key={d.model.version} scope="col" style={{ textAlign: 'right' }}>
                    {d.model.version}
                    {d.model.aliases.includes('production') && <span className="muted"> (production)</span>}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 ? (
                <tr>
                  <td colSpan={shown.length + 1} className="table-empty">
                    These versions carry no evaluation metrics.
                  </td>
                </tr>
              ) : (
                rows.map((row) => (
                  <tr key={row.path}>
                    <th scope="row" title={row.path}>
                      {row.label.label}
                    </th>
                    {row.values.map((value, index) => (
                      <td key={index} style={{ textAlign: 'right' }} className={row.best === index ? 'models-best' : undefined}>
                        {value === null ? '—' : formatMetric(value, row.label.higherIsBetter === true && value <= 1)}
                        {row.best === index && (
                          <span aria-label="best" title="best of the compared versions">
                            {' '}
                            ▲
                          </span>
                        )}
                      </td>
                    ))}
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

/** Scores (0..1) always with 3 decimals; counts as integers. */
function formatMetric(value: number, score: boolean): string {
  if (score) return value.toFixed(3);
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) < 10 ? value.toFixed(3) : value.toFixed(1);
}

function trainingRunOf(detail: ModelDetailResponse): string | null {
  const jobId = detail.model.trainerParams?.jobId;
  return typeof jobId === 'string' ? jobId : null;
}

function VersionPanel({ version, aliases, onMoved }: { version: string; aliases: readonly ModelAlias[]; onMoved: () => void }) {
  const detail = useQuery(
    (signal) => api.get(`/api/models/${encodeURIComponent(version)}`, modelDetailResponseSchema, { signal }),
    [version, aliases.map((a) => `${a.alias}=${a.version}`).join(',')],
  );
  const model = detail.data?.model;
  const run = detail.data === undefined ? null : trainingRunOf(detail.data);
  const params = model?.trainerParams ?? null;
  return (
    <Panel title={`Version ${version}`}>
      <ErrorBanner error={detail.error} onRetry={detail.refresh} what={`version ${version}`} />
      {model !== undefined && (
        <>
          <h3 className="models-subtitle">Lineage</h3>
          <dl className="models-lineage">
            <dt>Source</dt>
            <dd>{model.source}</dd>
            <dt>Parent</dt>
            <dd>
              {model.parentVersion === null ? (
                '— (no parent)'
              ) : (
                <Link to={`/models/${encodeURIComponent(model.parentVersion)}`}>{model.parentVersion}</Link>
              )}
            </dd>
            <dt>Dataset snapshot</dt>
            <dd>{model.datasetId === null ? '—' : <code title={model.datasetId}>{model.datasetId.slice(0, 16)}…</code>}</dd>
            <dt>Training run</dt>
            <dd>
              {run === null ? (
                '—'
              ) : (
                <>
                  <Link to="/retraining">job {run}</Link>
                  {typeof params?.trigger === 'string' && ` (${params.trigger})`}
                </>
              )}
            </dd>
            {params !== null && (
              <>
                <dt>Trainer</dt>
                <dd>
                  {['epochs', 'imgsz', 'batch', 'seed', 'warmStartFrom']
                    .filter((key) => params[key] !== undefined && params[key] !== null)
                    .map((key) => `${key} ${String(params[key])}`)
                    .join(', ') || '—'}
                </dd>
              </>
            )}
            <dt>Registered</dt>
            <dd>
              {formatDateTime(model.createdAt)}
              {model.createdBy !== null && ` by ${model.createdBy}`}
            </dd>
            <dt>Aliases</dt>
            <dd>{model.aliases.length === 0 ? '—' : model.aliases.join(', ')}</dd>
            <dt>Task</dt>
            <dd>{model.task}</dd>
            <dt>Classes</dt>
            <dd>{model.classNames.join(', ')}</dd>
            <dt>Input</dt>
            <dd>
              {model.imgsz ?? '?'} px, {model.layout} layout, {(model.bytes / 1e6).toFixed(1)} MB
            </dd>
            <dt>sha256</dt>
            <dd>
              <code title={model.sha256}>{model.sha256.slice(0, 12)}…</code>
            </dd>
            {model.notes !== null && (
              <>
                <dt>Notes</dt>
                <dd>{model.notes}</dd>
              </>
            )}
          </dl>
          <IfScope allowed={ADMINS}>
            <PromoteForm version={version} aliases={aliases} onMoved={onMoved} />
          </IfScope>
        </>
      )}
    </Panel>
  );
}

function PromoteForm({ version, aliases, onMoved }: { version: string; aliases: readonly ModelAlias[]; onMoved: () => void }) {
  const [alias, setAlias] = useState('production');
  const [reason, setReason] = useState('');
  const [force, setForce] = useState(false);
  const [needsOverride, setNeedsOverride] = useState<string | null>(null);
  const [errors, setErrors] = useState<{ alias?: string; reason?: string; force?: string }>({});
  const [requestError, setRequestError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    setRequestError(null);
    const body = { alias: alias.trim(), reason: reason.trim() === '' ? undefined : reason.trim(), ...(force ? { force: true } : {}) };
    const parsed = promoteRequestSchema.safeParse(body);
    const next: typeof errors = {};
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0];
        if (key === 'alias' || key === 'reason' || key === 'force') next[key] ??= issue.message;
      }
    }
    if (next.reason === undefined && body.reason === undefined) {
      next.reason = force ? 'Overriding the gate needs a reason.' : 'Say why (it is kept in the alias history).';
    }
    setErrors(next);
    if (!parsed.success || Object.keys(next).length > 0) return;
    setSending(true);
    api
      .post(`/api/models/${encodeURIComponent(version)}/promote`, parsed.data, aliasMoveResponseSchema)
      .then(
        (move) => {
          setDone(
            move.changed
              ? `${move.alias} now points at ${move.toVersion} (was ${move.fromVersion ?? 'unset'}).`
              : `${move.alias} already pointed at ${move.toVersion}.`,
          );
          setReason('');
          setForce(false);
          setNeedsOverride(null);
          onMoved();
        },
        (failure: unknown) => {
          if (failure instanceof ApiError && failure.code === 'GATE_REJECTED') {
            setNeedsOverride(failure.message);
            return;
          }
          setRequestError(errorMessage(failure));
        },
      )
      .finally(() => setSending(false));
  };

  return (
    <form className="models-form" onSubmit={submit} noValidate aria-label={`Promote ${version}`}>
      <h3 className="models-subtitle">Promote {version}</h3>
      <Field label="Alias" error={errors.alias} hint="production moves the agents and the server">
        {(props) => (
          <>
            <input {...props} list="models-alias-names" value={alias} onChange={(e) => setAlias(e.target.value)} />
            <datalist id="models-alias-names">
              {[...new Set(['production', 'staging', ...aliases.map((a) => a.alias)])].map((name) => (
                <option key={name} value={name} />
              ))}
            </datalist>
          </>
        )}
      </Field>
      <Field label="Reason" error={errors.reason}>
        {(props) => <textarea {...props} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      {needsOverride !== null && (
        <div className="notice" role="alert">
          <p>
            <strong>■ The promotion gate rejected this version.</strong> {needsOverride}
          </p>
          <label>
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> Override the gate
            and promote anyway (the reason is recorded)
          </label>
        </div>
      )}
      {requestError !== null && (
        <p className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {requestError}
        </p>
      )}
      {done !== null && (
        <p className="models-done" role="status">
          ● {done}
        </p>
      )}
      <button type="submit" className="button-primary" disabled={sending || (needsOverride !== null && !force)}>
        {force ? 'Override and promote' : 'Promote'}
      </button>
    </form>
  );
}

function AliasesPanel({ aliases, onMoved }: { aliases: readonly ModelAlias[]; onMoved: () => void }) {
  const isAdmin = useCan(ADMINS);
  const [rolling, setRolling] = useState<string | null>(null);
  return (
    <Panel title="Aliases">
      <Table
        caption="Aliases and where they point"
        captionHidden
        columns={[
          { key: 'alias', header: 'Alias', render: (a: ModelAlias) => <strong>{a.alias}</strong> },
          { key: 'version', header: 'Version', render: (a) => <Link to={`/models/${encodeURIComponent(a.version)}`}>{a.version}</Link> },
          {
            key: 'updated',
            header: 'Since',
            render: (a) => (
              <>
                {formatDateTime(a.updatedAt)}
                {a.updatedBy !== null && <span className="muted"> by {a.updatedBy}</span>}
              </>
            ),
          },
          ...(isAdmin
            ? [
                {
                  key: 'actions',
                  header: <span className="visually-hidden">Actions</span>,
                  render: (a: ModelAlias) => (
                    <button type="button" onClick={() => setRolling(a.alias)} aria-label={`Roll back ${a.alias}`}>
                      Roll back…
                    </button>
                  ),
                },
              ]
            : []),
        ]}
        rows={aliases}
        rowKey={(a) => a.alias}
        empty="No alias is set."
      />
      {rolling !== null && (
        <RollbackForm
          alias={rolling}
          onClose={() => setRolling(null)}
          onMoved={() => {
            setRolling(null);
            onMoved();
          }}
        />
      )}
    </Panel>
  );
}

function RollbackForm({ alias, onClose, onMoved }: { alias: string; onClose: () => void; onMoved: () => void }) {
  return (
    <ReasonForm
      label={`Roll back ${alias}`}
      title={`Roll back ${alias} to its previous version`}
      fieldLabel="Rollback reason"
      submitLabel={`Roll back ${alias}`}
      submitClassName="button-danger"
      schema={rollbackRequestSchema}
      send={(body) =>
        api.post(`/api/models/aliases/${encodeURIComponent(alias)}/rollback`, body, aliasMoveResponseSchema)
      }
      onDone={onMoved}
      onClose={onClose}
    />
  );
}

function AliasHistoryPanel({ aliases, updatedAt }: { aliases: readonly ModelAlias[]; updatedAt: number | null }) {
  const names = aliases.map((a) => a.alias);
  const [alias, setAlias] = useState('production');
  const history = useQuery(
    (signal) =>
      api.get(`/api/models/aliases/${encodeURIComponent(alias)}/history`, aliasHistoryResponseSchema, {
        signal,
        query: { limit: 50 },
      }),
    [alias, updatedAt],
  );
  return (
    <Panel
      title="Alias history"
      actions={
        <label className="models-toggle">
          Alias{' '}
          <select value={alias} onChange={(e) => setAlias(e.target.value)}>
            {[...new Set(['production', ...names])].map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      }
    >
      <ErrorBanner error={history.error} onRetry={history.refresh} what={`the history of ${alias}`} />
      <Table
        caption={`Moves of ${alias}, newest first`}
        captionHidden
        columns={[
          { key: 'at', header: 'When', render: (e) => formatDateTime(e.at) },
          {
            key: 'action',
            header: 'Action',
            render: (e) => <AliasAction action={e.action} />,
          },
          { key: 'scope', header: 'Cameras', render: (e) => e.scope ?? <span className="muted">all</span> },
          { key: 'from', header: 'From', render: (e) => e.fromVersion ?? '—' },
          { key: 'to', header: 'To', render: (e) => e.toVersion ?? '(removed)' },
          { key: 'actor', header: 'By', render: (e) => e.actor ?? '—' },
          { key: 'reason', header: 'Reason', render: (e) => e.reason ?? '—' },
        ]}
        rows={history.data?.history ?? []}
        rowKey={(e) => e.id}
        empty="This alias has never moved."
      />
    </Panel>
  );
}

/** An alias history step as shape + word: ↑ promote, ↶ rollback, ◐ canary, ↶ canary rollback. */
function AliasAction({ action }: { action: AliasHistoryEntry['action'] }) {
  switch (action) {
    case 'promote':
      return <span>↑ promote</span>;
    case 'rollback':
      return <strong>↶ rollback</strong>;
    case 'canary':
      return <span className="models-canary">◐ canary</span>;
    case 'canary-rollback':
      return <strong>↶ canary rollback</strong>;
  }
}
