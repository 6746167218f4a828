/**
 * The overview: is the line healthy right now? Each component's state (server, job worker,
 * trainer, each agent), the line's numbers over the last minute (per camera: camera / detect /
 * skipped FPS, inference latency, defect and uncertain rates), the confidence histogram,
 * production version, labeling queue, drift level, retraining state, and a live strip of recent
 * frames with their boxes and decisions.
 *
 * Numbers come from the HTTP API (polled, and refreshed when a live event says they changed);
 * frames come from the live channel, applied once per animation frame.
 */
import { Suspense, lazy, useMemo, useRef, useState } from 'react';
import { agentListResponseSchema } from '../../../../src/shared/api/agents';
import type { AgentStatus } from '../../../../src/shared/api/agents';
import { driftStatusResponseSchema } from '../../../../src/shared/api/drift';
import type { FrameEvent } from '../../../../src/shared/api/events';
import { healthResponseSchema } from '../../../../src/shared/api/health';
import { jobWorkersResponseSchema } from '../../../../src/shared/api/jobs';
import { statsResponseSchema } from '../../../../src/shared/api/labeling';
import { metricsResponseSchema } from '../../../../src/shared/api/metrics';
import type { CameraMetrics } from '../../../../src/shared/api/metrics';
import { modelStatusResponseSchema } from '../../../../src/shared/api/model-status';
import { retrainingStatusSchema } from '../../../../src/shared/api/retraining';
import type { RetrainingStatus } from '../../../../src/shared/api/retraining';
import { OVERVIEW_WINDOW_SECONDS } from '../../app/paths';
import { Link } from '../../app/router';
import { ErrorBanner } from '../../components/ErrorBanner';
import { FrameWithBoxes } from '../../components/FrameWithBoxes';
import { StateBadge } from '../../components/StateBadge';
import type { StateLevel } from '../../components/StateBadge';
import { Panel, Stat } from '../../components/Stat';
import { Table } from '../../components/Table';
import type { Column } from '../../components/Table';
import { api } from '../../lib/api';
import {
  formatDuration,
  formatNumber,
  formatPercent,
  formatRelative,
  formatTime,
} from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import './overview.css';

/**
 * uPlot (the chart) loads after the page's numbers: the overview's first paint and live data
 * do not wait for it (docs/dashboard.md#speed).
 */
const Histogram = lazy(async () => ({
  default: (await import('../../components/Histogram')).Histogram,
}));

/** The metrics window the overview shows, seconds (its first request is prefetched: paths.ts). */
const WINDOW_SECONDS = OVERVIEW_WINDOW_SECONDS;
/** Frames kept in the live strip (those with a stored image) and in the decision ticker. */
const STRIP_FRAMES = 6;
const TICKER_FRAMES = 60;

interface LiveFrames {
  /** Frame events received since the page opened. */
  received: number;
  /** Newest first, frames likely to have a stored JPEG (uncertain or sampled). */
  strip: FrameEvent[];
  /** Newest first, every frame event (for the decision ticker). */
  ticker: FrameEvent[];
  lastAt: number | null;
}

function retrainingLevel(status: RetrainingStatus | undefined): {
  level: StateLevel;
  label: string;
} {
  if (status === undefined) return { level: 'unknown', label: 'Unknown' };
  switch (status.state) {
    case 'idle':
    case 'completed':
      return { level: 'green', label: status.state === 'idle' ? 'Idle' : 'Completed' };
    case 'queued':
      return { level: 'yellow', label: 'Queued' };
    case 'running': {
      const epoch =
        status.epoch !== null && status.epochs !== null
          ? ` (epoch ${status.epoch}/${status.epochs})`
          : '';
      return { level: 'yellow', label: `Training${epoch}` };
    }
    case 'evaluating':
      return { level: 'yellow', label: 'Evaluating' };
    case 'rejected':
      return { level: 'yellow', label: 'Candidate rejected' };
    case 'cancelled':
      return { level: 'yellow', label: 'Cancelled' };
    case 'failed':
      return { level: 'red', label: 'Failed' };
  }
}

interface CameraRow {
  camera: string;
  agent: AgentStatus | null;
  metrics: CameraMetrics | null;
}

