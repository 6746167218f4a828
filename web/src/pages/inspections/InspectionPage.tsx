/**
 * One frame result (`GET /api/inspection-logs/{id}`): the frame with its boxes, the
 * detections, the image features drift is computed from, the decision and the model version.
 */
import { inspectionLogItemSchema } from '../../../../src/shared/api/inspection-logs';
import type { PageProps } from '../../app/routes';
import { Link } from '../../app/router';
import { ErrorBanner } from '../../components/ErrorBanner';
import type { FrameBox } from '../../components/FrameWithBoxes';
import { FrameWithBoxes } from '../../components/FrameWithBoxes';
import { Panel } from '../../components/Stat';
import { Table } from '../../components/Table';
import { api } from '../../lib/api';
import { formatDateTime, formatNumber } from '../../lib/time';
import { useQuery } from '../../lib/use-query';
import { DecisionBadge, UncertainMark } from './DecisionBadge';
import './inspections.css';

const FEATURE_LABELS: Record<string, string> = {
  brightness: 'Brightness',
  contrast: 'Contrast',
  sharpness: 'Sharpness',
  saturation: 'Saturation',
  noise: 'Noise',
  colorCast: 'Colour cast',
  edgeDensity: 'Edge density',
};

export default function InspectionPage({ params }: PageProps) {
  const id = params.id ?? '';
  const result = useQuery(
    (signal) =>
      api.get(`/api/inspection-logs/${encodeURIComponent(id)}`, inspectionLogItemSchema, {
        signal,
      }),
    [id],
  );
  const back = `/inspections${window.location.search}`;
  const item = result.data;

  return (
    <div className="inspections">
      <Link to={back} className="inspection-back">
        ← All inspections
      </Link>
      <h1>Inspection {item === undefined ? '' : `${item.camera} · frame ${item.frameIndex}`}</h1>
      <ErrorBanner error={result.error} onRetry={result.refresh} what="this frame result" />
      {item === undefined ? (
        result.loading && <p className="loading">Loading…</p>
      ) : (
        <div className="inspection-detail">
          <Panel title="Frame">
            <FrameWithBoxes
              frameId={item.hasFrame ? item.id : null}
              width={item.width}
              height={item.height}
              alt={`${item.camera} frame ${item.frameIndex}: ${item.decision}, ${item.detections.length} detections`}
              boxes={item.detections.map((d): FrameBox => ({
                ...d.box,
                label: `${d.className} ${(d.confidence * 100).toFixed(0)}%`,
                tone: item.uncertain && d.confidence < 0.7 ? 'uncertain' : 'defect',
              }))}
            />
            {!item.hasFrame && (
              <p className="muted">
                The agent did not upload this frame's image (only sampled frames are kept); the
                boxes are listed beside.
              </p>
            )}
          </Panel>
          <div className="inspection-side">
            <Panel title="Decision">
              <dl>
                <dt>Decision</dt>
                <dd>
                  <DecisionBadge decision={item.decision} />
                </dd>
                <dt>Uncertain</dt>
                <dd>{item.uncertain ? <UncertainMark /> : 'no'}</dd>
                <dt>Model version</dt>
                <dd>
                  <Link to={`/models/${encodeURIComponent(item.modelVersion)}`}>
                    {item.modelVersion}
                  </Link>
                  {item.inferred ? '' : ' (carried forward: the motion gate skipped inference)'}
                </dd>
                <dt>Captured</dt>
                <dd>{formatDateTime(item.capturedAt)}</dd>
                <dt>Received</dt>
                <dd>{formatDateTime(item.receivedAt)}</dd>
                <dt>Camera</dt>
                <dd>{item.camera}</dd>
                <dt>Size</dt>
                <dd>
                  {item.width}×{item.height}
                </dd>
                <dt>Latency</dt>
                <dd>
                  {formatNumber(item.latencies.totalMs)} ms total (inference{' '}
                  {formatNumber(item.latencies.inferenceMs)} ms)
                </dd>
                <dt>Result id</dt>
                <dd>
                  <code>{item.id}</code>
                </dd>
              </dl>
            </Panel>
            <Panel title="Detections">
              <Table
                caption="Detections"
                captionHidden
                columns={[
                  { key: 'class', header: 'Class', render: (d) => d.className },
                  {
                    key: 'conf',
                    header: 'Confidence',
                    align: 'right',
                    render: (d) => `${(d.confidence * 100).toFixed(1)} %`,
                  },
                  {
                    key: 'box',
                    header: 'Box (x1, y1, x2, y2)',
                    render: (d) =>
                      [d.box.x1, d.box.y1, d.box.x2, d.box.y2].map((v) => Math.round(v)).join(', '),
                  },
                ]}
                rows={item.detections.map((d, index) => ({ ...d, index }))}
                rowKey={(d) => String(d.index)}
                empty="No defects detected."
              />
            </Panel>
            <Panel title="Image features">
              <dl>
                {Object.entries(item.features).map(([name, value]) => (
                  <div key={name} style={{ display: 'contents' }}>
                    <dt>{FEATURE_LABELS[name] ?? name}</dt>
                    <dd>{formatNumber(value, 3)}</dd>
                  </div>
                ))}
              </dl>
            </Panel>
          </div>
        </div>
      )}
    </div>
  );
}
