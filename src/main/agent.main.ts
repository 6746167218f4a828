/**
 * Composition root of `visionloop agent` (one camera): configuration → outbox → server client
 * → inspection pipeline (whose results go to the outbox first) → sender. Stopping (the source
 * ended, --max-frames, --duration, SIGINT/SIGTERM) stops the source, lets in-flight results
 * land in the outbox, tries to empty the outbox for the drain timeout, then closes it; what is
 * still unsent stays in the outbox file for the next start.
 *
 * Over 500 lines on purpose: `startAgent` reads as its named steps (outbox, detector,
 * inspection, sender, plan follower, stats, finish) and each step sits right below it.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { InspectionChainRunner } from '../agent/inspection-chain.js';
import { PlanFollower, type PlanFollowerStats } from '../agent/plan-follower.js';
import { ShadowRunner, type ShadowRunnerStats } from '../agent/shadow-runner.js';
import { createOnnxDetector } from '../inference/onnx-detector.js';
import { OnnxCropClassifier, OnnxCropSegmenter } from '../inference/onnx-stage-model.js';
import { SwappableDetector } from '../inference/swappable-detector.js';
import { ModelClient, type ModelSource } from '../agent/uplink/model-client.js';
import { OutboxWriter } from '../agent/outbox-writer.js';
import { RecentOutcomes, type RecentOutcomeStats } from '../agent/recent-outcomes.js';
import { Outbox, type OutboxStats } from '../agent/outbox.js';
import type { PipelineOptions, PipelineStats } from '../agent/pipeline.js';
import type { SamplerStats } from '../agent/sampling/frame-sampler.js';
import { SamplingStage } from '../agent/sampling/sampling-stage.js';
import { ServerClient } from '../agent/uplink/server-client.js';
import {
  Sender,
  type AgentHealth,
  type LogLevel,
  type SenderOptions,
  type SenderStats,
  type UplinkClient,
} from '../agent/uplink/sender.js';
import type { AgentConfig } from '../config/agent.config.js';
import {
  DEFAULT_AGENT_SETTINGS,
  type AgentSettings,
  type HeartbeatResponse,
} from '../shared/api/agents.js';
import { DEFAULT_DECISION_POLICY } from '../vision/decision.js';
import { DEFAULT_RANKING_SETTINGS } from '../shared/api/sampling.js';
import { DEFAULT_DETECT_OPTIONS, type Detector, type ModelInfo } from '../vision/detector.js';
import type { CropClassifier, CropSegmenter } from '../vision/stage-model.js';
import { resolveModelPath, startDetect } from './detect.main.js';

/** The agent's software version (package.json), sent at registration. */
export function agentVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: unknown };
    return typeof pkg.version === 'string' && pkg.version !== '' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface AgentStats {
  pipeline: PipelineStats;
  outbox: OutboxStats;
  sender: SenderStats;
  /** Active-learning sampling decisions of this run. */
  sampling: SamplerStats;
  /** Defect and uncertain rates of the frames of the last 60 s (the live summary's). */
  recent: RecentOutcomeStats;
  /** Following the server's model plan (or production); null when not following. */
  modelUpdates: PlanFollowerStats | null;
  /** The shadow model's frames and disagreements in this run. */
  shadow: ShadowRunnerStats;
  /** Frames whose inspection-chain stages failed (decided on their detections alone). */
  chainFailures: number;
  /** Results the pipeline produced in this run, still buffered in memory, lost to I/O errors. */
  producedResults: number;
  bufferedResults: number;
  lostResults: number;
}

/** The final numbers of a run, printed as one JSON line by the CLI. */
export interface AgentSummary {
  event: 'agent-summary';
  camera: string;
  agentId: string | null;
  modelVersion: string;
  outbox: string;
  /** Prefix of this run's result ids (`<prefix>-<frameIndex>`). */
  resultIdPrefix: string | null;
  /** Frame results the pipeline produced in this run (frame indexes from 0). */
  framesProduced: number;
  framesCaptured: number;
  /** Frames dropped before detection because inference fell behind (no result produced). */
  droppedFrames: number;
  /** Results the server acknowledged in this run (including ones left by an earlier run). */
  resultsAcknowledged: number;
  accepted: number;
  duplicates: number;
  /** Results the server refused for good in this run. */
  rejected: number;
  /** Results and frames shed by the outbox's disk bound in this run. */
  shed: number;
  shedResults: number;
  shedFrames: number;
  /** Results that could not be written to the outbox (I/O error). */
  lost: number;
  framesUploaded: number;
  /** Frames this run sampled for labeling (their JPEGs are uploaded). */
  framesSampled: number;
  /** Send attempts that failed transiently (server down, network) and were retried. */
  sendFailures: number;
  /** Results and frames still in the outbox at exit (sent by the next start). */
  stillInOutbox: number;
  framesStillInOutbox: number;
  /** Whether the outbox was emptied before exit. */
  drained: boolean;
  authFailed: boolean;
  durationS: number;
  error: string | null;
}

