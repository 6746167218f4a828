/**
 * Model metrics side by side: the registry stores each version's evaluation as free JSON (the
 * seed's metrics.json: `testSets.<preset>.map50`, `…perClass.<class>`; a retraining's
 * `holdouts.<recent|nominal>.map50`, its trainer's `trainer.*`). This flattens numeric leaves to
 * dotted paths, names the ones people compare (mAP@0.5 per holdout and per class, speed) and
 * orders them so one holdout's rows sit together.
 */

/** Numeric leaves of `value`, by dotted path (depth-limited like the server's comparison). */
export function flattenMetrics(value: unknown, prefix = '', depth = 0, out = new Map<string, number>()): Map<string, number> {
  if (depth > 6 || typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof child === 'number' && Number.isFinite(child)) out.set(path, child);
    else flattenMetrics(child, path, depth + 1, out);
  }
  return out;
}

export interface MetricLabel {
  /** For people: "mAP@0.5 · night". */
  label: string;
  /** Sort key: mAP of every holdout first, then per-class AP by holdout, then the rest. */
  order: string;
  /** One of the metrics shown by default. */
  key: boolean;
  /** Higher is better (for marking the best version); null: neither. */
  higherIsBetter: boolean | null;
}

/** Where the page puts the measured serving speed of a version among its metrics. */
export const SERVED_INFERENCE_PATH = 'served.inferenceMs';

const HOLDOUT = /^(?:testSets|holdouts|baseline\.holdouts)\.([^.]+)\.(.+)$/;

const STAGE_METRICS: Record<string, { label: string; order: string; higherIsBetter: boolean }> = {
  'val.accuracy': { label: 'Crop classification accuracy', order: '1', higherIsBetter: true },
  'val.veto_accuracy': { label: 'Defect / not-a-defect accuracy', order: '3', higherIsBetter: true },
  'val.mean_iou': { label: 'Mask IoU (mean)', order: '5', higherIsBetter: true },
  'val.area_error_pct_median': { label: 'Area error % (median)', order: '7', higherIsBetter: false },
  'val.area_error_pct_mean': { label: 'Area error % (mean)', order: '8', higherIsBetter: false },
};

/** How a dotted metric path reads, and whether it is a key metric. */
export function describeMetric(path: string): MetricLabel {
  if (path.startsWith('baseline.')) {
    // A retraining stores production's scores at the time beside its own: not this version's.
    return { label: `production at training time: ${path.slice(9)}`, order: `9|${path}`, key: false, higherIsBetter: null };
  }
  const holdout = HOLDOUT.exec(path);
  if (holdout !== null) {
    const [, name = '', rest = ''] = holdout;
    if (rest === 'map50') return { label: `mAP@0.5 · ${name}`, order: `1|0|${name}`, key: true, higherIsBetter: true };
    if (rest === 'map50_95') {
      return { label: `mAP@0.5:0.95 · ${name}`, order: `1|1|${name}`, key: false, higherIsBetter: true };
    }
    const perClass = /^perClass\.([^.]+)$/.exec(rest);
    if (perClass !== null) {
      return {
        label: `AP@0.5 ${perClass[1] ?? ''} · ${name}`,
        order: `2|${name}|${perClass[1] ?? ''}`,
        key: true,
        higherIsBetter: true,
      };
    }
    if (rest === 'precision' || rest === 'recall') {
      return { label: `${rest} · ${name}`, order: `3|${name}|${rest}`, key: false, higherIsBetter: true };
    }
    return { label: `${rest} · ${name}`, order: `3|${name}|~${rest}`, key: false, higherIsBetter: null };
  }
  // The classify and segment stage models' held-out scores (docs/training-stages.md).
  const stage = STAGE_METRICS[path];
  if (stage !== undefined) {
    return { label: stage.label, order: `0|${stage.order}`, key: true, higherIsBetter: stage.higherIsBetter };
  }
  const perClassAccuracy = /^val\.per_class\.([^.]+)\.accuracy$/.exec(path);
  if (perClassAccuracy !== null) {
    return {
      label: `Crop accuracy · ${perClassAccuracy[1] ?? ''}`,
      order: `0|2|${perClassAccuracy[1] ?? ''}`,
      key: true,
      higherIsBetter: true,
    };
  }
  const perKindIou = /^val\.per_kind\.([^.]+)\.mean_iou$/.exec(path);
  if (perKindIou !== null) {
    return {
      label: `Mask IoU · ${perKindIou[1] ?? ''}`,
      order: `0|6|${perKindIou[1] ?? ''}`,
      key: true,
      higherIsBetter: true,
    };
  }
  if (/(^|\.)images_per_s$/.test(path)) {
    return { label: 'Training speed (images/s)', order: `5|${path}`, key: true, higherIsBetter: true };
  }
  if (path === SERVED_INFERENCE_PATH) {
    return {
      label: 'Inference on the agents (ms, median of recent frames)',
      order: '1|3|served',
      key: true,
      higherIsBetter: false,
    };
  }
  if (/(^|\.)inference_?ms$|inferenceMs$/.test(path)) {
    return { label: 'Inference (ms per frame)', order: `5|${path}`, key: true, higherIsBetter: false };
  }
  if (path === 'trainer.map50') {
    return { label: 'mAP@0.5 · training validation', order: `1|2|${path}`, key: true, higherIsBetter: true };
  }
  if (path.startsWith('gate.')) {
    return { label: `gate: ${path.slice(5)}`, order: `6|${path}`, key: false, higherIsBetter: null };
  }
  return { label: path, order: `8|${path}`, key: false, higherIsBetter: null };
}

export interface MetricRow {
  path: string;
  label: MetricLabel;
  /** Value per compared version (same order as the versions); null when it lacks the metric. */
  values: (number | null)[];
  /** Index of the best value, when the metric has a direction and 2+ versions have it. */
  best: number | null;
}

/** The rows of the side-by-side table for `metrics` (one flattened map per version). */
export function metricRows(metrics: readonly Map<string, number>[], keyOnly: boolean): MetricRow[] {
  const paths = new Set<string>();
  for (const map of metrics) for (const path of map.keys()) paths.add(path);
  const rows: MetricRow[] = [];
  for (const path of paths) {
    const label = describeMetric(path);
    if (keyOnly && !label.key) continue;
    const values = metrics.map((map) => map.get(path) ?? null);
    let best: number | null = null;
    const present = values.filter((v) => v !== null).length;
    if (label.higherIsBetter !== null && present >= 2) {
      values.forEach((value, index) => {
        if (value === null) return;
        const current = best === null ? null : values[best];
        if (current == null || (label.higherIsBetter ? value > current : value < current)) best = index;
      });
    }
    rows.push({ path, label, values, best });
  }
  return rows.sort((a, b) => (a.label.order < b.label.order ? -1 : a.label.order > b.label.order ? 1 : 0));
}