export default function OverviewPage() {
  const health = useQuery(
    (signal) => api.get('/api/health', healthResponseSchema, { signal }),
    [],
    {
      refreshMs: 5000,
    },
  );
  const metrics = useQuery(
    (signal) =>
      api.get('/api/metrics', metricsResponseSchema, { signal, query: { window: WINDOW_SECONDS } }),
    [],
    { refreshMs: 2000 },
  );
  const agents = useQuery(
    (signal) => api.get('/api/agents', agentListResponseSchema, { signal }),
    [],
    {
      refreshMs: 5000,
    },
  );
  const modelStatus = useQuery(
    (signal) => api.get('/api/model-status', modelStatusResponseSchema, { signal }),
    [],
    { refreshMs: 15_000 },
  );
  const queue = useQuery(
    (signal) => api.get('/api/labeling-queue/stats', statsResponseSchema, { signal }),
    [],
    { refreshMs: 10_000 },
  );
  const drift = useQuery(
    (signal) => api.get('/api/metrics/drift', driftStatusResponseSchema, { signal }),
    [],
    {
      refreshMs: 15_000,
    },
  );
  const retraining = useQuery(
    (signal) => api.get('/api/retraining/status', retrainingStatusSchema, { signal }),
    [],
    { refreshMs: 5000 },
  );
  const workers = useQuery(
    (signal) => api.get('/api/jobs/workers', jobWorkersResponseSchema, { signal }),
    [],
    {
      refreshMs: 10_000,
    },
  );

  const [live, setLive] = useState<LiveFrames>({
    received: 0,
    strip: [],
    ticker: [],
    lastAt: null,
  });
  const refreshers = useRef({ modelStatus, queue, drift, agents, retraining });
  refreshers.current = { modelStatus, queue, drift, agents, retraining };

  useEvents(['frame'], (batch) => {
    // One state update per animation frame, whatever the batch size.
    setLive((previous) => {
      const newest = [...batch].reverse();
      const stored = newest.filter(
        (event) => event.result.uncertain || event.result.sampling !== undefined,
      );
      return {
        received: previous.received + batch.length,
        strip:
          stored.length === 0
            ? previous.strip
            : [...stored, ...previous.strip].slice(0, STRIP_FRAMES),
        ticker: [...newest, ...previous.ticker].slice(0, TICKER_FRAMES),
        lastAt: batch[batch.length - 1]?.at ?? previous.lastAt,
      };
    });
  });
  useEvents(['model', 'labeling', 'drift', 'agent'], (batch) => {
    const types = new Set(batch.map((event) => event.type));
    const current = refreshers.current;
    if (types.has('model')) current.modelStatus.refresh();
    if (types.has('labeling')) current.queue.refresh();
    if (types.has('drift')) current.drift.refresh();
    if (types.has('agent')) current.agents.refresh();
  });

  const cameraRows = useMemo<CameraRow[]>(() => {
    const rows = new Map<string, CameraRow>();
    for (const agent of agents.data?.agents ?? []) {
      rows.set(agent.camera, { camera: agent.camera, agent, metrics: null });
    }
    for (const camera of metrics.data?.cameras ?? []) {
      const row = rows.get(camera.camera);
      if (row === undefined)
        rows.set(camera.camera, { camera: camera.camera, agent: null, metrics: camera });
      else row.metrics = camera;
    }
    return [...rows.values()].sort((a, b) => a.camera.localeCompare(b.camera));
  }, [agents.data, metrics.data]);

  const overall = metrics.data?.overall;
  const production = modelStatus.data?.production ?? null;
  const workerList = workers.data?.workers;
  const retrainingView = retrainingLevel(retraining.data);
  const driftOverall = drift.data?.overall;
  const pending = queue.data?.counts.pending;
  const firstError =
    health.error ??
    metrics.error ??
    agents.error ??
    modelStatus.error ??
    queue.error ??
    drift.error ??
    retraining.error;

  const columns: Column<CameraRow>[] = [
    { key: 'camera', header: 'Camera', render: (row) => <strong>{row.camera}</strong> },
    {
      key: 'state',
      header: 'Agent',
      render: (row) =>
        row.agent === null ? (
          <StateBadge level="unknown" label="No agent" />
        ) : row.agent.online ? (
          <StateBadge
            level="green"
            label="Online"
            title={`last seen ${formatTime(row.agent.lastSeenAt ?? 0)}`}
          />
        ) : (
          <StateBadge
            level="red"
            label="Offline"
            title={
              row.agent.lastSeenAt === null
                ? 'never seen'
                : `last seen ${formatRelative(row.agent.lastSeenAt)}`
            }
          />
        ),
    },
    {
      key: 'cameraFps',
      header: 'Camera FPS',
      align: 'right',
      render: (row) => formatNumber(row.agent?.heartbeat?.cameraFps ?? row.metrics?.fps),
    },
    {
      key: 'detectFps',
      header: 'Detect FPS',
      align: 'right',
      render: (row) => formatNumber(row.agent?.heartbeat?.processFps ?? row.metrics?.inferredFps),
    },
    {
      key: 'skippedFps',
      header: 'Skipped FPS',
      align: 'right',
      render: (row) =>
        formatNumber(
          row.agent?.heartbeat?.skippedFps ??
            (row.metrics === null ? null : row.metrics.fps - row.metrics.inferredFps),
        ),
    },
    {
      key: 'latency',
      header: 'Inference p50 / p95',
      align: 'right',
      render: (row) => {
        const inference = row.metrics?.latencyMs.inference;
        return inference === null || inference === undefined
          ? '—'
          : `${formatNumber(inference.p50)} / ${formatNumber(inference.p95)} ms`;
      },
    },
    {
      key: 'defect',
      header: 'Defect rate',
      align: 'right',
      render: (row) => formatPercent(row.metrics?.defectRate),
    },
    {
      key: 'uncertain',
      header: 'Uncertain rate',
      align: 'right',
      render: (row) => formatPercent(row.metrics?.uncertainRate),
    },
    {
      key: 'model',
      header: 'Model',
      render: (row) => row.agent?.heartbeat?.modelVersion ?? row.agent?.modelVersion ?? '—',
    },
    {
      key: 'outbox',
      header: 'Outbox',
      align: 'right',
      render: (row) =>
        row.agent?.outboxDepth === null || row.agent === null ? '—' : String(row.agent.outboxDepth),
    },
  ];

  const histogram = overall?.confidenceHistogram;

  return (
    <div className="overview">
      <div className="overview-title">
        <h1>Overview</h1>
        <span className="muted">
          Last {WINDOW_SECONDS} s
          {metrics.updatedAt !== null && <> · updated {formatTime(metrics.updatedAt)}</>}
        </span>
      </div>
      {firstError !== undefined && <ErrorBanner error={firstError} what="part of the overview" />}

      <section className="overview-kpis" aria-label="Key numbers">
        <Stat
          label="Frames / s"
          value={formatNumber(overall?.fps)}
          hint="all cameras, frames captured per second"
        />
        <Stat label="Frames (60 s)" value={overall?.frames ?? '—'} />
        <Stat label="Live frames" value={live.received} hint="frame events received by this page" />
        <Stat label="Defect rate" value={formatPercent(overall?.defectRate)} />
        <Stat label="Uncertain rate" value={formatPercent(overall?.uncertainRate)} />
        <Stat
          label="Inference p50"
          value={formatNumber(overall?.latencyMs.inference?.p50)}
          unit="ms"
        />
        <Stat label="Production" value={production?.version ?? '—'} hint={production?.sha256} />
        <Stat label="Queue pending" value={pending ?? '—'} />
      </section>

      <div className="overview-grid">
        <Panel title="Components" className="overview-components">
          <ul className="component-list">
            <li>
              <span>Server</span>
              {health.data === undefined ? (
                <StateBadge level="unknown" />
              ) : health.data.status === 'ok' ? (
                <StateBadge
                  level="green"
                  label={`OK · db ${formatNumber(health.data.database.roundTripMs)} ms`}
                />
              ) : (
                <StateBadge
                  level="red"
                  label="Degraded"
                  title={health.data.database.error ?? health.data.blobStore.error}
                />
              )}
            </li>
            <li>
              <span>Job worker</span>
              {workerList === undefined ? (
                <StateBadge level="unknown" />
              ) : workerList.length > 0 ? (
                <StateBadge level="green" label={`${workerList.length} running`} />
              ) : (
                <StateBadge
                  level="red"
                  label="None running"
                  title="drift checks and trainings wait for a worker"
                />
              )}
            </li>
            <li>
              <span>Trainer</span>
              <StateBadge level={retrainingView.level} label={retrainingView.label} />
            </li>
            <li>
              <span>Drift</span>
              <StateBadge
                level={driftOverall?.level ?? 'unknown'}
                label={
                  driftOverall === undefined
                    ? 'Unknown'
                    : `${driftLevelWord(driftOverall.level)}${
                        driftOverall.driftShare === null
                          ? ''
                          : ` · share ${formatPercent(driftOverall.driftShare, 0)}`
                      }`
                }
              />
            </li>
            {(agents.data?.agents ?? []).map((agent) => (
              <li key={agent.id}>
                <span>Agent {agent.camera}</span>
                <StateBadge
                  level={agent.online ? 'green' : 'red'}
                  label={agent.online ? 'Online' : 'Offline'}
                />
              </li>
            ))}
          </ul>
          <dl className="overview-facts">
            <dt>Production model</dt>
            <dd>
              {production === null ? 'none' : <Link to="/models">{production.version}</Link>}
              {production !== null && (
                <span className="muted"> · since {formatRelative(production.updatedAt)}</span>
              )}
            </dd>
            <dt>Labeling queue</dt>
            <dd>
              {queue.data === undefined
                ? '—'
                : `${queue.data.counts.pending} pending · ${queue.data.counts.labeled} labeled · ${queue.data.reviewedLabels} reviewed labels`}
            </dd>
            <dt>Retraining</dt>
            <dd>
              {retrainingView.label}
              {retraining.data?.etaSeconds !== null &&
                retraining.data?.etaSeconds !== undefined && (
                  <> · ETA {formatDuration(retraining.data.etaSeconds)}</>
                )}
            </dd>
          </dl>
        </Panel>

        <Panel title="Confidence histogram" className="overview-histogram">
          {histogram === undefined ? (
            <p className="muted">Waiting for frames…</p>
          ) : (
            <>
              <Suspense fallback={<p className="loading histogram-loading">Loading the chart…</p>}>
                <Histogram
                  edges={histogram.edges}
                  counts={histogram.counts}
                  xLabel="confidence"
                  yLabel="detections"
                  label={`Confidence of ${histogram.counts.reduce((a, b) => a + b, 0)} detections in the last ${WINDOW_SECONDS} s`}
                />
              </Suspense>
              <p className="muted">
                Uncertain band {histogram.uncertainBand.low}–{histogram.uncertainBand.high}:{' '}
                {histogram.inBand} detections inside it.
              </p>
            </>
          )}
        </Panel>
      </div>

      <Panel title="Cameras">
        <Table
          caption="Cameras over the last minute"
          captionHidden
          columns={columns}
          rows={cameraRows}
          rowKey={(row) => row.camera}
          empty="No camera has sent results yet."
        />
      </Panel>

      <Panel
        title="Live frames"
        actions={
          <span className="muted">
            {live.lastAt === null ? 'waiting for frames…' : `latest ${formatTime(live.lastAt)}`}
          </span>
        }
      >
        <ol className="decision-ticker" aria-label="Decisions of the latest frames, newest first">
          {live.ticker.map((event) => (
            <li
              key={event.result.id}
              className={`tick tick-${event.result.decision === 'FAIL' ? 'fail' : event.result.uncertain ? 'uncertain' : 'pass'}`}
              title={`${event.result.camera} #${event.result.frameIndex}: ${event.result.decision}${event.result.uncertain ? ' (uncertain)' : ''}`}
            >
              {event.result.decision === 'FAIL' ? '■' : event.result.uncertain ? '▲' : '●'}
            </li>
          ))}
        </ol>
        <p className="muted ticker-legend">
          ● pass · ■ fail · ▲ uncertain; frames below are those with a stored image.
        </p>
        <ul className="frame-strip" aria-label="Recent frames with stored images">
          {live.strip.map((event) => {
            const result = event.result;
            return (
              <li key={result.id}>
                <FrameWithBoxes
                  frameId={result.id}
                  width={result.width}
                  height={result.height}
                  alt={`${result.camera} frame ${result.frameIndex}: ${result.decision}, ${result.detections.length} detections`}
                  boxes={result.detections.map((detection) => ({
                    ...detection.box,
                    label: `${detection.className} ${detection.confidence.toFixed(2)}`,
                    tone: result.uncertain ? 'uncertain' : 'defect',
                  }))}
                />
                <div className="strip-caption">
                  <StateBadge
                    level={result.decision === 'FAIL' ? 'red' : 'green'}
                    label={result.decision === 'FAIL' ? 'Fail' : 'Pass'}
                  />
                  {result.uncertain && <StateBadge level="yellow" label="Uncertain" />}
                  <span className="muted">
                    {result.camera} · {formatTime(result.capturedAt)}
                  </span>
                </div>
              </li>
            );
          })}
          {live.strip.length === 0 && <li className="muted">No stored frames yet.</li>}
        </ul>
      </Panel>
    </div>
  );
}

function driftLevelWord(level: StateLevel): string {
  switch (level) {
    case 'green':
      return 'No drift';
    case 'yellow':
      return 'Some drift';
    case 'red':
      return 'Drift';
    case 'unknown':
      return 'Unknown';
  }
}
