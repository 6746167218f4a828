/**
 * The drift share of the last 7 days (`/api/metrics/drift/history`) over green/yellow/red
 * bands (below the drift threshold, up to the red threshold, above it), with the threshold
 * drawn as a dashed line. Bands are labelled in the plot (text, not only colour). Times are in
 * the browser's time zone (uPlot's default).
 */
import { useMemo } from 'react';
import type uPlot from 'uplot';
import type { DriftHistoryPoint } from '../../../../src/shared/api/drift';
import { UPlotChart } from '../../components/UPlotChart';

const BANDS = [
  { name: 'green', fill: 'rgba(26,127,55,0.10)', text: '● OK' },
  { name: 'yellow', fill: 'rgba(154,103,0,0.13)', text: '▲ Warning' },
  { name: 'red', fill: 'rgba(198,40,40,0.12)', text: '■ Alert' },
] as const;

export function DriftTimeline({
  points,
  threshold,
  redThreshold,
  from,
  to,
}: {
  points: readonly DriftHistoryPoint[];
  threshold: number;
  redThreshold: number;
  from: number;
  to: number;
}) {
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => {
    const drawBands = (u: uPlot) => {
      const { ctx, bbox } = u;
      const limits = [0, threshold, redThreshold, 1];
      ctx.save();
      ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
      BANDS.forEach((band, index) => {
        const top = u.valToPos(limits[index + 1] ?? 1, 'y', true);
        const bottom = u.valToPos(limits[index] ?? 0, 'y', true);
        ctx.fillStyle = band.fill;
        ctx.fillRect(bbox.left, top, bbox.width, bottom - top);
        ctx.fillStyle = '#5b6573';
        if (bottom - top > 14 * devicePixelRatio) {
          ctx.fillText(band.text, bbox.left + 6 * devicePixelRatio, top + 13 * devicePixelRatio);
        }
      });
      ctx.restore();
    };
    return {
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true }, y: { range: [0, 1] } },
      axes: [
        {},
        { size: 48, values: (_u, splits) => splits.map((v) => `${Math.round(v * 100)}%`) },
      ],
      series: [
        {},
        {
          label: 'Drift share',
          stroke: '#11263f',
          width: 2,
          points: { show: true, size: 5 },
          spanGaps: false,
          value: (_u, v) => (v == null ? '—' : `${(v * 100).toFixed(0)} %`),
        },
        {
          label: `Threshold ${Math.round(threshold * 100)} %`,
          stroke: '#9a6700',
          width: 1.5,
          dash: [6, 4],
          points: { show: false },
          value: () => `${Math.round(threshold * 100)} %`,
        },
      ],
      hooks: { drawClear: [drawBands] },
    };
  }, [threshold, redThreshold]);

  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = points.map((p) => p.at / 1000);
    const shares = points.map((p) => p.driftShare);
    // The range's ends (so the axis spans 7 days) and the threshold as a line across it.
    const x = [from / 1000, ...xs, to / 1000];
    return [x, [null, ...shares, null], x.map(() => threshold)];
  }, [points, threshold, from, to]);

  return (
    <UPlotChart
      options={options}
      data={data}
      height={220}
      optionsKey={`${threshold}|${redThreshold}`}
      label={`Drift share over the last 7 days against the ${Math.round(threshold * 100)} % threshold`}
    />
  );
}
