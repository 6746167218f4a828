import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES } from '../shared/domain.js';
import { Rng } from '../synth/rng.js';
import { checkDrift, prepareReference } from '../vision/drift/index.js';
import { ksTwoSample } from '../vision/drift/ks.js';
import { formatNumber, ksGap, renderDriftReportHtml } from './drift-report-html.js';

const SHIFTED = ['brightness', 'contrast', 'noise'];

/** Seeded uniform columns; the current side is the reference's first 50 rows, three features moved. */
function sides(): { reference: Record<string, number[]>; current: Record<string, number[]> } {
  const rng = new Rng(1);
  const reference: Record<string, number[]> = {};
  const current: Record<string, number[]> = {};
  for (const name of FEATURE_NAMES) {
    reference[name] = Array.from({ length: 60 }, () => rng.next());
    const shift = SHIFTED.includes(name) ? 0.5 : 0;
    current[name] = reference[name].slice(0, 50).map((v) => v + shift);
  }
  return { reference, current };
}

function page(spec = '/data/<new> & "batch"') {
  const { reference, current } = sides();
  const report = checkDrift(prepareReference({ id: 'ref', numeric: reference }), {
    numeric: current,
  });
  return {
    report,
    html: renderDriftReportHtml({
      reference: { spec: 'synth:nominal', description: 'synth', frames: 60, notes: [] },
      current: { spec, description: 'folder', frames: 50, notes: ['50 of 80 images'] },
      report,
      samples: { reference, current },
      generatedAt: Date.UTC(2026, 0, 1),
    }),
  };
}

describe('renderDriftReportHtml', () => {
  it('draws two charts per feature and marks the drifted ones', () => {
    const { html, report } = page();
    expect(report.driftedFeatures).toEqual(SHIFTED);
    expect(html.match(/<svg class="chart"/g)).toHaveLength(2 * FEATURE_NAMES.length);
    expect(html).toContain('<section class="feature is-drifted" id="feature-brightness">');
    expect(html.match(/<section class="feature is-drifted"/g)).toHaveLength(3);
    expect(html).toContain('<strong>Drift detected (yellow)</strong>');
    expect(html).toContain(
      '3 of 7 features drifted: share 0.43 &gt; threshold 0.3 (red above 0.7)',
    );
    expect(html).toContain('2026-01-01T00:00:00.000Z');
  });

  it('escapes what the caller passed and requests nothing', () => {
    const { html } = page();
    expect(html).toContain('/data/&lt;new&gt; &amp; &quot;batch&quot;');
    expect(html).not.toContain('<new>');
    expect(html).not.toMatch(/https?:\/\/|<script|<link|<img|url\(/);
  });

  it('marks D where the CDFs are furthest apart, equal to the KS statistic', () => {
    const rng = new Rng(9);
    const a = Array.from({ length: 40 }, () => rng.next()).sort((x, y) => x - y);
    const b = Array.from({ length: 30 }, () => rng.next() * 0.8 + 0.3).sort((x, y) => x - y);
    const gap = ksGap(a, b);
    expect(gap?.d).toBeCloseTo(ksTwoSample(a, b).statistic, 12);
    expect(ksGap([1, 2, 3], [1, 2, 3])).toEqual({ at: 1, d: 0 });
    expect(ksGap([], [1])).toBeNull();
  });

  it('formats numbers for people', () => {
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(1060.4)).toBe('1060');
    expect(formatNumber(0.00012)).toBe('1.20e-4');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(Number.NaN)).toBe('–');
  });
});
