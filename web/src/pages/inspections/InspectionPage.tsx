/**
 * One frame result (`GET /api/inspection-logs/{id}`): the frame with its boxes and the segment
 * stage's mask outlines, the detections with what the classify and segment stages said about
 * each (crop class, vetoed, area), the decision with the rule that decided it, the stage
 * timings, the shadow model's output when it ran on this frame (its boxes dashed teal, shown
 * or hidden with a toggle), the image features drift is computed from and the model version.
 */
import { useState } from 'react';
import { inspectionLogItemSchema } from '../../../../src/shared/api/inspection-logs';
import type { InspectionLogItem } from '../../../../src/shared/api/inspection-logs';
import type { PageProps } from '../../app/paths';
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
import {
  decidedByText,
  detectionStageRows,
  formatArea,
  maskOutlines,
  shadowBoxes,
  stageTimingsText,
} from './stages';
import type { DetectionStageRow } from './stages';
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

type DetectionRow = InspectionLogItem['detections'][number] & {
  index: number;
  stage: DetectionStageRow | undefined;
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
  const [showShadow, setShowShadow] = useState(true);
  const stageRows = item === undefined ? [] : detectionStageRows(item);
  const hasStages = item?.stages !== undefined;
  const timings = item === undefined ? null : stageTimingsText(item);

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
              boxes={[
                ...item.detections.map((d, index): FrameBox => ({
                  ...d.box,
                  label: `${d.className} ${(d.confidence * 100).toFixed(0)}%${
                    stageRows[index]?.vetoed === true ? ' vetoed' : ''
                  }`,
                  tone: item.uncertain && d.confidence < 0.7 ? 'uncertain' : 'defect',
                })),
                ...(showShadow ? shadowBoxes(item) : []),
              ]}
              polygons={maskOutlines(item)}
            />
            {item.shadow !== undefined && (
              <label className="inspection-shadow-toggle">
                <input
                  type="checkbox"
                  checked={showShadow}
                  onChange={(event) => setShowShadow(event.target.checked)}
                />{' '}
                Show the shadow's boxes (dashed teal, {item.shadow.version})
              </label>
            )}
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
                <dt>Decided by</dt>
                <dd data-testid="decided-by">{decidedByText(item)}</dd>
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
                {timings !== null && (
                  <>
                    <dt>Stage timings</dt>
                    <dd>{timings}</dd>
                  </>
                )}
                {item.stages !== undefined && (
                  <>
                    <dt>Stage models</dt>
                    <dd>
                      {[
                        item.stages.versions.classify === undefined
                          ? null
                          : `classify ${item.stages.versions.classify}`,
                        item.stages.versions.segment === undefined
                          ? null
                          : `segment ${item.stages.versions.segment}`,
                      ]
                        .filter((part) => part !== null)
                        .join(' · ') || '—'}
                    </dd>
                    <dt>Total area</dt>
                    <dd>{formatArea(item.stages.totalAreaPx, item.stages.totalAreaMm2)}</dd>
                    {item.stages.maxSeverity !== null && (
                      <>
                        <dt>Max severity</dt>
                        <dd>{item.stages.maxSeverity}</dd>
                      </>
                    )}
                  </>
                )}
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
                  ...(hasStages
                    ? [
                        {
                          key: 'crop',
                          header: 'Crop class',
                          render: (d: DetectionRow) =>
                            d.stage?.cropClass ?? <span className="muted">—</span>,
                        },
                        {
                          key: 'veto',
                          header: 'Vetoed',
                          render: (d: DetectionRow) =>
                            d.stage?.vetoed === true ? (
                              <strong className="inspection-vetoed">
                                <span aria-hidden="true">⊘ </span>vetoed
                              </strong>
                            ) : (
                              <span className="muted">no</span>
                            ),
                        },
                        {
                          key: 'area',
                          header: 'Area',
                          align: 'right' as const,
                          render: (d: DetectionRow) =>
                            formatArea(d.stage?.areaPx ?? null, d.stage?.areaMm2 ?? null),
                        },
                      ]
                    : []),
                  {
                    key: 'box',
                    header: 'Box (x1, y1, x2, y2)',
                    render: (d) =>
                      [d.box.x1, d.box.y1, d.box.x2, d.box.y2].map((v) => Math.round(v)).join(', '),
                  },
                ]}
                rows={item.detections.map((d, index): DetectionRow => ({
                  ...d,
                  index,
                  stage: stageRows[index],
                }))}
                rowKey={(d) => String(d.index)}
                empty="No defects detected."
              />
            </Panel>
            {item.shadow !== undefined && (
              <Panel title="Shadow">
                <dl>
                  <dt>Shadow model</dt>
                  <dd>
                    <Link to={`/models/${encodeURIComponent(item.shadow.version)}`}>
                      {item.shadow.version}
                    </Link>
                  </dd>
                  <dt>Its decision</dt>
                  <dd>
                    <DecisionBadge decision={item.shadow.decision} />
                  </dd>
                  <dt>Disagreement</dt>
                  <dd>
                    {item.shadow.disagreement.toFixed(2)}{' '}
                    {item.shadow.disagrees ? (
                      <strong className="inspection-disagrees">
                        <span aria-hidden="true">▲ </span>disagrees with production
                      </strong>
                    ) : (
                      <span className="muted">(agrees)</span>
                    )}
                  </dd>
                  <dt>Its detections</dt>
                  <dd>
                    {item.shadow.detections.length === 0
                      ? 'none'
                      : item.shadow.detections
                          .map((d) => `${d.className} ${(d.confidence * 100).toFixed(0)}%`)
                          .join(', ')}
                  </dd>
                  <dt>Its inference</dt>
                  <dd>{formatNumber(item.shadow.inferenceMs)} ms</dd>
                </dl>
                <p className="muted">
                  The shadow ran beside production on this frame; its output never decides.
                </p>
              </Panel>
            )}
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
