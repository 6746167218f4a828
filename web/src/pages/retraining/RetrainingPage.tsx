/**
 * Retraining: the current (or last) training's state with a progress bar while it runs
 * (stage, epoch of epochs, loss, ETA), the policy's conditions and why each holds or not, the
 * admin's trigger (with a reason) and cancel, and the history of runs with their outcomes.
 * Polls every 2 s while a training is queued or running, every 15 s otherwise.
 */
import type { FormEvent } from 'react';
import { useState } from 'react';
import {
  retrainingCancelResponseSchema,
  retrainingConditionsResponseSchema,
  retrainingHistoryResponseSchema,
  retrainingStatusSchema,
  retrainingTriggerRequestSchema,
  retrainingTriggerResponseSchema,
} from '../../../../src/shared/api/retraining';
import type {
  RetrainingCondition,
  RetrainingState,
  RetrainingStatus,
} from '../../../../src/shared/api/retraining';
import { IfScope } from '../../app/auth';
import { Link } from '../../app/router';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import type { StateLevel } from '../../components/StateBadge';
import { StateBadge } from '../../components/StateBadge';
import { Panel, Stat } from '../../components/Stat';
import { Table } from '../../components/Table';
import { api, errorMessage } from '../../lib/api';
import { formatDateTime, formatDuration, formatNumber, formatRelative } from '../../lib/time';
import { useQuery } from '../../lib/use-query';
import { groupRuns } from './runs';
import type { RetrainingRun } from './runs';
import './retraining.css';

const STATE_LEVEL: Record<RetrainingState, StateLevel> = {
  idle: 'unknown',
  queued: 'yellow',
  running: 'yellow',
  evaluating: 'yellow',
  completed: 'green',
  rejected: 'red',
  failed: 'red',
  cancelled: 'unknown',
};

