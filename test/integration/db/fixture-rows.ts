/**
 * One fully specified row for every table: every column set (typed as the `Selectable` row, so
 * the compiler proves no column is forgotten), with values that expose lossy storage: epoch-ms
 * timestamps beyond 2^31, the largest safe integer, non-ASCII JSON text, floats that are not
 * short decimals, and 0/1 booleans. Rows reference each other where the schema has foreign
 * keys, so inserting them in `ROW_INSERT_ORDER` succeeds.
 */
import type {
  AgentRow,
  AliasHistoryRow,
  ApiTokenRow,
  DatasetRow,
  DriftReferenceRow,
  DriftReportRow,
  JobRow,
  JobScheduleRow,
  JobWorkerRow,
  LabelingQueueRow,
  ModelAliasRow,
  ModelRow,
  PredictionClassRow,
  PredictionLogRow,
  RetrainingEventRow,
  ReviewedLabelRow,
  RolloutRow,
  SettingRow,
  ShadowPredictionRow,
  TableName,
} from '../../../src/db/schema.js';

/** 2026-01-01T00:00:00.123Z: an epoch-ms value that does not fit in 32 bits. */
export const T0 = 1_767_225_600_123;
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const SHA_C = 'c'.repeat(64);

const detections = JSON.stringify([
  {
    classId: 0,
    className: 'scratch',
    confidence: 0.5123456789,
    box: { x1: 1, y1: 2, x2: 30, y2: 40 },
  },
  { classId: 1, className: 'crack', confidence: 0.91, box: { x1: 5.5, y1: 6.25, x2: 7, y2: 8 } },
]);

export const predictionLog: PredictionLogRow = {
  id: 'agent-7:000000000042',
  agent_id: 'agent-7',
  camera: 'line-1',
  frame_index: 2 ** 40 + 3,
  captured_at: T0,
  received_at: T0 + 17,
  width: 640,
  height: 480,
  decision: 'FAIL',
  uncertain: 1,
  inferred: 0,
  model_version: 'v12',
  detection_count: 2,
  max_confidence: 0.91,
  detections,
  features: JSON.stringify({ brightness: 0.1 + 0.2, contrast: 1e-9, note: 'défaut "ü" ✓' }),
  queue_ms: 0.125,
  preprocess_ms: 1.0000001,
  inference_ms: 12.345678901234,
  postprocess_ms: 0.3,
  total_ms: 14.0703,
  frame_blob: SHA_A,
  sampling: JSON.stringify({
    reasons: ['low_confidence', 'random'],
    priority: 4.3125,
    phash: 'f0e1d2c3b4a59687',
  }),
  stages: JSON.stringify({
    versions: { classify: 'cls-3' },
    detections: [
      { classification: { classId: 3, className: 'critical', confidence: 0.8 }, vetoed: false },
    ],
    totalAreaPx: 0,
    totalAreaMm2: null,
    maxSeverity: 3,
    timings: { classifyMs: 1.25 },
  }),
  decided_by: 'severe',
};

export const predictionClass: PredictionClassRow = {
  prediction_id: predictionLog.id,
  class_name: 'scratch',
  captured_at: T0,
};

export const agent: AgentRow = {
  id: 'agent-7',
  camera: 'line-1',
  name: 'edge box 7',
  version: '0.1.0',
  model_version: 'v12',
  fps: 29.97,
  outbox_depth: 12_345,
  last_seen_at: T0 + 1000,
  registered_at: T0 - 86_400_000,
  token_id: 'tok-agent-7',
  info: JSON.stringify({ skippedFps: 3.5, host: 'edge-7' }),
};

export const apiToken: ApiTokenRow = {
  id: 'tok-agent-7',
  name: 'agent on line 1',
  scope: 'agent',
  token_hash: SHA_B,
  created_at: T0 - 86_400_000,
  created_by: 'admin',
  last_used_at: T0,
  expires_at: Number.MAX_SAFE_INTEGER,
  revoked_at: null,
};

export const setting: SettingRow = {
  key: 'sampling',
  value: JSON.stringify({ band: [0.4, 0.7], random: { p: 0.01, enabled: true } }),
  revision: 7,
  updated_at: T0,
  updated_by: 'admin',
};

