/**
 * Drift monitor: the overall level, the drift share against its thresholds, each feature's
 * test (statistic, p-value) with its reference and current distributions drawn over each other,
 * and the last 7 days of drift checks over green/yellow/red bands. Live: a `drift` event (a
 * camera's level changed) reloads; otherwise it refreshes every 15 s.
 */
import { useMemo, useState } from 'react';
import {
  driftHistoryResponseSchema,
  driftStatusResponseSchema,
} from '../../../../src/shared/api/drift';
import type { DriftCameraStatus, DriftFeature } from '../../../../src/shared/api/drift';
import { ErrorBanner } from '../../components/ErrorBanner';
import { StateBadge } from '../../components/StateBadge';
import { Panel, Stat } from '../../components/Stat';
import { Table } from '../../components/Table';
import { api } from '../../lib/api';
import { formatDateTime, formatNumber, formatPercent, formatRelative } from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import { DistributionChart, DistributionLegend } from './DistributionChart';
import { DriftTimeline } from './DriftTimeline';
import './drift.css';

const WEEK_MS = 7 * 86_400_000;

const STATUS_TEXT: Record<DriftCameraStatus['status'], string> = {
  ok: 'no drift',
  drift: 'drift',
  insufficient_data: 'too few samples',
  no_reference: 'baseline not ready',
};

