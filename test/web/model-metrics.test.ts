import { describe, expect, it } from 'vitest';
import { flattenMetrics, metricRows } from '../../web/src/pages/models/metrics.js';

describe('model metrics of the stage models', () => {
  it('shows a classifier and a segmenter by their held-out scores, best marked', () => {
    const classifier = flattenMetrics({
      val: {
        accuracy: 0.6871,
        veto_accuracy: 0.9621,
        per_class: { major: { accuracy: 0.0691, support: 333 } },
      },
    });
    const segmenter = flattenMetrics({
      val: {
        mean_iou: 0.5303,
        area_error_pct_median: 17.77,
        per_kind: { stain: { mean_iou: 0.8724 } },
      },
    });
    const older = flattenMetrics({ val: { mean_iou: 0.41, area_error_pct_median: 25.2 } });
    const rows = metricRows([classifier, segmenter, older], true);
    expect(rows.map((row) => [row.label.label, row.values])).toEqual([
      ['Crop classification accuracy', [0.6871, null, null]],
      ['Crop accuracy · major', [0.0691, null, null]],
      ['Defect / not-a-defect accuracy', [0.9621, null, null]],
      ['Mask IoU (mean)', [null, 0.5303, 0.41]],
      ['Mask IoU · stain', [null, 0.8724, null]],
      ['Area error % (median)', [null, 17.77, 25.2]],
    ]);
    // Higher IoU and lower area error are better: the newer segmenter wins both.
    expect(rows.find((r) => r.path === 'val.mean_iou')?.best).toBe(1);
    expect(rows.find((r) => r.path === 'val.area_error_pct_median')?.best).toBe(1);
    // Support counts are not key metrics.
    expect(rows.some((r) => r.path.endsWith('support'))).toBe(false);
  });
});