export const labelingQueueItem: LabelingQueueRow = {
  id: 'lq-1',
  prediction_id: predictionLog.id,
  camera: 'line-1',
  captured_at: T0,
  frame_blob: SHA_A,
  width: 640,
  height: 480,
  status: 'approved',
  priority: 0.8765432109,
  reason: 'low_confidence',
  strategy: 'candidates',
  strategy_score: 0.42,
  model_version: 'v12',
  pre_labels: detections,
  phash: 'f0e1d2c3b4a59687',
  claimed_by: 'alice',
  claimed_at: T0 + 5000,
  lease_expires_at: T0 + 65_000,
  labels: '[]',
  labeled_by: 'alice',
  labeled_at: T0 + 9000,
  lead_time_ms: 4000,
  notes: 'glare, not a scratch',
  flagged_reason: null,
  reviewed_by: 'bob',
  reviewed_at: T0 + 20_000,
  review_notes: 'agreed',
  created_at: T0 + 100,
  updated_at: T0 + 20_000,
};

export const reviewedLabel: ReviewedLabelRow = {
  id: 'rl-1',
  queue_item_id: 'lq-1',
  prediction_id: predictionLog.id,
  source: 'review',
  source_dataset_id: null,
  camera: 'line-1',
  image_blob: SHA_A,
  width: 640,
  height: 480,
  labels: '[]',
  labeled_by: 'alice',
  approved_by: 'bob',
  created_at: T0 + 20_000,
  used_for_training: 1,
  trained_in_model_version: 'v13',
  image_ext: 'jpg',
};

export const dataset: DatasetRow = {
  id: SHA_C,
  parent_id: null,
  source: 'snapshot',
  name: 'night fine-tune',
  manifest_blob: SHA_C,
  class_names: JSON.stringify(['scratch', 'crack', 'dent', 'stain']),
  counts: JSON.stringify({ images: 312, train: 250, val: 62, boxes: 401 }),
  created_at: T0 + 30_000,
  created_by: 'retraining',
  provenance: JSON.stringify({ reviewed_labels: 312 }),
};

export const driftReference: DriftReferenceRow = {
  id: 'ref-1',
  kind: 'training',
  model_version: 'v12',
  camera: null,
  sample_count: 2000,
  samples_blob: SHA_B,
  summary: JSON.stringify({ brightness: { mean: 0.5, sd: 0.05 } }),
  created_at: T0 - 1000,
};

export const driftReport: DriftReportRow = {
  id: 'dr-1',
  camera: 'line-1',
  model_version: 'v12',
  reference_id: 'ref-1',
  window_start: T0 - 600_000,
  window_end: T0,
  sample_count: 500,
  reference_count: 2000,
  drift_share: 3 / 7,
  level: 'yellow',
  drifted: 1,
  features: JSON.stringify({ brightness: { p: 1.2e-12, statistic: 0.61, drifted: true } }),
  decision_reason: '3 of 7 features drifted (p < 0.05): share 0.43 > 0.30',
  created_at: T0 + 1,
  status: 'drift',
  report: null,
  job_id: null,
};

export const model: ModelRow = {
  id: 'model-v12',
  version: 'v12',
  source: 'trained',
  artifact_blob: SHA_B,
  artifact_sha256: SHA_B,
  artifact_bytes: 3_000_000_000,
  weights_blob: SHA_C,
  layout: 'yolov8',
  class_names: JSON.stringify(['scratch', 'crack', 'dent', 'stain']),
  imgsz: 320,
  parent_version: 'v11',
  dataset_id: SHA_C,
  trainer_params: JSON.stringify({ epochs: 20, imgsz: 320, seed: 7 }),
  metrics: JSON.stringify({ map50: 0.8123, map50_95: 0.5011 }),
  training_log_blob: SHA_A,
  notes: null,
  created_by: 'retraining',
  created_at: T0 + 40_000,
  metadata: JSON.stringify({ visionloop_version: 'v12', names: "{0: 'scratch'}" }),
  producer: 'visionloop-trainer 0.1.0',
  task: 'detect',
};

export const modelAlias: ModelAliasRow = {
  alias: 'production',
  version: 'v12',
  updated_at: T0 + 50_000,
  updated_by: 'admin',
};

export const aliasHistory: AliasHistoryRow = {
  id: 'ah-1',
  alias: 'production',
  from_version: 'v11',
  to_version: 'v12',
  actor: 'admin',
  reason: 'better on night holdout (+0.21 mAP@0.5)',
  created_at: T0 + 50_000,
  action: 'canary',
  scope: JSON.stringify(['line-1', 'line-ü']),
};