export interface AgentRun {
  model: ModelInfo;
  sourceDescription: string;
  outboxPath: string;
  stats(): AgentStats;
  /**
   * Asks the agent to stop: the source stops, results land in the outbox, the outbox drains for
   * the drain timeout. With `immediate`, the drain is skipped (the outbox keeps what is unsent).
   */
  stop(immediate?: boolean): void;
  /** Resolves when the agent has stopped and closed its outbox. */
  done: Promise<{ summary: AgentSummary; failure: unknown }>;
}

export interface StartAgentOptions {
  config: AgentConfig;
  pipeline?: Partial<PipelineOptions>;
  sender?: SenderOptions;
  log?: (level: LogLevel, message: string) => void;
  /** Injected in tests; default a ServerClient for config.serverUrl. */
  client?: UplinkClient;
  /**
   * Where the agent learns of and downloads the production model; default a ModelClient for
   * config.serverUrl. Null: keep the model it started with (and follow no plan).
   */
  modelSource?: ModelSource | null;
  /**
   * Factories of the stage models and the shadow detector the model plan asks for (each a new,
   * unloaded model in its own worker). Default: ONNX Runtime ones; null: none (a plan's
   * classify/segment stages are skipped, logged once per chain; no shadow runs).
   */
  createClassifier?: (() => CropClassifier) | null;
  createSegmenter?: (() => CropSegmenter) | null;
  createShadowDetector?: (() => Detector) | null;
}

function stderrLog(level: LogLevel, message: string): void {
  process.stderr.write(`${new Date().toISOString()} agent ${level}: ${message}\n`);
}

function describeFailure(failure: unknown): string {
  return failure instanceof Error ? failure.message : JSON.stringify(failure);
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) && value >= 0 ? value : null;
}

