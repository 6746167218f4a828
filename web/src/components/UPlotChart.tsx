/**
 * A uPlot chart that is created once and then updated IN PLACE: new `data` goes through
 * `setData` (no re-creation, so live charts stay cheap), the width follows the container
 * (ResizeObserver → setSize). Pass a new `optionsKey` to rebuild (e.g. the series changed).
 *
 * `options` is read when the chart is (re)built; keep it stable (useMemo) or change
 * `optionsKey` when it must change.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface UPlotChartProps {
  /** Everything but width/height (taken from the container and `height`). */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height: number;
  /** Change to rebuild the chart with new options. */
  optionsKey?: string;
  /** Text alternative (charts are images to screen readers). */
  label: string;
}

export function UPlotChart({ options, data, height, optionsKey, label }: UPlotChartProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const chartRef = useRef<uPlot | null>(null);
  const dataRef = useRef(data);
  dataRef.current = data;
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const container = containerRef.current;
    if (container === null) return;
    const width = Math.max(200, container.clientWidth);
    const chart = new uPlot({ ...optionsRef.current, width, height }, dataRef.current, container);
    chartRef.current = chart;
    const observer = new ResizeObserver(() => {
      const next = Math.max(200, container.clientWidth);
      if (next !== chart.width) chart.setSize({ width: next, height });
    });
    observer.observe(container);
    return () => {
      observer.disconnect();
      chart.destroy();
      chartRef.current = null;
    };
  }, [height, optionsKey]);

  useEffect(() => {
    chartRef.current?.setData(data);
  }, [data]);

  return <div ref={containerRef} className="chart" role="img" aria-label={label} />;
}
