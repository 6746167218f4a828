/**
 * Models → Rollouts: running and past shadow/canary rollouts (`GET /api/rollouts`), a start
 * form (admins; kind, stage, a candidate among the registered models of that task, cameras or a
 * share, the canary's rules with DEFAULT_ROLLOUT_RULES filled in, reason) checked with the API's
 * schema before anything is sent, and the selected rollout's detail (`GET /api/rollouts/{id}`,
 * re-read every 5 s while it runs): candidate vs baseline metrics, per-camera table, verdict and
 * breaches, Promote / Roll back with a reason. `rollout` events reload the list and the detail.
 */
import type { FormEvent } from 'react';
import { useEffect, useMemo, useState } from 'react';
import type { ModelSummary } from '../../../../src/shared/api/models';
import {
  endRolloutRequestSchema,
  rolloutDetailSchema,
  rolloutListResponseSchema,
  rolloutSchema,
} from '../../../../src/shared/api/rollouts';
import type { Rollout } from '../../../../src/shared/api/rollouts';
import { IfScope } from '../../app/auth';
import { Link } from '../../app/router';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { ReasonForm } from '../../components/ReasonForm';
import { Panel } from '../../components/Stat';
import { StateBadge } from '../../components/StateBadge';
import { Table } from '../../components/Table';
import { ApiError, api, errorMessage } from '../../lib/api';
import { formatDateTime } from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import {
  RULE_FIELDS,
  breachText,
  candidatesFor,
  checkStartDraft,
  initialStartDraft,
  metricRows,
  participantsText,
  percentText,
  verdictBadge,
} from './rollouts';
import type { MetricRow, RolloutStage, StartDraft, StartErrors } from './rollouts';

function stateBadge(rollout: Rollout) {
  switch (rollout.state) {
    case 'running':
      return <StateBadge level="yellow" label="running" />;
    case 'promoted':
      return <StateBadge level="green" label="promoted" />;
    case 'rolled-back':
      return <StateBadge level="red" label="rolled back" />;
  }
}