function rate(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** The pipeline's part of a heartbeat. */
export function healthOf(stats: PipelineStats): AgentHealth {
  return {
    cameraFps: rate(stats.cameraFps),
    processFps: rate(stats.processFps),
    skippedFps: rate(stats.skippedFps),
    droppedFrames: stats.droppedFrames,
    modelVersion: stats.modelVersion,
    inferenceMsP50: finiteOrNull(stats.inferenceMsP50),
    inferenceMsP99: finiteOrNull(stats.inferenceMsP99),
  };
}

type DetectRun = Awaited<ReturnType<typeof startDetect>>;

/** What the steps of one agent run share and update while it runs. */
interface RunState {
  /** The server's agent settings (kept in the outbox); read at every frame. */
  settings: AgentSettings;
  resultIdPrefix: string | null;
  /** The pipeline's last stats: its detector is disposed when the run ends. */
  lastPipelineStats: PipelineStats | null;
  /** The outbox's numbers when it was closed (at start until then). */
  finalOutbox: OutboxStats;
  skipDrain: boolean;
}

/** The parts of one running agent, as `startAgent` wired them. */
interface AgentParts {
  config: AgentConfig;
  log: (level: LogLevel, message: string) => void;
  startedAt: number;
  outbox: Outbox;
  atStart: OutboxStats;
  writer: OutboxWriter;
  sampling: SamplingStage;
  recent: RecentOutcomes;
  detect: DetectRun;
  sender: Sender;
  updater: PlanFollower | null;
  chain: InspectionChainRunner;
  shadow: ShadowRunner;
  durationTimer: NodeJS.Timeout | null;
  state: RunState;
}

/**
 * Starts the agent: opens the outbox (failing at once if another agent holds it), loads the
 * model, opens the source and starts streaming; the sender registers and sends in the
 * background, so a server that is down at start costs nothing but outbox space.
 */
export async function startAgent(options: StartAgentOptions): Promise<AgentRun> {
  const { config } = options;
  const log = options.log ?? stderrLog;
  const startedAt = Date.now();
  const { outbox, atStart } = openOutbox(config, log);
  const state: RunState = {
    settings: outbox.loadSettings() ?? DEFAULT_AGENT_SETTINGS,
    resultIdPrefix: null,
    lastPipelineStats: null,
    finalOutbox: atStart,
    skipDrain: false,
  };
  // Reads `state.settings` at every frame: a revision from the server applies to the next frame.
  const sampling = new SamplingStage({ settings: () => state.settings });
  const recent = new RecentOutcomes();
  let sender: Sender | null = null;
  const writer = new OutboxWriter(outbox, {
    settings: () => state.settings,
    onCommitted: () => sender?.wake(),
    onWarning: (message) => log('warn', message),
  });
  const stopping = new AbortController();
  // Hot-swappable: the plan follower replaces the model between two frames.
  const detector = createAgentDetector(config);
  // The stages after detect and the shadow: the plan follower configures both.
  const chain = new InspectionChainRunner({ log });
  const shadow = new ShadowRunner({ log });
  const detect = await startInspection(options, {
    detector,
    chain,
    shadow,
    signal: stopping.signal,
    onResult: (result, frame, candidates) => {
      state.resultIdPrefix ??= result.id.slice(0, result.id.lastIndexOf('-'));
      recent.add(result);
      writer.add(sampling.apply(result, frame.image, candidates), frame);
    },
    closeOutbox: async () => {
      await writer.close();
      outbox.close();
    },
    settings: () => state.settings,
  });
  const activeSender = startSender(options, {
    outbox,
    state,
    pipelineStats: () => currentPipelineStats(detect, state),
    onHeartbeat: (answer) => updater?.offerHeartbeat(answer),
    log,
  });
  sender = activeSender;
  const updater = startPlanFollower(options, { detector, chain, shadow }, activeSender, log);
  const durationTimer =
    config.durationS !== undefined
      ? setTimeout(() => stopping.abort(), config.durationS * 1000)
      : null;
  const parts: AgentParts = {
    config,
    log,
    startedAt,
    outbox,
    atStart,
    writer,
    sampling,
    recent,
    detect,
    sender: activeSender,
    updater,
    chain,
    shadow,
    durationTimer,
    state,
  };
  return {
    model: detect.model,
    sourceDescription: detect.sourceDescription,
    outboxPath: config.outboxPath,
    stats: () => agentStats(parts),
    stop(immediate = false) {
      if (immediate) {
        state.skipDrain = true;
        void activeSender.stop();
      }
      stopping.abort();
    },
    done: finishRun(parts),
  };
}

/** Step 1: opens the outbox (throws when another agent holds it) and says what it holds. */
function openOutbox(
  config: AgentConfig,
  log: AgentParts['log'],
): { outbox: Outbox; atStart: OutboxStats } {
  const outbox = Outbox.open(config.outboxPath, {
    maxBytes: config.outboxMaxBytes,
    onWarning: (message) => log('warn', message),
  });
  const atStart = outbox.stats();
  if (atStart.pendingResults > 0) {
    log(
      'info',
      `the outbox ${config.outboxPath} holds ${atStart.pendingResults} results from an earlier run; they are sent first`,
    );
  }
  return { outbox, atStart };
}

/** Step 2: the hot-swappable detector; each model it loads runs in its own worker thread. */
function createAgentDetector(config: AgentConfig): SwappableDetector {
  return new SwappableDetector(() =>
    createOnnxDetector({
      threads: config.runtime.VISIONLOOP_THREADS,
      spinning: config.runtime.VISIONLOOP_ORT_SPINNING,
    }),
  );
}

/**
 * Step 3: loads the model, opens the source and starts the inspection pipeline. When that
 * fails, the outbox is closed before the error is thrown.
 */
async function startInspection(
  options: StartAgentOptions,
  wiring: {
    detector: SwappableDetector;
    chain: InspectionChainRunner;
    shadow: ShadowRunner;
    signal: AbortSignal;
    onResult: NonNullable<Parameters<typeof startDetect>[0]['onResult']>;
    closeOutbox: () => Promise<void>;
    /** The server's agent settings as they are now (thresholds apply from the next frame). */
    settings: () => AgentSettings;
  },
): Promise<DetectRun> {
  const { config } = options;
  try {
    return await startDetect({
      detector: wiring.detector,
      modelPath: resolveModelPath(config.model, config.runtime),
      source: config.source,
      config: config.runtime,
      fps: config.fps,
      maxFrames: config.maxFrames,
      seed: config.seed,
      signal: wiring.signal,
      pipeline: {
        ...options.pipeline,
        camera: config.camera,
        chain: wiring.chain,
        shadow: wiring.shadow,
        // Class scores feed the sampler's informativeness (margin, entropy); the candidates
        // below the cut its candidate uncertainty (the threshold in force at start applies).
        detect: {
          ...(options.pipeline?.detect ?? DEFAULT_DETECT_OPTIONS),
          classScores: true,
          ...candidateDetectOptions(wiring.settings()),
        },
        // The server's settings, read at every frame: a change applies to the next frame.
        thresholds:
          options.pipeline?.thresholds ??
          (() => {
            const settings = wiring.settings();
            return {
              confThreshold: settings.detectionConfidence ?? DEFAULT_DETECT_OPTIONS.confThreshold,
              failThreshold: settings.failThreshold ?? DEFAULT_DECISION_POLICY.failThreshold,
            };
          }),
      },
      onResult: wiring.onResult,
    });
  } catch (error) {
    await wiring.closeOutbox();
    throw error;
  }
}

/**
 * The pipeline's stats need its detector, which is disposed when the run ends; heartbeats
 * and the summary after that use the last numbers it gave.
 */
function currentPipelineStats(detect: DetectRun, state: RunState): PipelineStats {
  try {
    state.lastPipelineStats = detect.stats();
  } catch (error) {
    if (!state.lastPipelineStats) throw error;
  }
  return state.lastPipelineStats;
}

/** Step 4: the sender registers, sends the outbox and heartbeats, in the background. */
function startSender(
  options: StartAgentOptions,
  wiring: {
    outbox: Outbox;
    state: RunState;
    pipelineStats: () => PipelineStats;
    onHeartbeat: (answer: HeartbeatResponse) => void;
    log: AgentParts['log'];
  },
): Sender {
  const { config } = options;
  const { state } = wiring;
  const client =
    options.client ??
    new ServerClient({
      baseUrl: config.serverUrl,
      token: config.token,
      timeoutMs: config.requestTimeoutMs,
    });
  const sender = new Sender(
    {
      outbox: wiring.outbox,
      client,
      registration: { camera: config.camera, version: agentVersion(), hostname: hostname() },
      health: () => healthOf(wiring.pipelineStats()),
      settings: state.settings,
      onSettings: (next) => {
        state.settings = next;
      },
      onHeartbeat: (answer) => wiring.onHeartbeat(answer),
      log: wiring.log,
    },
    { batchSize: config.batchSize, batchDelayMs: config.batchDelayMs, ...options.sender },
  );
  sender.start();
  return sender;
}

/**
 * Step 5: follows the server's model plan — detector, stage models, chain, shadow — or, from a
 * server that sends no plan, the registry's production model (null when pinned to the
 * starting model).
 */
function startPlanFollower(
  options: StartAgentOptions,
  wiring: { detector: SwappableDetector; chain: InspectionChainRunner; shadow: ShadowRunner },
  sender: Sender,
  log: AgentParts['log'],
): PlanFollower | null {
  const { config } = options;
  const modelSource =
    options.modelSource === undefined
      ? new ModelClient({ baseUrl: config.serverUrl, token: config.token })
      : options.modelSource;
  if (modelSource === null) return null;
  const follower = new PlanFollower({
    source: modelSource,
    detector: wiring.detector,
    chain: wiring.chain,
    shadow: wiring.shadow,
    modelsDir: join(dirname(config.outboxPath), 'models'),
    agentId: () => sender.stats().agentId,
    log,
    // The stage models run on ONNX Runtime, each in its own worker thread with one ORT thread:
    // their crops are small, and the detector keeps the configured threads.
    createClassifier:
      options.createClassifier === undefined
        ? () => new OnnxCropClassifier({ threads: 1 })
        : options.createClassifier,
    createSegmenter:
      options.createSegmenter === undefined
        ? () => new OnnxCropSegmenter({ threads: 1 })
        : options.createSegmenter,
    // The shadow runs in its own worker thread, beside the serving detector's.
    createShadowDetector:
      options.createShadowDetector === undefined
        ? () =>
            createOnnxDetector({
              threads: config.runtime.VISIONLOOP_THREADS,
              spinning: config.runtime.VISIONLOOP_ORT_SPINNING,
            })
        : options.createShadowDetector,
  });
  follower.start();
  return follower;
}

/** Disposes the stage models the plan follower loaded (the pipeline has stopped). */
async function disposeStageModels(parts: AgentParts): Promise<void> {
  const { classifier, segmenter } = parts.chain.stageModels;
  parts.chain.setClassifier(null);
  parts.chain.setSegmenter(null);
  for (const model of [classifier, segmenter]) {
    if (model === null) continue;
    await model.dispose().catch((error: unknown) => {
      parts.log('warn', `disposing the ${model.info.task} model: ${String(error)}`);
    });
  }
}

function agentStats(parts: AgentParts): AgentStats {
  const { outbox, writer, state } = parts;
  return {
    pipeline: currentPipelineStats(parts.detect, state),
    outbox: outbox.isClosed ? state.finalOutbox : outbox.stats(),
    sender: parts.sender.stats(),
    sampling: parts.sampling.stats(),
    recent: parts.recent.stats(),
    modelUpdates: parts.updater?.stats() ?? null,
    shadow: parts.shadow.stats(),
    chainFailures: parts.chain.failures,
    producedResults: writer.produced,
    bufferedResults: writer.buffered,
    lostResults: writer.lostResults,
  };
}

/**
 * Step 6, when the pipeline ends: stops following models, lets results land in the outbox,
 * drains it for the drain timeout (unless told to skip), closes it and sums the run up.
 */
async function finishRun(parts: AgentParts): Promise<{ summary: AgentSummary; failure: unknown }> {
  const { config, log, outbox, writer, state, sender } = parts;
  let failure: unknown = null;
  let finalStats: { capturedFrames: number; droppedFrames: number };
  try {
    state.lastPipelineStats = await parts.detect.done;
    finalStats = state.lastPipelineStats;
  } catch (error) {
    failure = error;
    finalStats = state.lastPipelineStats ?? { capturedFrames: writer.produced, droppedFrames: 0 };
  }
  await parts.updater?.stop();
  await disposeStageModels(parts);
  if (parts.durationTimer) clearTimeout(parts.durationTimer);
  await writer.close();
  if (!state.skipDrain) {
    const pending = outbox.stats();
    if (pending.pendingResults + pending.pendingFrames > 0) {
      log(
        'info',
        `stopping: sending the ${pending.pendingResults} results and ${pending.pendingFrames} frames left in the outbox (up to ${config.drainTimeoutS} s)`,
      );
    }
    await sender.drain(config.drainTimeoutS * 1000);
  }
  await sender.stop();
  state.finalOutbox = outbox.stats();
  const finalOutbox = state.finalOutbox;
  const drained = finalOutbox.pendingResults === 0 && finalOutbox.pendingFrames === 0;
  outbox.close();
  if (!drained) {
    log(
      'warn',
      `${finalOutbox.pendingResults} results and ${finalOutbox.pendingFrames} frames stay in ${config.outboxPath}; the next start sends them`,
    );
  }
  return { summary: summarize(parts, finalStats, drained, failure), failure };
}

/** The run's final numbers (`AgentSummary`), from the parts after they stopped. */
function summarize(
  parts: AgentParts,
  finalStats: { capturedFrames: number; droppedFrames: number },
  drained: boolean,
  failure: unknown,
): AgentSummary {
  const { config, writer, atStart, state } = parts;
  const finalOutbox = state.finalOutbox;
  const senderStats = parts.sender.stats();
  const shedResults = finalOutbox.shedResults - atStart.shedResults;
  const shedFrames = finalOutbox.shedFrames - atStart.shedFrames;
  return {
    event: 'agent-summary',
    camera: config.camera,
    agentId: senderStats.agentId,
    modelVersion: state.lastPipelineStats?.modelVersion ?? parts.detect.model.version,
    outbox: config.outboxPath,
    resultIdPrefix: state.resultIdPrefix,
    framesProduced: writer.produced,
    framesCaptured: finalStats.capturedFrames,
    droppedFrames: finalStats.droppedFrames,
    resultsAcknowledged: senderStats.resultsAcknowledged,
    accepted: senderStats.accepted,
    duplicates: senderStats.duplicates,
    rejected: senderStats.resultsRejected,
    shed: shedResults + shedFrames,
    shedResults,
    shedFrames,
    lost: writer.lostResults,
    framesUploaded: senderStats.framesUploaded,
    framesSampled: parts.sampling.stats().sampled,
    sendFailures: senderStats.failures,
    stillInOutbox: finalOutbox.pendingResults,
    framesStillInOutbox: finalOutbox.pendingFrames,
    drained,
    authFailed: senderStats.authFailed,
    durationS: Math.round((Date.now() - parts.startedAt) / 100) / 10,
    error: failure === null ? null : describeFailure(failure),
  };
}

/** The detector's candidate cut for the sampler's ranking; none when ranking asks for none. */
function candidateDetectOptions(settings: AgentSettings): { candidateThreshold?: number } {
  const threshold = (settings.sampling?.ranking ?? DEFAULT_RANKING_SETTINGS).candidateThreshold;
  return threshold > 0 ? { candidateThreshold: threshold } : {};
}
