/**
 * One feature's reference and current distribution drawn over each other: numeric features
 * as two step histograms on the shared bins the drift report carries (reference filled blue,
 * current dashed orange), categorical ones as paired bars per category.
 */
import { useMemo } from 'react';
import uPlot from 'uplot';
import type { DriftDistribution } from '../../../../src/shared/api/drift';
import { UPlotChart } from '../../components/UPlotChart';

const REFERENCE_COLOR = '#1f5fbf';
const CURRENT_COLOR = '#d35400';

export function DistributionChart({
  feature,
  distribution,
}: {
  feature: string;
  distribution: DriftDistribution;
}) {
  if (distribution.kind === 'categories') {
    return <CategoryBars feature={feature} distribution={distribution} />;
  }
  return <HistogramOverlay feature={feature} distribution={distribution} />;
}

function HistogramOverlay({
  feature,
  distribution,
}: {
  feature: string;
  distribution: Extract<DriftDistribution, { kind: 'histogram' }>;
}) {
  const options = useMemo(
    () => ({
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false },
        y: {
          range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [
            0,
            Math.max(0.05, max * 1.1),
          ],
        },
      },
      axes: [
        // uPlot's own tick labels carry as many decimals as the split step needs.
        { size: 30 },
        {
          size: 42,
          values: (_u: uPlot, splits: number[]) => splits.map((v) => `${Math.round(v * 100)}%`),
        },
      ],
      series: [
        {},
        {
          label: 'reference',
          stroke: REFERENCE_COLOR,
          fill: `${REFERENCE_COLOR}33`,
          width: 2,
          paths: uPlot.paths.stepped?.({ align: 1 }),
          points: { show: false },
        },
        {
          label: 'current',
          stroke: CURRENT_COLOR,
          width: 2,
          dash: [6, 4],
          paths: uPlot.paths.stepped?.({ align: 1 }),
          points: { show: false },
        },
      ],
    }),
    [],
  );
  // Steps: each share from its bin's left edge; the last edge repeats the last share.
  const data = useMemo<uPlot.AlignedData>(() => {
    const { edges, reference, current } = distribution;
    const last = (values: readonly number[]) => values[values.length - 1] ?? 0;
    return [[...edges], [...reference, last(reference)], [...current, last(current)]];
  }, [distribution]);
  return (
    <UPlotChart
      options={options}
      data={data}
      height={130}
      label={`${feature}: reference and current distribution`}
    />
  );
}

function CategoryBars({
  feature,
  distribution,
}: {
  feature: string;
  distribution: Extract<DriftDistribution, { kind: 'categories' }>;
}) {
  return (
    <table
      className="drift-category-bars"
      aria-label={`${feature}: share per category, reference and current`}
    >
      <tbody>
        {distribution.categories.map((category, index) => {
          const ref = distribution.reference[index] ?? 0;
          const cur = distribution.current[index] ?? 0;
          return (
            <tr key={category}>
              <th scope="row">{category}</th>
              <td>
                <span className="drift-bar drift-bar-reference" style={{ width: `${ref * 70}%` }} />
                <span className="drift-bar-value">ref {Math.round(ref * 100)}%</span>
                <br />
                <span className="drift-bar drift-bar-current" style={{ width: `${cur * 70}%` }} />
                <span className="drift-bar-value">now {Math.round(cur * 100)}%</span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function DistributionLegend() {
  return (
    <p className="drift-legend">
      <span className="drift-swatch drift-swatch-reference" aria-hidden="true" /> reference
      (baseline, solid) <span className="drift-swatch drift-swatch-current" aria-hidden="true" />{' '}
      current window (dashed)
    </p>
  );
}