export function RolloutsPanel({
  models,
  productionOf,
  onChanged,
}: {
  models: readonly ModelSummary[];
  /** The version an alias serves now (`production`, `classify-production`, …), or null. */
  productionOf: (stage: RolloutStage) => string | null;
  /** An alias may have moved (a promote or rollback): the registry is re-read. */
  onChanged: () => void;
}) {
  const list = useQuery(
    (signal) => api.get('/api/rollouts', rolloutListResponseSchema, { signal }),
    [],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const rollouts = useMemo(
    () => [...(list.data?.rollouts ?? [])].sort((a, b) => b.startedAt - a.startedAt),
    [list.data],
  );
  const [tick, setTick] = useState(0);
  useEvents(['rollout'], () => {
    list.refresh();
    setTick((value) => value + 1);
    onChanged();
  });
  const shown = selected ?? rollouts.find((r) => r.state === 'running')?.id ?? null;

  return (
    <Panel
      title="Rollouts"
      actions={
        <IfScope allowed={ADMINS}>
          <button type="button" onClick={() => setStarting((value) => !value)}>
            {starting ? 'Close the start form' : 'Start a rollout…'}
          </button>
        </IfScope>
      }
    >
      <ErrorBanner error={list.error} onRetry={list.refresh} what="the rollouts" />
      {starting && (
        <StartRolloutForm
          models={models}
          productionOf={productionOf}
          onStarted={(rollout) => {
            setStarting(false);
            setSelected(rollout.id);
            list.refresh();
            onChanged();
          }}
        />
      )}
      <Table
        caption="Rollouts, newest first"
        captionHidden
        columns={[
          { key: 'state', header: 'State', render: (r: Rollout) => stateBadge(r) },
          { key: 'kind', header: 'Kind', render: (r) => `${r.kind} · ${r.stage}` },
          {
            key: 'versions',
            header: 'Candidate ← baseline',
            render: (r) => (
              <>
                <strong>{r.candidateVersion}</strong> ← {r.baselineVersion}
              </>
            ),
          },
          { key: 'who', header: 'Where', render: (r) => participantsText(r) },
          { key: 'started', header: 'Started', render: (r) => formatDateTime(r.startedAt) },
          {
            key: 'ended',
            header: 'Ended',
            render: (r) =>
              r.endedAt === null ? (
                <span className="muted">—</span>
              ) : (
                <>
                  {formatDateTime(r.endedAt)}
                  {r.endReason !== null && <span className="muted"> ({r.endReason})</span>}
                </>
              ),
          },
          {
            key: 'open',
            header: <span className="visually-hidden">Open</span>,
            render: (r) => (
              <button
                type="button"
                className="button-quiet"
                aria-label={`Show rollout ${r.candidateVersion} (${r.kind})`}
                onClick={(event) => {
                  event.stopPropagation();
                  setSelected(r.id);
                }}
              >
                Show
              </button>
            ),
          },
        ]}
        rows={rollouts}
        rowKey={(r) => r.id}
        rowSelected={(r) => r.id === shown}
        onRowActivate={(r) => setSelected(r.id)}
        empty="No rollout yet: start a shadow or a canary to try a candidate on part of the line."
      />
      {shown !== null && (
        <RolloutDetail
          key={shown}
          id={shown}
          tick={tick}
          onEnded={() => {
            list.refresh();
            onChanged();
          }}
        />
      )}
    </Panel>
  );
}

function RolloutDetail({ id, tick, onEnded }: { id: string; tick: number; onEnded: () => void }) {
  const [running, setRunning] = useState(true);
  const detail = useQuery(
    (signal) =>
      api.get(`/api/rollouts/${encodeURIComponent(id)}`, rolloutDetailSchema, { signal }),
    [id, tick],
    { refreshMs: running ? 5_000 : undefined },
  );
  const rollout = detail.data?.rollout;
  const metrics = detail.data?.metrics;
  useEffect(() => {
    if (rollout !== undefined) setRunning(rollout.state === 'running');
  }, [rollout]);
  const [ending, setEnding] = useState<'promote' | 'rollback' | null>(null);

  return (
    <section className="rollout-detail" aria-label="Rollout detail">
      <ErrorBanner error={detail.error} onRetry={detail.refresh} what="the rollout" />
      {rollout !== undefined && metrics !== undefined && (
        <>
          <h3 className="models-subtitle">
            {rollout.kind === 'canary' ? 'Canary' : 'Shadow'} of{' '}
            <Link to={`/models/${encodeURIComponent(rollout.candidateVersion)}`}>
              {rollout.candidateVersion}
            </Link>{' '}
            ({rollout.stage}) against {rollout.baselineVersion} {stateBadge(rollout)}
          </h3>
          <dl className="models-lineage">
            <dt>Where</dt>
            <dd>{participantsText(rollout)}</dd>
            <dt>Verdict</dt>
            <dd>
              <StateBadge {...verdictBadge(metrics.verdict)} />
              <span className="muted"> at {formatDateTime(metrics.at)}</span>
            </dd>
            {metrics.breaches.length > 0 && (
              <>
                <dt>Breaches</dt>
                <dd>
                  <ul className="rollout-breaches">
                    {metrics.breaches.map((breach) => (
                      <li key={breach.metric}>■ {breachText(breach)}</li>
                    ))}
                  </ul>
                </dd>
              </>
            )}
            {rollout.kind === 'canary' && (
              <>
                <dt>Rules</dt>
                <dd>
                  after {rollout.rules.minFrames} frames: defect rate Δ ≤{' '}
                  {rollout.rules.maxDefectRateDelta}, uncertain Δ ≤{' '}
                  {rollout.rules.maxUncertainRateDelta}, disagreement ≤{' '}
                  {rollout.rules.maxDisagreement}, latency ×≤ {rollout.rules.maxLatencyRatio};{' '}
                  {rollout.rules.promoteAfterFrames === null
                    ? 'promoted by hand only'
                    : `promoted after ${rollout.rules.promoteAfterFrames} clean frames`}
                </dd>
              </>
            )}
            <dt>Started</dt>
            <dd>
              {formatDateTime(rollout.startedAt)}
              {rollout.createdBy !== null && ` by ${rollout.createdBy}`}
              {rollout.reason !== null && ` — ${rollout.reason}`}
            </dd>
            {rollout.endedAt !== null && (
              <>
                <dt>Ended</dt>
                <dd>
                  {formatDateTime(rollout.endedAt)}
                  {rollout.endReason !== null && ` — ${rollout.endReason}`}
                </dd>
              </>
            )}
          </dl>
          <Table
            caption="Candidate against baseline"
            columns={[
              { key: 'metric', header: 'Metric', render: (row: MetricRow) => row.label },
              {
                key: 'candidate',
                header: `Candidate ${rollout.candidateVersion}`,
                align: 'right',
                render: (row) => row.candidate,
              },
              {
                key: 'baseline',
                header: `Baseline ${rollout.baselineVersion}`,
                align: 'right',
                render: (row) => row.baseline,
              },
              { key: 'delta', header: 'Difference', align: 'right', render: (row) => row.delta },
            ]}
            rows={metricRows(metrics)}
            rowKey={(row) => row.label}
          />
          <Table
            caption="Per camera"
            columns={[
              { key: 'camera', header: 'Camera', render: (c) => c.camera },
              { key: 'role', header: 'Role', render: (c) => c.role },
              { key: 'frames', header: 'Frames', align: 'right', render: (c) => c.frames },
              {
                key: 'defect',
                header: 'Defect rate',
                align: 'right',
                render: (c) => percentText(c.defectRate),
              },
              {
                key: 'uncertain',
                header: 'Uncertain rate',
                align: 'right',
                render: (c) => percentText(c.uncertainRate),
              },
              {
                key: 'disagreement',
                header: 'Disagreement',
                align: 'right',
                render: (c) =>
                  c.disagreement === null
                    ? '—'
                    : `${c.disagreement.toFixed(3)} (${c.shadowFrames} frames)`,
              },
              {
                key: 'p50',
                header: 'Inference p50',
                align: 'right',
                render: (c) => (c.inferenceMsP50 === null ? '—' : `${c.inferenceMsP50.toFixed(1)} ms`),
              },
            ]}
            rows={metrics.perCamera}
            rowKey={(c) => `${c.camera}|${c.role}`}
            empty="No camera has sent a frame since the rollout started."
          />
          {rollout.state === 'running' && (
            <IfScope allowed={ADMINS}>
              <div className="models-actions rollout-actions">
                <button type="button" className="button-primary" onClick={() => setEnding('promote')}>
                  Promote…
                </button>
                <button type="button" className="button-danger" onClick={() => setEnding('rollback')}>
                  Roll back…
                </button>
              </div>
              {ending !== null && (
                <EndRolloutForm
                  rollout={rollout}
                  action={ending}
                  onClose={() => setEnding(null)}
                  onEnded={() => {
                    setEnding(null);
                    detail.refresh();
                    onEnded();
                  }}
                />
              )}
            </IfScope>
          )}
        </>
      )}
    </section>
  );
}

function EndRolloutForm({
  rollout,
  action,
  onClose,
  onEnded,
}: {
  rollout: Rollout;
  action: 'promote' | 'rollback';
  onClose: () => void;
  onEnded: () => void;
}) {
  const verb = action === 'promote' ? 'Promote' : 'Roll back';
  return (
    <ReasonForm
      label={`${verb} the rollout`}
      title={
        action === 'promote'
          ? `Promote ${rollout.candidateVersion} for every camera`
          : `Roll back to ${rollout.baselineVersion}`
      }
      fieldLabel={`${verb} reason`}
      submitLabel={`${verb} the rollout`}
      submitClassName={action === 'promote' ? 'button-primary' : 'button-danger'}
      schema={endRolloutRequestSchema}
      send={(body) =>
        api.post(`/api/rollouts/${encodeURIComponent(rollout.id)}/${action}`, body, rolloutSchema)
      }
      onDone={onEnded}
      onClose={onClose}
    />
  );
}

function StartRolloutForm({
  models,
  productionOf,
  onStarted,
}: {
  models: readonly ModelSummary[];
  productionOf: (stage: RolloutStage) => string | null;
  onStarted: (rollout: Rollout) => void;
}) {
  const [draft, setDraft] = useState<StartDraft>(initialStartDraft);
  const [errors, setErrors] = useState<StartErrors>({});
  const [checked, setChecked] = useState(false);
  const [sending, setSending] = useState(false);
  const candidates = candidatesFor(models, draft.stage, productionOf(draft.stage));
  const set = (patch: Partial<StartDraft>) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    if (checked) setErrors(checkStartDraft(next).errors);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    const check = checkStartDraft(draft);
    setErrors(check.errors);
    if (!check.ok) return;
    setSending(true);
    api
      .post('/api/rollouts', check.body, rolloutSchema)
      .then(onStarted, (failure: unknown) => {
        const message = failure instanceof ApiError ? failure.message : errorMessage(failure);
        const code = failure instanceof ApiError ? ` (${failure.code})` : '';
        setErrors({ '': `The server refused the rollout: ${message}${code}` });
      })
      .finally(() => setSending(false));
  };

  return (
    <form className="models-form rollout-start" onSubmit={submit} noValidate aria-label="Start a rollout">
      <h3 className="models-subtitle">Start a rollout</h3>
      <div className="rollout-fields">
        <Field
          label="Kind"
          hint={
            draft.kind === 'canary'
              ? 'production moves for some cameras first'
              : 'runs beside production, never decides'
          }
          error={errors.kind}
        >
          {(props) => (
            <select
              {...props}
              value={draft.kind}
              onChange={(e) => set({ kind: e.target.value as StartDraft['kind'] })}
            >
              <option value="canary">canary</option>
              <option value="shadow">shadow</option>
            </select>
          )}
        </Field>
        <Field label="Stage" error={errors.stage}>
          {(props) => (
            <select
              {...props}
              value={draft.stage}
              onChange={(e) =>
                set({ stage: e.target.value as RolloutStage, candidateVersion: '' })
              }
            >
              <option value="detect">detect</option>
              <option value="classify">classify</option>
              <option value="segment">segment</option>
            </select>
          )}
        </Field>
        <Field
          label="Candidate"
          hint={`registered ${draft.stage} models; serving now: ${productionOf(draft.stage) ?? 'none'}`}
          error={errors.candidateVersion}
        >
          {(props) => (
            <select
              {...props}
              value={draft.candidateVersion}
              onChange={(e) => set({ candidateVersion: e.target.value })}
            >
              <option value="">
                {candidates.length === 0 ? `no other ${draft.stage} model` : 'choose…'}
              </option>
              {candidates.map((m) => (
                <option key={m.version} value={m.version}>
                  {m.version} ({m.source}, {formatDateTime(m.createdAt)})
                </option>
              ))}
            </select>
          )}
        </Field>
        {draft.kind === 'canary' && (
          <Field label="Canary by" error={errors.target}>
            {(props) => (
              <select
                {...props}
                value={draft.target}
                onChange={(e) => set({ target: e.target.value as StartDraft['target'] })}
              >
                <option value="cameras">named cameras</option>
                <option value="share">a share of the cameras</option>
              </select>
            )}
          </Field>
        )}
        {(draft.kind === 'shadow' || draft.target === 'cameras') && (
          <Field
            label="Cameras"
            hint={draft.kind === 'shadow' ? 'comma-separated; empty: all' : 'comma-separated'}
            error={errors.cameras}
          >
            {(props) => (
              <input
                {...props}
                value={draft.cameras}
                placeholder="cam-1, cam-2"
                onChange={(e) => set({ cameras: e.target.value })}
              />
            )}
          </Field>
        )}
        {(draft.kind === 'shadow' || draft.target === 'share') && (
          <Field
            label={draft.kind === 'shadow' ? 'Share of frames' : 'Share of cameras'}
            hint={draft.kind === 'shadow' ? '0..1; empty: the server default' : '0..1'}
            error={errors.share}
          >
            {(props) => (
              <input
                {...props}
                type="number"
                step="0.05"
                value={draft.share}
                onChange={(e) => set({ share: e.target.value })}
              />
            )}
          </Field>
        )}
      </div>
      {draft.kind === 'canary' && (
        <fieldset className="settings-group">
          <legend>Automatic verdict (defaults filled in)</legend>
          <div className="rollout-fields">
            {RULE_FIELDS.map((rule) => (
              <Field key={rule.name} label={rule.label} hint={rule.hint} error={errors[`rules.${rule.name}`]}>
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    step="any"
                    value={draft.rules[rule.name]}
                    onChange={(e) => set({ rules: { ...draft.rules, [rule.name]: e.target.value } })}
                  />
                )}
              </Field>
            ))}
          </div>
        </fieldset>
      )}
      <Field label="Rollout reason" error={errors.reason}>
        {(props) => (
          <textarea {...props} rows={2} value={draft.reason} onChange={(e) => set({ reason: e.target.value })} />
        )}
      </Field>
      {errors[''] !== undefined && (
        <p className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {errors['']}
        </p>
      )}
      <button type="submit" className="button-primary" disabled={sending}>
        {sending ? 'Starting…' : `Start the ${draft.kind}`}
      </button>
    </form>
  );
}
