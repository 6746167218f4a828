/**
 * deploy/prometheus.yml, deploy/prometheus-alerts.yml and deploy/grafana/visionloop.json
 * against a real server: every `visionloop_*` name a panel, an alert or a variable uses must
 * be one the server exports on /metrics. The server (startServer on a temporary SQLite data
 * dir, with the shipped seed model and process metrics) is driven until every series family
 * has samples: an agent registers and sends a heartbeat, results are ingested, a drift check
 * runs on an in-process job worker, and the retraining state is read.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { makeFrameResults } from '../../../bench/ingest-rows.js';
import { loadServerConfig } from '../../../src/config/server.config.js';
import { createJobHandlers } from '../../../src/jobs/job-handlers.js';
import { JobWorker } from '../../../src/jobs/job-worker.js';
import { startServer, type RunningServer } from '../../../src/main/server.main.js';
import type { HeartbeatRequest } from '../../../src/shared/api/agents.js';
import type { DriftCheckResponse } from '../../../src/shared/api/drift.js';

const DEPLOY = new URL('../../../deploy/', import.meta.url);
const METRIC = /\bvisionloop_[a-zA-Z0-9_]+/g;

const heartbeat: HeartbeatRequest = {
  cameraFps: 15,
  processFps: 9,
  skippedFps: 6,
  droppedFrames: 0,
  outboxDepth: 3,
  outboxBytes: 2048,
  shedCount: 0,
  modelVersion: 'seed-1',
  inferenceMsP50: 11,
  inferenceMsP99: 30,
};

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
  panels?: GrafanaPanel[];
}

/** Metric names in a scrape: every sample's name, and histogram/counter families from # TYPE. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name = '', kind] = type;
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1] !== undefined) names.add(sample[1]);
  }
  return names;
}

function namesIn(expr: string): string[] {
  return [...new Set(expr.match(METRIC) ?? [])];
}

function balanced(expr: string): boolean {
  let depth = 0;
  for (const c of expr) {
    if (c === '(' || c === '{' || c === '[') depth++;
    if (c === ')' || c === '}' || c === ']') depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
}

function flatten(panels: GrafanaPanel[]): GrafanaPanel[] {
  return panels.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
}

describe('deploy/ Prometheus and Grafana files against the server’s /metrics', () => {
  let server: RunningServer;
  let worker: JobWorker;
  let dir: string;
  let exported: Set<string>;
  let scrape: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-deploy-files-'));
    const config = loadServerConfig({
      VISIONLOOP_DATA_DIR: dir,
      HOST: '127.0.0.1',
      PORT: '0',
      VISIONLOOP_LOG_LEVEL: 'silent',
    });
    server = await startServer(config, { logger: false, onAdminToken: () => undefined });
    worker = new JobWorker(server.services.jobs, {
      handlers: createJobHandlers(server.services),
      pollMinMs: 5,
      pollMaxMs: 50,
      sweepEveryMs: 0,
      unref: true,
    });
    worker.start();
    const admin = (await server.services.auth.createToken({ name: 'ops', scope: 'admin' }, null))
      .token;
    const agent = (await server.services.auth.createToken({ name: 'cam', scope: 'agent' }, null))
      .token;
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(response.status, `${method} ${path}: ${await response.clone().text()}`).toBe(200);
      return response.json() as Promise<unknown>;
    };

    // Small drift windows so a check can compare: a 10-frame baseline, then a 10-frame window.
    await call('PUT', '/api/settings/drift', admin, {
      baselineSamples: 10,
      windowSamples: 10,
      minSpacingSeconds: 0,
      minSamples: 5,
    });
    const results = makeFrameResults(20, {
      seed: 5,
      cameras: ['cam-a'],
      startAt: Date.now() + 1_000,
      frameIntervalMs: 1_000,
      idPrefix: 'deploy',
    });
    await call('POST', '/api/ingest', agent, { results });
    const { agentId } = (await call('POST', '/api/agents/register', agent, {
      camera: 'cam-a',
      version: '0.1.0',
    })) as { agentId: string };
    await call('POST', `/api/agents/${agentId}/heartbeat`, agent, heartbeat);
    const check = (await call(
      'POST',
      '/api/metrics/drift/check?camera=cam-a&wait=true&timeoutSeconds=60',
      admin,
    )) as DriftCheckResponse;
    expect(check.cameras[0]?.status).toMatch(/^(ok|drift)$/);
    await call('GET', '/api/retraining/status', admin);

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    scrape = await response.text();
    exported = exportedNames(scrape);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop({ graceMs: 1000 });
    await server?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('the driven server exports every metric DESIGN.md names, with samples', () => {
    for (const name of [
      'visionloop_camera_fps',
      'visionloop_process_fps',
      'visionloop_skipped_fps',
      'visionloop_outbox_depth',
      'visionloop_inference_seconds_bucket',
      'visionloop_e2e_latency_seconds_bucket',
      'visionloop_predictions_ingested_total',
      'visionloop_labeling_queue_depth',
      'visionloop_drift_share',
      'visionloop_drift_pvalue',
      'visionloop_retraining_state',
      'visionloop_model_info',
    ]) {
      expect(scrape, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    }
    expect(scrape).toContain('visionloop_camera_fps{camera="cam-a"} 15');
    expect(scrape).toMatch(/^visionloop_model_info\{alias="production",version="[^"]+"\} 1$/m);
    expect(exported.has('visionloop_no_such_metric')).toBe(false);
  });

  it('prometheus.yml scrapes /metrics and loads the alert rules', () => {
    const config = parseYaml(readFileSync(new URL('prometheus.yml', DEPLOY), 'utf8')) as {
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        metrics_path: string;
        static_configs: { targets: string[] }[];
      }[];
    };
    expect(config.rule_files).toEqual(['prometheus-alerts.yml']);
    const job = config.scrape_configs.find((c) => c.job_name === 'visionloop');
    expect(job?.metrics_path).toBe('/metrics');
    expect(job?.static_configs[0]?.targets.length).toBeGreaterThan(0);
  });

  it('every alert uses only exported metric names and says what fired', () => {
    const rules = parseYaml(readFileSync(new URL('prometheus-alerts.yml', DEPLOY), 'utf8')) as {
      groups: { name: string; rules: AlertRule[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    const alerts = new Map(all.map((rule) => [rule.alert, rule]));
    // The alerts: drift share high, retraining failed, agent down, outbox growing,
    // ingest stopped.
    for (const name of [
      'VisionLoopDriftShareHigh',
      'VisionLoopRetrainingFailed',
      'VisionLoopAgentDown',
      'VisionLoopOutboxGrowing',
      'VisionLoopIngestStopped',
    ]) {
      expect(alerts.has(name), name).toBe(true);
    }
    for (const rule of all) {
      expect(rule.alert, rule.expr).toMatch(/^VisionLoop[A-Za-z]+$/);
      expect(balanced(rule.expr), rule.alert).toBe(true);
      expect(['info', 'warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      const unknown = namesIn(rule.expr).filter((name) => !exported.has(name));
      expect(unknown, `${rule.alert} uses metrics the server does not export`).toEqual([]);
    }
    expect(alerts.get('VisionLoopDriftShareHigh')?.expr).toBe('visionloop_drift_share > 0.3');
  });

  it('every Grafana panel queries only exported metric names', () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('grafana/visionloop.json', DEPLOY), 'utf8'),
    ) as {
      uid: string;
      schemaVersion: number;
      panels: GrafanaPanel[];
      templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
    };
    expect(dashboard.uid).toBe('visionloop');
    const panels = flatten(dashboard.panels);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const used = new Set<string>();
    for (const panel of panels) {
      if (panel.type === 'row') continue;
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      for (const target of panel.targets ?? []) {
        expect(balanced(target.expr), `${panel.title}: ${target.expr}`).toBe(true);
        const names = namesIn(target.expr);
        expect(names.length, `${panel.title} queries no VisionLoop metric`).toBeGreaterThan(0);
        for (const name of names) used.add(name);
        const unknown = names.filter((name) => !exported.has(name));
        expect(unknown, `panel "${panel.title}" uses metrics the server does not export`).toEqual(
          [],
        );
      }
    }
    for (const variable of dashboard.templating.list) {
      for (const name of namesIn(JSON.stringify(variable))) expect(exported).toContain(name);
    }
    // Every VisionLoop series family the server exports is on the dashboard.
    for (const name of [
      'visionloop_camera_fps',
      'visionloop_process_fps',
      'visionloop_skipped_fps',
      'visionloop_outbox_depth',
      'visionloop_inference_seconds_bucket',
      'visionloop_e2e_latency_seconds_bucket',
      'visionloop_predictions_ingested_total',
      'visionloop_labeling_queue_depth',
      'visionloop_drift_share',
      'visionloop_drift_pvalue',
      'visionloop_retraining_state',
      'visionloop_model_info',
    ]) {
      expect(used, name).toContain(name);
    }
  });
});