function formatP(p: number | null): string {
  if (p === null) return '—';
  if (p === 0) return '0';
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

export default function DriftPage() {
  const status = useQuery(
    (signal) => api.get('/api/metrics/drift', driftStatusResponseSchema, { signal }),
    [],
    { refreshMs: 15_000 },
  );
  const history = useQuery(
    (signal) =>
      api.get('/api/metrics/drift/history', driftHistoryResponseSchema, {
        signal,
        query: { from: Date.now() - WEEK_MS, limit: 10_000 },
      }),
    [],
    { refreshMs: 60_000 },
  );
  useEvents(['drift'], () => {
    status.refresh();
    history.refresh();
  });

  const cameras = status.data?.cameras ?? [];
  const [chosen, setChosen] = useState<string | null>(null);
  const camera = cameras.find((c) => c.camera === chosen) ?? cameras[0];
  const thresholds = status.data?.thresholds;
  const overall = status.data?.overall;
  const points = useMemo(
    () =>
      (history.data?.points ?? []).filter(
        (p) => camera === undefined || p.camera === camera.camera,
      ),
    [history.data, camera],
  );

  return (
    <div className="drift">
      <h1>Drift monitor</h1>
      <ErrorBanner error={status.error} onRetry={status.refresh} what="the drift status" />
      {status.data === undefined ? (
        status.loading && <p className="loading">Loading drift status…</p>
      ) : (
        <>
          <Panel title="Overall">
            <div className="stat-row">
              <Stat
                label="State"
                value={
                  <StateBadge
                    level={overall?.level ?? 'unknown'}
                    label={levelWord(overall?.level)}
                  />
                }
              />
              <Stat
                label="Drift share"
                value={formatPercent(overall?.driftShare ?? null, 0)}
                hint="share of tested features whose distribution changed (worst camera)"
              />
              <Stat
                label="Threshold"
                value={formatPercent(thresholds?.driftShareThreshold ?? null, 0)}
                hint="warning above this share; alert above the red threshold"
              />
              <Stat
                label="Red above"
                value={formatPercent(thresholds?.redShareThreshold ?? null, 0)}
              />
              <Stat label="α (per feature)" value={formatNumber(thresholds?.alpha ?? null, 2)} />
              <Stat label="Cameras" value={overall?.cameras ?? 0} />
            </div>
            <ShareBar
              share={overall?.driftShare ?? null}
              threshold={thresholds?.driftShareThreshold ?? 0.3}
              red={thresholds?.redShareThreshold ?? 0.7}
            />
            <p>
              {overall === undefined || overall.drifting.length === 0
                ? 'No camera is drifting.'
                : `Drifting: ${overall.drifting.join(', ')}.`}{' '}
              <span className="muted">Updated {formatDateTime(status.data.generatedAt)}.</span>
            </p>
          </Panel>

          {cameras.length > 1 && (
            <div className="drift-cameras" role="group" aria-label="Camera">
              {cameras.map((c) => (
                <button
                  key={c.camera}
                  type="button"
                  aria-pressed={c.camera === camera?.camera}
                  onClick={() => setChosen(c.camera)}
                >
                  {c.camera} <StateBadge level={c.level} label={levelWord(c.level)} />
                </button>
              ))}
            </div>
          )}

          {camera === undefined ? (
            <Panel title="Cameras">
              <p className="muted">
                No drift check has run yet: checks start once a camera sends results.
              </p>
            </Panel>
          ) : (
            <CameraDrift camera={camera} />
          )}
        </>
      )}

      <Panel title="Last 7 days">
        <ErrorBanner error={history.error} onRetry={history.refresh} what="the drift history" />
        {history.data !== undefined && thresholds !== undefined && (
          <>
            <DriftTimeline
              points={points}
              threshold={thresholds.driftShareThreshold}
              redThreshold={thresholds.redShareThreshold}
              from={history.data.from}
              to={history.data.to}
            />
            <p className="muted">
              {points.length} checks{camera === undefined ? '' : ` of ${camera.camera}`}
              {history.data.truncated ? ' (the oldest were left out)' : ''}; bands: ● OK below{' '}
              {formatPercent(thresholds.driftShareThreshold, 0)}, ▲ warning up to{' '}
              {formatPercent(thresholds.redShareThreshold, 0)}, ■ alert above.
            </p>
          </>
        )}
      </Panel>
    </div>
  );
}

const LEVEL_WORDS: Record<string, string> = {
  green: 'No drift',
  yellow: 'Drift warning',
  red: 'Drift alert',
};

function levelWord(level: string | undefined): string {
  return (level === undefined ? undefined : LEVEL_WORDS[level]) ?? 'Unknown';
}

/** The share on a 0–100 % bar with the two thresholds marked. */
function ShareBar({
  share,
  threshold,
  red,
}: {
  share: number | null;
  threshold: number;
  red: number;
}) {
  return (
    <div
      className="drift-sharebar"
      role="meter"
      aria-label="Drift share against the thresholds"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={share === null ? undefined : Math.round(share * 100)}
      aria-valuetext={
        share === null
          ? 'not measured'
          : `${Math.round(share * 100)} %; warning above ${Math.round(threshold * 100)} %, alert above ${Math.round(red * 100)} %`
      }
    >
      <span className="drift-sharebar-band level-green" style={{ width: `${threshold * 100}%` }} />
      <span
        className="drift-sharebar-band level-yellow"
        style={{ width: `${(red - threshold) * 100}%` }}
      />
      <span className="drift-sharebar-band level-red" style={{ width: `${(1 - red) * 100}%` }} />
      {share !== null && (
        <span className="drift-sharebar-marker" style={{ left: `${share * 100}%` }} />
      )}
    </div>
  );
}

function CameraDrift({ camera }: { camera: DriftCameraStatus }) {
  const features = camera.features;
  return (
    <>
      <Panel title={`Camera ${camera.camera}`}>
        <div className="stat-row">
          <Stat
            label="State"
            value={<StateBadge level={camera.level} label={levelWord(camera.level)} />}
          />
          <Stat label="Status" value={STATUS_TEXT[camera.status]} />
          <Stat label="Drift share" value={formatPercent(camera.driftShare, 0)} />
          <Stat
            label="Drifted"
            value={`${camera.driftedFeatures.length} / ${camera.testedFeatures}`}
          />
          <Stat label="Window" value={camera.window.samples} unit="frames" />
          <Stat
            label="Checked"
            value={formatRelative(camera.checkedAt)}
            hint={formatDateTime(camera.checkedAt)}
          />
        </div>
        <p>{camera.reason}</p>
        {camera.baseline?.state === 'collecting' && (
          <p className="notice">
            Collecting the baseline: {camera.baseline.samples} of {camera.baseline.needed} frames.
          </p>
        )}
        <Table
          caption={`Feature tests of ${camera.camera}`}
          columns={[
            { key: 'feature', header: 'Feature', render: (f: DriftFeature) => f.feature },
            {
              key: 'drifted',
              header: 'Result',
              render: (f) =>
                f.status !== 'tested' ? (
                  <span className="muted">○ not tested</span>
                ) : f.drifted ? (
                  <strong className="drift-drifted">▲ drifted</strong>
                ) : (
                  <span className="drift-stable">● stable</span>
                ),
            },
            { key: 'test', header: 'Test', render: (f) => (f.test === 'ks' ? 'KS' : 'χ²') },
            {
              key: 'statistic',
              header: 'Statistic',
              align: 'right',
              render: (f) => formatNumber(f.statistic, 3),
            },
            { key: 'p', header: 'p-value', align: 'right', render: (f) => formatP(f.pValue) },
            {
              key: 'pa',
              header: 'adjusted p',
              align: 'right',
              render: (f) => formatP(f.adjustedPValue),
            },
            {
              key: 'median',
              header: 'Median ref → now',
              align: 'right',
              render: (f) =>
                f.referenceMedian === null
                  ? '—'
                  : `${formatNumber(f.referenceMedian, 2)} → ${formatNumber(f.currentMedian, 2)}`,
            },
            {
              key: 'n',
              header: 'n ref / now',
              align: 'right',
              render: (f) => `${f.nRef} / ${f.nCur}`,
            },
          ]}
          rows={features}
          rowKey={(f) => f.feature}
          empty="No features were compared in this check."
        />
      </Panel>
      <Panel title="Distributions: reference vs current">
        <DistributionLegend />
        <div className="drift-distributions">
          {features.map((f) => (
            <figure key={f.feature} className="drift-distribution">
              <figcaption>
                <strong>{f.feature}</strong>{' '}
                {f.drifted ? (
                  <span className="drift-drifted">▲ drifted</span>
                ) : f.status === 'tested' ? (
                  <span className="drift-stable">● stable</span>
                ) : (
                  <span className="muted">○ not tested</span>
                )}{' '}
                <span className="muted">p {formatP(f.pValue)}</span>
              </figcaption>
              {f.distribution == null ? (
                <p className="muted">No distribution in this report (a side had no values).</p>
              ) : (
                <DistributionChart feature={f.feature} distribution={f.distribution} />
              )}
            </figure>
          ))}
        </div>
      </Panel>
    </>
  );
}
