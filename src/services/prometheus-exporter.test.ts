import { describe, expect, it } from 'vitest';
import type { HeartbeatRequest } from '../shared/api/agents.js';
import type { FrameResult } from '../shared/domain.js';
import { PrometheusExporter } from './prometheus-exporter.js';
import { summarizeLatencies } from './ingest-batch.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition 0.0.4 (enough of it: no escaped quotes in our labels). */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (name !== undefined && type !== undefined) types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g)) {
      labels[pair[1] ?? ''] = pair[2] ?? '';
    }
    const raw = match[3] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: raw === '+Inf' ? Infinity : Number(raw) });
  }
  return { samples, types };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = find(samples, name, labels);
  if (found.length !== 1) {
    throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  }
  return found[0]?.value ?? Number.NaN;
}

function result(
  camera: string,
  inferred: boolean,
  inferenceMs: number,
  totalMs: number,
): FrameResult {
  return {
    id: `${camera}-${inferenceMs}-${totalMs}`,
    camera,
    frameIndex: 0,
    capturedAt: 0,
    width: 640,
    height: 480,
    detections: [],
    uncertain: false,
    decision: 'PASS',
    features: {
      brightness: 0,
      contrast: 0,
      sharpness: 0,
      saturation: 0,
      noise: 0,
      colorCast: 0,
      edgeDensity: 0,
    },
    latencies: { queueMs: 0, preprocessMs: 0, inferenceMs, postprocessMs: 0, totalMs },
    modelVersion: 'v1',
    inferred,
  };
}

const heartbeat: HeartbeatRequest = {
  cameraFps: 30,
  processFps: 12.5,
  skippedFps: 17.5,
  droppedFrames: 0,
  outboxDepth: 42,
  outboxBytes: 1000,
  shedCount: 0,
  modelVersion: 'seed-1',
  inferenceMsP50: 8,
  inferenceMsP99: 20,
};

