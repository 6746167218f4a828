/**
 * The drift comparison as one self-contained HTML page (`visionloop drift compare --html`),
 * in the manner of Evidently's data-drift report: the verdict and drift share against the
 * threshold, a table of the per-feature tests, and per feature the two distributions drawn
 * over each other (histogram densities on shared bins) and their empirical CDFs with the KS
 * statistic D marked where the curves are furthest apart.
 *
 * Pure: report and samples in, a string out. The page must never make a request: inline CSS,
 * inline SVG (no xmlns URL needed inside HTML), no scripts, fonts or images from elsewhere;
 * every text from the caller (paths, specs) is escaped.
 */
import type { DriftReport, FeatureDriftResult } from '../vision/drift/index.js';

export interface DriftReportSide {
  /** The source as given, e.g. `synth:nominal` or `/data/new-batch`. */
  spec: string;
  /** What was read, for people. */
  description: string;
  frames: number;
  notes: readonly string[];
}

export interface DriftReportHtmlInput {
  reference: DriftReportSide;
  current: DriftReportSide;
  report: DriftReport;
  /** Measured values per feature on each side. */
  samples: {
    reference: Readonly<Record<string, readonly number[]>>;
    current: Readonly<Record<string, readonly number[]>>;
  };
  /** When the report was made, epoch ms (shown; default: not shown). */
  generatedAt?: number;
  /** Version of VisionLoop that made it. */
  version?: string;
}

/** What each image feature measures (src/vision/features.ts), for the reader. */
export const FEATURE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  brightness: 'mean gray level, 0 (black) … 1 (white)',
  contrast: 'RMS contrast: standard deviation of gray / 255',
  sharpness: 'variance of the Laplacian (gray levels²); blur lowers it',
  saturation: 'mean HSV saturation, 0 … 1',
  noise: "sensor noise σ (Immerkær's estimator), gray levels",
  colorCast: 'spread of the R, G, B channel means / 255; 0 is neutral',
  edgeDensity: 'share of pixels on a Sobel edge',
};

const REF_COLOR = '#2f6db5';
const CUR_COLOR = '#e07b20';
const BINS = 24;
const CHART_W = 500;
const CHART_H = 210;
const PAD = { left: 60, right: 26, top: 14, bottom: 30 };

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A number for people: 3 significant digits, exponent notation when tiny or huge. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e5) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

function formatP(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '–';
  return value < 1e-4 ? value.toExponential(1) : value.toFixed(4);
}

function finiteSorted(values: readonly number[] | undefined): number[] {
  return (values ?? []).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

interface Scale {
  min: number;
  max: number;
  x: (value: number) => number;
}

function xScale(reference: number[], current: number[]): Scale {
  let min = Math.min(reference[0] ?? 0, current[0] ?? 0);
  let max = Math.max(reference.at(-1) ?? 1, current.at(-1) ?? 1);
  if (!(max > min)) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.05 : 0.5;
    min -= pad;
    max += pad;
  }
  const width = CHART_W - PAD.left - PAD.right;
  return { min, max, x: (value) => PAD.left + ((value - min) / (max - min)) * width };
}

function yOf(fraction: number): number {
  const height = CHART_H - PAD.top - PAD.bottom;
  return PAD.top + (1 - fraction) * height;
}

function xAxis(scale: Scale): string {
  const ticks = 5;
  const parts: string[] = [];
  const base = CHART_H - PAD.bottom;
  parts.push(
    `<line x1="${PAD.left}" y1="${base}" x2="${CHART_W - PAD.right}" y2="${base}" class="axis"/>`,
  );
  for (let i = 0; i < ticks; i++) {
    const value = scale.min + ((scale.max - scale.min) * i) / (ticks - 1);
    const x = scale.x(value).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${base}" x2="${x}" y2="${base + 4}" class="axis"/>`,
      `<text x="${x}" y="${base + 16}" text-anchor="middle">${formatNumber(value)}</text>`,
    );
  }
  return parts.join('');
}

