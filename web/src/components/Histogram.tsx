/**
 * A bar histogram on uPlot: `counts[i]` is the bar over [edges[i], edges[i+1]). Updates in
 * place. Bars are drawn by uPlot's bars path builder; x is the bin's left edge.
 */
import { useMemo } from 'react';
import uPlot from 'uplot';
import { UPlotChart } from './UPlotChart';

export interface HistogramProps {
  /** Bin edges, counts.length + 1 of them. */
  edges: readonly number[];
  counts: readonly number[];
  label: string;
  xLabel?: string;
  yLabel?: string;
  height?: number;
  color?: string;
}

export function Histogram({
  edges,
  counts,
  label,
  xLabel,
  yLabel = 'count',
  height = 180,
  color = '#1f5fbf',
}: HistogramProps) {
  const lo = edges[0] ?? 0;
  const hi = edges[edges.length - 1] ?? 1;
  const options = useMemo(
    () => ({
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // The x range is the edges' (the last bar starts at the last-but-one edge).
      scales: { x: { time: false, range: (): uPlot.Range.MinMax => [lo, hi] } },
      axes: [
        { label: xLabel, size: xLabel === undefined ? 30 : 44 },
        { label: yLabel, size: 50 },
      ],
      series: [
        {},
        {
          label: yLabel,
          stroke: color,
          fill: `${color}99`,
          paths: uPlot.paths.bars?.({ size: [0.9, 100], align: 1 }),
          points: { show: false },
        },
      ],
    }),
    [xLabel, yLabel, color, lo, hi],
  );
  const data = useMemo<uPlot.AlignedData>(
    () => [edges.slice(0, counts.length), [...counts]],
    [edges, counts],
  );
  return (
    <UPlotChart
      options={options}
      data={data}
      height={height}
      label={label}
      optionsKey={`${xLabel ?? ''}|${yLabel}|${color}|${lo}|${hi}`}
    />
  );
}