describe('PrometheusExporter', () => {
  it('exports ingested results as a counter and two latency histograms per camera', async () => {
    const prometheus = new PrometheusExporter({ defaultMetrics: false });
    prometheus.observeIngested(
      summarizeLatencies([
        result('line-1', true, 4, 30), // inference 0.004 s, e2e 0.03 s
        result('line-1', true, 40, 120), // 0.04 s, 0.12 s
        result('line-1', false, 0, 2), // carried forward: no inference sample, e2e 0.002 s
        result('line-2', true, 700, 900),
      ]),
    );
    prometheus.observeIngested(summarizeLatencies([result('line-2', true, 1, 3)]));
    const { samples, types } = parseExposition(await prometheus.metricsText());

    expect(types.get('visionloop_predictions_ingested_total')).toBe('counter');
    expect(types.get('visionloop_inference_seconds')).toBe('histogram');
    expect(types.get('visionloop_e2e_latency_seconds')).toBe('histogram');
    expect(value(samples, 'visionloop_predictions_ingested_total', { camera: 'line-1' })).toBe(3);
    expect(value(samples, 'visionloop_predictions_ingested_total', { camera: 'line-2' })).toBe(2);

    const inference = { camera: 'line-1' };
    expect(value(samples, 'visionloop_inference_seconds_count', inference)).toBe(2);
    expect(value(samples, 'visionloop_inference_seconds_sum', inference)).toBeCloseTo(0.044, 12);
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { ...inference, le: '0.0025' }),
    ).toBe(0);
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { ...inference, le: '0.005' }),
    ).toBe(1);
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { ...inference, le: '0.05' }),
    ).toBe(2);
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { ...inference, le: '+Inf' }),
    ).toBe(2);

    expect(value(samples, 'visionloop_e2e_latency_seconds_count', inference)).toBe(3);
    expect(
      value(samples, 'visionloop_e2e_latency_seconds_bucket', { ...inference, le: '0.005' }),
    ).toBe(1);
    expect(
      value(samples, 'visionloop_e2e_latency_seconds_bucket', { ...inference, le: '0.05' }),
    ).toBe(2);
    expect(
      value(samples, 'visionloop_e2e_latency_seconds_bucket', { ...inference, le: '0.25' }),
    ).toBe(3);
    expect(value(samples, 'visionloop_e2e_latency_seconds_sum', { camera: 'line-2' })).toBeCloseTo(
      0.903,
      12,
    );
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { camera: 'line-2', le: '0.5' }),
    ).toBe(1);
    expect(
      value(samples, 'visionloop_inference_seconds_bucket', { camera: 'line-2', le: '1' }),
    ).toBe(2);
  });

  it('exports heartbeat gauges per camera until the agent goes quiet', async () => {
    let now = 1_000_000;
    const prometheus = new PrometheusExporter({
      defaultMetrics: false,
      heartbeatStaleMs: 60_000,
      now: () => now,
    });
    prometheus.observeHeartbeat('line-1', heartbeat);
    prometheus.observeHeartbeat('line-2', { ...heartbeat, cameraFps: 10, modelVersion: 'v7' });
    const first = parseExposition(await prometheus.metricsText());
    let samples = first.samples;

    expect(first.types.get('visionloop_camera_fps')).toBe('gauge');
    expect(value(samples, 'visionloop_camera_fps', { camera: 'line-1' })).toBe(30);
    expect(value(samples, 'visionloop_camera_fps', { camera: 'line-2' })).toBe(10);
    expect(value(samples, 'visionloop_process_fps', { camera: 'line-1' })).toBe(12.5);
    expect(value(samples, 'visionloop_skipped_fps', { camera: 'line-1' })).toBe(17.5);
    expect(value(samples, 'visionloop_outbox_depth', { camera: 'line-1' })).toBe(42);
    expect(find(samples, 'visionloop_model_info').map((s) => s.labels)).toEqual([
      { alias: 'reported', version: 'seed-1' },
      { alias: 'reported', version: 'v7' },
    ]);
    expect(value(samples, 'visionloop_model_info', { version: 'v7' })).toBe(1);

    now += 30_000;
    prometheus.observeHeartbeat('line-2', { ...heartbeat, cameraFps: 11, modelVersion: 'v7' });
    now += 40_000; // line-1 silent for 70 s, line-2 for 40 s
    ({ samples } = parseExposition(await prometheus.metricsText()));
    expect(find(samples, 'visionloop_camera_fps').map((s) => s.labels.camera)).toEqual(['line-2']);
    expect(value(samples, 'visionloop_camera_fps', { camera: 'line-2' })).toBe(11);
    expect(find(samples, 'visionloop_outbox_depth', { camera: 'line-1' })).toEqual([]);
    expect(find(samples, 'visionloop_model_info').map((s) => s.labels.version)).toEqual(['v7']);

    prometheus.forgetCamera('line-2');
    ({ samples } = parseExposition(await prometheus.metricsText()));
    expect(find(samples, 'visionloop_camera_fps')).toEqual([]);
  });

  it('exposes the later issues’ metrics only once their setters are called', async () => {
    const prometheus = new PrometheusExporter({ defaultMetrics: false });
    let { samples, types } = parseExposition(await prometheus.metricsText());
    expect(types.get('visionloop_labeling_queue_depth')).toBe('gauge');
    expect(types.get('visionloop_drift_pvalue')).toBe('gauge');
    expect(types.get('visionloop_retraining_state')).toBe('gauge');
    expect(types.has('visionloop_drift_share')).toBe(false);
    for (const name of [
      'visionloop_labeling_queue_depth',
      'visionloop_drift_pvalue',
      'visionloop_retraining_state',
    ]) {
      expect(find(samples, name)).toEqual([]);
    }

    prometheus.setLabelingQueueDepth('pending', 17);
    prometheus.setLabelingQueueDepth('labeled', 3);
    prometheus.setDrift({ share: 3 / 7, pValues: { brightness: 0.001, contrast: 0.4 } });
    prometheus.setDrift({ share: 1 / 7, pValues: { brightness: 0.02 } });
    prometheus.setRetrainingState('idle');
    prometheus.setRetrainingState('training');
    prometheus.setModelAlias('production', 'v3');
    prometheus.setModelAlias('staging', 'v4');
    prometheus.setModelAlias('staging', null);

    ({ samples, types } = parseExposition(await prometheus.metricsText()));
    expect(value(samples, 'visionloop_labeling_queue_depth', { status: 'pending' })).toBe(17);
    expect(value(samples, 'visionloop_labeling_queue_depth', { status: 'labeled' })).toBe(3);
    expect(types.get('visionloop_drift_share')).toBe('gauge');
    expect(value(samples, 'visionloop_drift_share')).toBeCloseTo(1 / 7, 12);
    // The last check replaces the previous p-values: contrast was not in it.
    expect(find(samples, 'visionloop_drift_pvalue').map((s) => s.labels.feature)).toEqual([
      'brightness',
    ]);
    expect(value(samples, 'visionloop_drift_pvalue', { feature: 'brightness' })).toBe(0.02);
    expect(value(samples, 'visionloop_retraining_state', { state: 'idle' })).toBe(0);
    expect(value(samples, 'visionloop_retraining_state', { state: 'training' })).toBe(1);
    expect(find(samples, 'visionloop_model_info').map((s) => s.labels)).toEqual([
      { alias: 'production', version: 'v3' },
    ]);
  });

  it('adds Node process metrics with the visionloop_ prefix, in its own registry', async () => {
    const first = new PrometheusExporter();
    const second = new PrometheusExporter();
    first.observeIngested(summarizeLatencies([result('cam', true, 1, 1)]));
    const { samples, types } = parseExposition(await second.metricsText());
    expect(types.get('visionloop_process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('visionloop_nodejs_eventloop_lag_p99_seconds')).toBe('gauge');
    expect(find(samples, 'visionloop_predictions_ingested_total')).toEqual([]);
    expect(first.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