function yAxis(label: string, max: number): string {
  const parts = [
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${CHART_H - PAD.bottom}" class="axis"/>`,
  ];
  for (const fraction of [0, 0.5, 1]) {
    const y = yOf(fraction).toFixed(1);
    parts.push(
      `<line x1="${PAD.left - 4}" y1="${y}" x2="${PAD.left}" y2="${y}" class="axis"/>`,
      `<text x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatNumber(max * fraction)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${(PAD.top + CHART_H - PAD.bottom) / 2}" transform="rotate(-90 14 ${(PAD.top + CHART_H - PAD.bottom) / 2})" text-anchor="middle">${label}</text>`,
  );
  return parts.join('');
}

/** Shares of each side's values in BINS equal bins over the shared range. */
function histogram(values: number[], scale: Scale): number[] {
  const counts = new Array<number>(BINS).fill(0);
  const width = (scale.max - scale.min) / BINS;
  for (const value of values) {
    const bin = Math.min(BINS - 1, Math.max(0, Math.floor((value - scale.min) / width)));
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  return counts.map((count) => (values.length > 0 ? count / values.length : 0));
}

function histogramSvg(feature: string, reference: number[], current: number[]): string {
  const scale = xScale(reference, current);
  const refShares = histogram(reference, scale);
  const curShares = histogram(current, scale);
  const top = Math.max(...refShares, ...curShares, 1e-9);
  const binWidth = (scale.max - scale.min) / BINS;
  const bars = (shares: number[], color: string, cls: string) =>
    shares
      .map((share, i) => {
        if (share === 0) return '';
        const x0 = scale.x(scale.min + i * binWidth);
        const x1 = scale.x(scale.min + (i + 1) * binWidth);
        const y = yOf(share / top);
        return `<rect class="${cls}" x="${x0.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0.5, x1 - x0 - 0.5).toFixed(1)}" height="${(CHART_H - PAD.bottom - y).toFixed(1)}" fill="${color}"/>`;
      })
      .join('');
  const median = (values: number[], color: string, dash: string) => {
    if (values.length === 0) return '';
    const m = values[Math.floor((values.length - 1) / 2)] ?? 0;
    const x = scale.x(m).toFixed(1);
    return `<line x1="${x}" y1="${PAD.top}" x2="${x}" y2="${CHART_H - PAD.bottom}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`;
  };
  return (
    `<svg class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" width="${CHART_W}" height="${CHART_H}" role="img" ` +
    `aria-label="${escapeHtml(feature)}: share of frames per bin, reference and current">` +
    `<title>${escapeHtml(feature)}: distributions (share of frames per bin)</title>` +
    bars(refShares, REF_COLOR, 'ref') +
    bars(curShares, CUR_COLOR, 'cur') +
    median(reference, REF_COLOR, '4 3') +
    median(current, CUR_COLOR, '1 2') +
    xAxis(scale) +
    yAxis('share of frames', top) +
    '</svg>'
  );
}

/** The x where the two empirical CDFs are furthest apart, and that gap (the KS D). */
export function ksGap(reference: number[], current: number[]): { at: number; d: number } | null {
  if (reference.length === 0 || current.length === 0) return null;
  let i = 0;
  let j = 0;
  let best = { at: reference[0] ?? 0, d: 0 };
  while (i < reference.length || j < current.length) {
    const a = reference[i] ?? Infinity;
    const b = current[j] ?? Infinity;
    const x = Math.min(a, b);
    while (i < reference.length && reference[i] === x) i++;
    while (j < current.length && current[j] === x) j++;
    const d = Math.abs(i / reference.length - j / current.length);
    if (d > best.d) best = { at: x, d };
  }
  return best;
}

function ecdfPath(values: number[], scale: Scale): string {
  if (values.length === 0) return '';
  const n = values.length;
  let d = `M${PAD.left},${yOf(0).toFixed(1)} H${scale.x(values[0] ?? 0).toFixed(1)}`;
  for (let k = 0; k < n; k++) {
    const x = scale.x(values[k] ?? 0).toFixed(1);
    d += ` H${x} V${yOf((k + 1) / n).toFixed(1)}`;
  }
  d += ` H${CHART_W - PAD.right}`;
  return d;
}

function ecdfSvg(feature: string, reference: number[], current: number[]): string {
  const scale = xScale(reference, current);
  const gap = ksGap(reference, current);
  let marker = '';
  if (gap !== null && gap.d > 0) {
    const x = scale.x(gap.at);
    const fRef = reference.filter((v) => v <= gap.at).length / reference.length;
    const fCur = current.filter((v) => v <= gap.at).length / current.length;
    const y1 = yOf(fRef);
    const y2 = yOf(fCur);
    const labelX = x > CHART_W / 2 ? x - 6 : x + 6;
    const anchor = x > CHART_W / 2 ? 'end' : 'start';
    marker =
      `<line x1="${x.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x.toFixed(1)}" y2="${y2.toFixed(1)}" class="gap"/>` +
      `<text x="${labelX.toFixed(1)}" y="${((y1 + y2) / 2).toFixed(1)}" text-anchor="${anchor}" dominant-baseline="middle" class="gap-label">D = ${gap.d.toFixed(3)}</text>`;
  }
  return (
    `<svg class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" width="${CHART_W}" height="${CHART_H}" role="img" ` +
    `aria-label="${escapeHtml(feature)}: cumulative distributions and the KS statistic">` +
    `<title>${escapeHtml(feature)}: empirical CDFs; D is the largest vertical gap</title>` +
    `<path d="${ecdfPath(reference, scale)}" fill="none" stroke="${REF_COLOR}" stroke-width="2"/>` +
    `<path d="${ecdfPath(current, scale)}" fill="none" stroke="${CUR_COLOR}" stroke-width="2" stroke-dasharray="5 3"/>` +
    marker +
    xAxis(scale) +
    yAxis('cumulative share', 1) +
    '</svg>'
  );
}

function badge(feature: FeatureDriftResult): string {
  if (feature.status !== 'tested') return '<span class="badge untested">not tested</span>';
  return feature.drifted
    ? '<span class="badge drifted">▲ drifted</span>'
    : '<span class="badge stable">● no drift</span>';
}

function verdictOf(report: DriftReport): { cls: string; title: string } {
  switch (report.status) {
    case 'drift':
      return { cls: `drift ${report.level}`, title: `Drift detected (${report.level})` };
    case 'ok':
      return { cls: 'ok', title: 'No drift detected' };
    case 'insufficient_data':
      return { cls: 'unknown', title: 'Not enough data to decide' };
    case 'no_reference':
      return { cls: 'unknown', title: 'No reference to compare with' };
  }
}

function sideRow(role: string, side: DriftReportSide): string {
  const notes =
    side.notes.length > 0 ? `<br><small>${side.notes.map(escapeHtml).join('; ')}</small>` : '';
  return (
    `<tr><th scope="row"><span class="swatch ${role === 'Reference' ? 'ref' : 'cur'}"></span>${role}</th>` +
    `<td><code>${escapeHtml(side.spec)}</code><br><small>${escapeHtml(side.description)}</small>${notes}</td>` +
    `<td class="num">${side.frames}</td></tr>`
  );
}

function featureRow(feature: FeatureDriftResult): string {
  const shift =
    feature.scaledMagnitude === null ? '–' : `${formatNumber(feature.scaledMagnitude)} σ`;
  return (
    `<tr class="${feature.drifted ? 'is-drifted' : ''}">` +
    `<th scope="row"><a href="#feature-${escapeHtml(feature.feature)}">${escapeHtml(feature.feature)}</a></th>` +
    `<td>${feature.test === 'ks' ? 'KS' : 'χ²'}</td>` +
    `<td class="num">${formatNumber(feature.statistic)}</td>` +
    `<td class="num">${formatP(feature.adjustedPValue)}</td>` +
    `<td>${badge(feature)}</td>` +
    `<td class="num">${formatNumber(feature.referenceMedian)}</td>` +
    `<td class="num">${formatNumber(feature.currentMedian)}</td>` +
    `<td class="num">${shift}</td>` +
    `<td class="num">${feature.nRef} / ${feature.nCur}</td>` +
    '</tr>'
  );
}

function featureCard(feature: FeatureDriftResult, input: DriftReportHtmlInput): string {
  const reference = finiteSorted(input.samples.reference[feature.feature]);
  const current = finiteSorted(input.samples.current[feature.feature]);
  const description = FEATURE_DESCRIPTIONS[feature.feature];
  const stats =
    feature.status === 'tested'
      ? `KS D = ${formatNumber(feature.statistic)}, p = ${formatP(feature.adjustedPValue)} ` +
        `(${feature.adjustedPValue !== null && feature.adjustedPValue < input.report.config.alpha ? '<' : '≥'} α = ${input.report.config.alpha}); ` +
        `median ${formatNumber(feature.referenceMedian)} → ${formatNumber(feature.currentMedian)}` +
        (feature.scaledMagnitude === null
          ? ''
          : `; moved ${formatNumber(feature.scaledMagnitude)} reference σ (Wasserstein)`)
      : escapeHtml(feature.note ?? 'not tested');
  const note =
    feature.note !== null && feature.status === 'tested'
      ? `<p class="note">${escapeHtml(feature.note)}</p>`
      : '';
  return (
    `<section class="feature${feature.drifted ? ' is-drifted' : ''}" id="feature-${escapeHtml(feature.feature)}">` +
    `<h3>${escapeHtml(feature.feature)} ${badge(feature)}</h3>` +
    (description === undefined ? '' : `<p class="what">${escapeHtml(description)}</p>`) +
    `<p class="stats">${stats}</p>${note}` +
    `<div class="charts">${histogramSvg(feature.feature, reference, current)}${ecdfSvg(feature.feature, reference, current)}</div>` +
    '</section>'
  );
}

const STYLE = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f5f6f8}
body{margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 10px}h3{font-size:1.05rem;margin:0 0 4px;display:flex;gap:10px;align-items:center}
.sub{color:#566070;margin:0 0 18px}
.verdict{border-radius:8px;padding:16px 20px;border-left:8px solid;background:#fff;box-shadow:0 1px 2px #0001}
.verdict.ok{border-color:#2e8b57}.verdict.yellow{border-color:#d4a017}.verdict.red{border-color:#c62828}.verdict.unknown{border-color:#8a94a6}
.verdict strong{font-size:1.25rem;display:block;margin-bottom:6px}
.share{display:flex;align-items:center;gap:12px;margin-top:10px}
.share svg{flex:none}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001;border-radius:6px;overflow:hidden}
th,td{padding:7px 10px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top;font-size:.92rem}
thead th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.is-drifted th,tr.is-drifted td{background:#fff4f2}
small{color:#566070}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88em}
.badge{font-size:.8rem;padding:2px 8px;border-radius:10px;font-weight:600;white-space:nowrap}
.badge.drifted{background:#fde2de;color:#a11d12}.badge.stable{background:#dff3e6;color:#1d6b3a}.badge.untested{background:#e9ecf1;color:#4a5466}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.swatch.ref{background:${REF_COLOR}}.swatch.cur{background:${CUR_COLOR}}
.feature{background:#fff;border-radius:8px;padding:14px 16px;margin:14px 0;box-shadow:0 1px 2px #0001;border-left:5px solid #2e8b57}
.feature.is-drifted{border-left-color:#c62828}
.what{margin:0;color:#566070;font-size:.9rem}.stats{margin:6px 0 8px;font-size:.92rem}.note{margin:0 0 8px;color:#8a5a00;font-size:.88rem}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{background:#fcfcfd;border:1px solid #e6e8ec;border-radius:4px}
.chart text{font-size:10px;fill:#4a5466}
.chart .axis{stroke:#8a94a6;stroke-width:1}
.chart rect.ref{opacity:.55}.chart rect.cur{opacity:.55}
.chart .gap{stroke:#c62828;stroke-width:2.5}.chart .gap-label{fill:#c62828;font-weight:600;font-size:11px}
.legend{display:flex;gap:18px;font-size:.9rem;margin:6px 0}
footer{color:#566070;font-size:.85rem;margin-top:28px;line-height:1.5}
`;

function shareBar(share: number | null, threshold: number, red: number): string {
  const width = 260;
  const x = (v: number) => (v * width).toFixed(1);
  const fill =
    share === null
      ? ''
      : `<rect x="0" y="4" width="${x(share)}" height="14" fill="${share > red ? '#c62828' : share > threshold ? '#d4a017' : '#2e8b57'}"/>`;
  return (
    `<svg width="${width}" height="30" viewBox="0 0 ${width} 30" role="img" aria-label="drift share against the threshold">` +
    `<rect x="0" y="4" width="${width}" height="14" fill="#e6e8ec"/>${fill}` +
    `<line x1="${x(threshold)}" y1="0" x2="${x(threshold)}" y2="22" stroke="#1d2430" stroke-width="2"/>` +
    `<text x="${x(threshold)}" y="29" font-size="9" text-anchor="middle" fill="#1d2430">${threshold}</text>` +
    '</svg>'
  );
}

/** The whole page. */
export function renderDriftReportHtml(input: DriftReportHtmlInput): string {
  const { report } = input;
  const verdict = verdictOf(report);
  const config = report.config;
  const share = report.driftShare;
  const tested = report.features.filter((f) => f.status === 'tested');
  const drifted = tested.filter((f) => f.drifted);
  const shareText =
    share === null
      ? 'no feature could be tested'
      : `${drifted.length} of ${tested.length} features drifted: share ${share.toFixed(2)} ` +
        `${share > config.driftShareThreshold ? '>' : '≤'} threshold ${config.driftShareThreshold} ` +
        `(red above ${config.redShareThreshold})`;
  const generated =
    input.generatedAt === undefined ? '' : ` · ${new Date(input.generatedAt).toISOString()}`;
  const version = input.version === undefined ? '' : ` · VisionLoop ${escapeHtml(input.version)}`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Drift report: ${escapeHtml(input.current.spec)} vs ${escapeHtml(input.reference.spec)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    '<h1>Data drift report</h1>',
    `<p class="sub">Image-quality features of <code>${escapeHtml(input.current.spec)}</code> (current) compared with <code>${escapeHtml(input.reference.spec)}</code> (reference)${generated}${version}</p>`,
    `<div class="verdict ${verdict.cls}" role="status"><strong>${verdict.title}</strong>${escapeHtml(shareText)}`,
    `<div class="share">${shareBar(share, config.driftShareThreshold, config.redShareThreshold)}<small>a feature drifts when its KS p-value is below α = ${config.alpha}${config.correction === 'none' ? '' : ` (${escapeHtml(config.correction)}-adjusted)`}; the data set drifts when more than ${config.driftShareThreshold * 100}% of the features do</small></div></div>`,
    '<h2>Sources</h2>',
    '<table><thead><tr><th scope="col">side</th><th scope="col">source</th><th scope="col" class="num">frames</th></tr></thead><tbody>',
    sideRow('Reference', input.reference),
    sideRow('Current', input.current),
    '</tbody></table>',
    '<h2>Features</h2>',
    '<table><thead><tr><th scope="col">feature</th><th scope="col">test</th><th scope="col" class="num">statistic</th><th scope="col" class="num">p-value</th><th scope="col">result</th><th scope="col" class="num">median (ref)</th><th scope="col" class="num">median (cur)</th><th scope="col" class="num">shift</th><th scope="col" class="num">n ref / cur</th></tr></thead><tbody>',
    ...report.features.map(featureRow),
    '</tbody></table>',
    '<h2>Distributions</h2>',
    `<div class="legend"><span><span class="swatch ref"></span>reference (solid line, dashed median)</span><span><span class="swatch cur"></span>current (dashed line, dotted median)</span></div>`,
    ...report.features.map((feature) => featureCard(feature, input)),
    '<footer>',
    `<p>${escapeHtml(report.reason)}</p>`,
    '<p>Each feature is tested with the two-sample Kolmogorov–Smirnov test (two-sided; exact p-values up to 10,000 values per side, as SciPy). ',
    'D is the largest vertical distance between the two cumulative distributions; the shift is the Wasserstein-1 distance divided by the reference’s spread. ',
    'These are the tests and thresholds of the server’s drift monitor (docs/drift.md).</p>',
    '</footer></body></html>',
    '',
  ].join('\n');
}