export const retrainingEvent: RetrainingEventRow = {
  id: 're-1',
  job_id: 'job-1',
  kind: 'registered',
  trigger: 'drift',
  reason: 'drift share 0.43 > 0.30',
  model_version: 'v12',
  details: JSON.stringify({ epochs: 20, map50: 0.8123 }),
  actor: null,
  created_at: T0 + 40_001,
};

export const job: JobRow = {
  id: 'job-1',
  name: 'training.run',
  payload: JSON.stringify({ trigger: 'drift', base: 'v11' }),
  status: 'succeeded',
  priority: 5,
  dedupe_key: 'training',
  attempts: 2,
  max_attempts: 3,
  run_at: T0,
  lease_owner: 'worker-a',
  lease_expires_at: T0 + 60_000,
  cancel_requested: 0,
  progress: JSON.stringify({ epoch: 20, epochs: 20 }),
  result: JSON.stringify({ version: 'v12' }),
  error: null,
  created_at: T0,
  updated_at: T0 + 40_000,
  started_at: T0 + 10,
  finished_at: T0 + 40_000,
};

export const jobSchedule: JobScheduleRow = {
  key: 'drift.check',
  next_run_at: T0 + 300_000,
  last_run_at: T0,
  last_owner: 'worker-a',
  updated_at: T0,
};

export const jobWorker: JobWorkerRow = {
  id: 'worker-a',
  host: 'inspect-01',
  pid: 4242,
  job_names: JSON.stringify(['drift.check', 'training.run']),
  concurrency: 1,
  started_at: T0 - 5000,
  last_seen_at: T0,
  expires_at: T0 + 30_000,
};

export const shadowPrediction: ShadowPredictionRow = {
  id: 'agent-7:000000000042',
  camera: 'line-1',
  captured_at: T0,
  model_version: 'v13',
  production_version: 'v12',
  rollout_id: 'ro-1',
  detections,
  decision: 'PASS',
  disagreement: 0.6666666666666667,
  disagrees: 1,
  inference_ms: 11.5,
  received_at: T0 + 18,
};

export const rollout: RolloutRow = {
  id: 'ro-1',
  kind: 'canary',
  stage: 'detect',
  candidate_version: 'v13',
  baseline_version: 'v12',
  cameras: JSON.stringify(['line-1']),
  share: null,
  state: 'rolled-back',
  rules: JSON.stringify({ minFrames: 200, maxDefectRateDelta: 0.1 }),
  reason: 'night retrain',
  created_by: 'admin',
  started_at: T0 + 60_000,
  ended_at: T0 + 90_000,
  end_reason: 'defect rate +0.31 > +0.10',
};

/** Every table's fixture row, in an order that satisfies the foreign keys. */
export const ROW_INSERT_ORDER = [
  ['prediction_logs', predictionLog],
  ['prediction_classes', predictionClass],
  ['agents', agent],
  ['api_tokens', apiToken],
  ['settings', setting],
  ['labeling_queue', labelingQueueItem],
  ['reviewed_labels', reviewedLabel],
  ['datasets', dataset],
  ['drift_references', driftReference],
  ['drift_reports', driftReport],
  ['models', model],
  ['model_aliases', modelAlias],
  ['alias_history', aliasHistory],
  ['retraining_events', retrainingEvent],
  ['jobs', job],
  ['job_schedules', jobSchedule],
  ['job_workers', jobWorker],
  ['shadow_predictions', shadowPrediction],
  ['rollouts', rollout],
] as const satisfies readonly (readonly [TableName, object])[];

/** The primary-key column(s) of each table, for reading a fixture back. */
export const PRIMARY_KEYS = {
  prediction_logs: 'id',
  prediction_classes: 'prediction_id',
  agents: 'id',
  api_tokens: 'id',
  settings: 'key',
  labeling_queue: 'id',
  reviewed_labels: 'id',
  datasets: 'id',
  drift_references: 'id',
  drift_reports: 'id',
  models: 'id',
  model_aliases: 'alias',
  alias_history: 'id',
  retraining_events: 'id',
  jobs: 'id',
  job_schedules: 'key',
  job_workers: 'id',
  shadow_predictions: 'id',
  rollouts: 'id',
} as const satisfies Record<TableName, string>;