const STATE_WORD: Record<RetrainingState, string> = {
  idle: 'Idle (never trained)',
  queued: 'Queued',
  running: 'Training',
  evaluating: 'Evaluating',
  completed: 'Completed',
  rejected: 'Candidate rejected',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const CONDITION_TEXT: Partial<Record<RetrainingCondition['name'], string>> = {
  enabled: 'Automatic retraining enabled',
  labels: 'Enough new reviewed labels',
  drift: 'Drift detected',
  cooldown: 'Cooldown over',
  'one-at-a-time': 'No training running',
  data: 'Data to train on',
  inputs: 'Inputs changed since the last rejected training',
};

function isActive(state: RetrainingState | undefined): boolean {
  return state === 'queued' || state === 'running' || state === 'evaluating';
}

export default function RetrainingPage() {
  const [fast, setFast] = useState(false);
  const status = useQuery(
    (signal) => api.get('/api/retraining/status', retrainingStatusSchema, { signal }),
    [],
    { refreshMs: fast ? 2000 : 15_000 },
  );
  const active = isActive(status.data?.state);
  if (active !== fast) setFast(active);
  const conditions = useQuery(
    (signal) =>
      api.get('/api/retraining/conditions', retrainingConditionsResponseSchema, { signal }),
    [status.data?.state, status.data?.job?.id],
    { refreshMs: 15_000 },
  );
  const history = useQuery(
    (signal) =>
      api.get('/api/retraining/history', retrainingHistoryResponseSchema, {
        signal,
        query: { limit: 300 },
      }),
    [status.data?.state, status.data?.stage, status.data?.job?.id],
    { refreshMs: 30_000 },
  );
  const refreshAll = () => {
    status.refresh();
    conditions.refresh();
    history.refresh();
  };

  return (
    <div className="retraining">
      <h1>Retraining</h1>
      <ErrorBanner error={status.error} onRetry={status.refresh} what="the retraining status" />
      <Panel
        title="Current training"
        actions={<CancelButton status={status.data} onDone={refreshAll} />}
      >
        {status.data === undefined ? (
          status.loading && <p className="loading">Loading…</p>
        ) : (
          <StatusView status={status.data} />
        )}
      </Panel>

      <div className="retraining-columns">
        <Panel title="Conditions">
          <ErrorBanner
            error={conditions.error}
            onRetry={conditions.refresh}
            what="the conditions"
          />
          {conditions.data !== undefined && (
            <>
              <p>
                <StateBadge
                  level={conditions.data.automatic.shouldRun ? 'yellow' : 'green'}
                  label={
                    conditions.data.automatic.shouldRun
                      ? `Would retrain now (${conditions.data.automatic.trigger ?? 'policy'})`
                      : 'No automatic retraining due'
                  }
                />
              </p>
              <ul className="retraining-conditions" aria-label="Policy conditions">
                {conditions.data.automatic.conditions.map((condition) => (
                  <li key={condition.name} data-holds={condition.holds}>
                    <span aria-hidden="true" className="retraining-condition-shape">
                      {condition.holds ? '✔' : '✘'}
                    </span>
                    <span>
                      <strong>{CONDITION_TEXT[condition.name] ?? condition.name}</strong>{' '}
                      <span className="visually-hidden">
                        {condition.holds ? 'holds' : 'does not hold'}
                      </span>
                      <span className={condition.holds ? 'retraining-holds' : 'retraining-fails'}>
                        {condition.holds ? 'yes' : 'no'}
                      </span>
                      <br />
                      <span className="muted">{condition.detail}</span>
                    </span>
                  </li>
                ))}
              </ul>
              <p className="muted">
                Labels: {conditions.data.labels.unused} new of {conditions.data.labels.total}{' '}
                reviewed (threshold {conditions.data.labels.threshold}).{' '}
                {conditions.data.automatic.reasons.join(' ')}
              </p>
            </>
          )}
        </Panel>
        <IfScope allowed={ADMINS}>
          <Panel title="Start a training">
            <TriggerForm
              manualReasons={conditions.data?.manual.reasons ?? []}
              manualAllowed={conditions.data?.manual.shouldRun ?? true}
              busy={active}
              onDone={refreshAll}
            />
          </Panel>
        </IfScope>
      </div>

      <Panel title="History">
        <ErrorBanner
          error={history.error}
          onRetry={history.refresh}
          what="the retraining history"
        />
        <RunsTable runs={groupRuns(history.data?.events ?? [])} />
      </Panel>
    </div>
  );
}

function StatusView({ status }: { status: RetrainingStatus }) {
  const job = status.job;
  const fraction =
    typeof job?.progress?.fraction === 'number'
      ? Math.min(1, Math.max(0, job.progress.fraction))
      : null;
  const epochFraction =
    status.epoch !== null && status.epochs !== null && status.epochs > 0
      ? status.epoch / status.epochs
      : null;
  const active = isActive(status.state);
  return (
    <>
      <div className="stat-row">
        <Stat
          label="State"
          value={<StateBadge level={STATE_LEVEL[status.state]} label={STATE_WORD[status.state]} />}
        />
        <Stat label="Stage" value={status.stage ?? '—'} />
        <Stat
          label="Epoch"
          value={status.epoch === null ? '—' : `${status.epoch} / ${status.epochs ?? '?'}`}
        />
        <Stat label="Loss" value={formatNumber(status.loss, 4)} />
        <Stat label="Val mAP@0.5" value={formatNumber(status.valMap50, 3)} />
        <Stat
          label="ETA"
          value={status.etaSeconds === null ? '—' : formatDuration(status.etaSeconds)}
        />
        <Stat label="Trigger" value={status.trigger ?? '—'} />
        <Stat label="Device" value={status.device ?? '—'} />
      </div>
      {active && (
        <div className="retraining-progress">
          <label htmlFor="retraining-progress-bar">
            {status.stage === 'training' && epochFraction !== null
              ? `Training: epoch ${status.epoch} of ${status.epochs}`
              : `Stage: ${status.stage ?? 'queued'}`}
          </label>
          <progress
            id="retraining-progress-bar"
            max={1}
            value={fraction ?? undefined}
            aria-valuetext={
              fraction === null
                ? 'waiting'
                : `${Math.round(fraction * 100)} % done${status.etaSeconds === null ? '' : `, about ${formatDuration(status.etaSeconds)} left`}`
            }
          />
          <span className="retraining-progress-text">
            {fraction === null ? 'waiting…' : `${Math.round(fraction * 100)} %`}
          </span>
        </div>
      )}
      {job !== null && (
        <p className="muted">
          Job <code>{job.id}</code>: queued {formatDateTime(job.createdAt)}
          {job.startedAt !== null && `, started ${formatRelative(job.startedAt)}`}
          {job.finishedAt !== null && `, finished ${formatDateTime(job.finishedAt)}`}
          {job.cancelRequested && ' — cancel requested'}.
        </p>
      )}
      {status.candidateVersion !== null && (
        <p>
          Candidate{' '}
          <Link to={`/models/${encodeURIComponent(status.candidateVersion)}`}>
            {status.candidateVersion}
          </Link>
          {status.decision !== null && (
            <>
              {' '}
              — gate decision:{' '}
              {status.decision === 'rejected' ? (
                <StateBadge level="red" label="rejected" />
              ) : (
                <StateBadge level="green" label={status.decision} />
              )}
            </>
          )}
        </p>
      )}
      {status.gateReasons !== null && status.gateReasons.length > 0 && (
        <ul className="retraining-gate-reasons" aria-label="Gate reasons">
          {status.gateReasons.map((reason) => (
            <li key={reason}>{reason}</li>
          ))}
        </ul>
      )}
      {status.replay !== null && <p className="muted">Replay: {status.replay}</p>}
      {status.error !== null && status.state === 'cancelled' && (
        <p className="muted">○ {status.error}</p>
      )}
      {status.error !== null && status.state !== 'cancelled' && (
        <p className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {status.error}
        </p>
      )}
    </>
  );
}

function CancelButton({
  status,
  onDone,
}: {
  status: RetrainingStatus | undefined;
  onDone: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (status === undefined || !isActive(status.state) || status.job === null) return null;
  const jobId = status.job.id;
  return (
    <IfScope allowed={ADMINS}>
      <span className="retraining-cancel">
        {error !== null && (
          <span className="field-error" role="alert">
            {error}
          </span>
        )}
        <button
          type="button"
          className="button-danger"
          disabled={busy || status.job.cancelRequested}
          onClick={() => {
            setBusy(true);
            setError(null);
            api
              .post('/api/retraining/cancel', { jobId }, retrainingCancelResponseSchema)
              .then(onDone, (failure: unknown) => setError(errorMessage(failure)))
              .finally(() => setBusy(false));
          }}
        >
          {status.job.cancelRequested ? 'Cancelling…' : 'Cancel training'}
        </button>
      </span>
    </IfScope>
  );
}

function TriggerForm({
  manualReasons,
  manualAllowed,
  busy,
  onDone,
}: {
  manualReasons: string[];
  manualAllowed: boolean;
  busy: boolean;
  onDone: () => void;
}) {
  const [reason, setReason] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [requestError, setRequestError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [started, setStarted] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (reason.trim() === '') {
      setFieldError('Say why you start a training (it is kept in the history).');
      return;
    }
    const parsed = retrainingTriggerRequestSchema.safeParse({ reason });
    if (!parsed.success) {
      setFieldError(parsed.error.issues[0]?.message ?? 'invalid reason');
      return;
    }
    setFieldError(null);
    setRequestError(null);
    setSending(true);
    api
      .post('/api/retraining/trigger', parsed.data, retrainingTriggerResponseSchema)
      .then(
        (answer) => {
          setStarted(answer.job.id);
          setReason('');
          onDone();
        },
        (failure: unknown) => setRequestError(errorMessage(failure)),
      )
      .finally(() => setSending(false));
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Start a training">
      <Field
        label="Reason"
        error={fieldError}
        hint="Kept with the run in the history, e.g. “night shift labels reviewed”."
      >
        {(props) => (
          <textarea
            {...props}
            rows={2}
            maxLength={500}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        )}
      </Field>
      {!manualAllowed && manualReasons.length > 0 && (
        <p className="notice">{manualReasons.join(' ')}</p>
      )}
      {requestError !== null && (
        <p className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {requestError}
        </p>
      )}
      {started !== null && <p className="muted">Queued training job {started}.</p>}
      <button type="submit" className="button-primary" disabled={sending || busy}>
        {busy ? 'A training is running' : 'Start retraining'}
      </button>
    </form>
  );
}

function RunsTable({ runs }: { runs: RetrainingRun[] }) {
  return (
    <Table
      caption="Trainings, newest first"
      captionHidden
      columns={[
        {
          key: 'when',
          header: 'Queued',
          render: (run: RetrainingRun) => formatDateTime(run.queuedAt),
        },
        { key: 'trigger', header: 'Trigger', render: (run) => run.trigger ?? '—' },
        {
          key: 'reason',
          header: 'Reason',
          render: (run) => (
            <>
              {run.reason ?? '—'}
              {run.actor !== null && <span className="muted"> ({run.actor})</span>}
            </>
          ),
        },
        {
          key: 'candidate',
          header: 'Candidate',
          render: (run) =>
            run.candidateVersion === null ? (
              '—'
            ) : (
              <Link to={`/models/${encodeURIComponent(run.candidateVersion)}`}>
                {run.candidateVersion}
              </Link>
            ),
        },
        {
          key: 'outcome',
          header: 'Outcome',
          render: (run) => (
            <>
              <StateBadge level={run.outcome.level} label={run.outcome.label} />
              {run.gateReasons.length > 0 && (
                <div className="muted retraining-gate">{run.gateReasons.join('; ')}</div>
              )}
            </>
          ),
        },
        {
          key: 'events',
          header: 'Events',
          render: (run) => (
            <details>
              <summary>{run.events.length} events</summary>
              <ol className="retraining-events">
                {[...run.events].reverse().map((event) => (
                  <li key={event.id}>
                    {formatDateTime(event.at)} — <strong>{event.kind}</strong>
                    {event.reason !== null && ` (${event.reason})`}
                  </li>
                ))}
              </ol>
            </details>
          ),
        },
      ]}
      rows={runs}
      rowKey={(run) => run.jobId}
      empty="No training has run yet."
    />
  );
}
