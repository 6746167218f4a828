/**
 * Composition root of `visionloop up` (what `npm start` runs): the server, a job worker sharing
 * its database and services (drift checks, snapshots, training), one agent per camera on the
 * synthetic line, and — on by default — the simulated reviewer that answers the labeling queue
 * from the line's ground truth through the HTTP API, so the loop (drift → labels → retraining →
 * promotion → hot swap) closes by itself. Everything runs in one process on the embedded
 * defaults (SQLite and files under the data directory); a second start resumes with the data
 * kept (the settings below are stored only on a first start, tokens are reused).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveAgentConfig } from '../config/agent.config.js';
import { loadServerConfig, type ServerConfigOverrides } from '../config/server.config.js';
import type { Scope } from '../shared/api/common.js';
import type { SamplingSettingsUpdate } from '../shared/api/sampling.js';
import type { CreatedToken } from '../shared/api/tokens.js';
import { FAST_RETRAINING_SETTINGS } from '../shared/api/retraining.js';
import { messageOf } from '../shared/errors.js';
import { demoChain } from './demo-chain.js';
import { startAgent, type AgentRun, type AgentSummary } from './agent.main.js';
import { LoopNarrator } from './loop-narrator.js';
import {
  DEMO_REVIEWER_DELAYS,
  FAST_REVIEWER_DELAYS,
  SIMULATED_APPROVER_NAME,
  SIMULATED_REVIEWER_NAME,
  SimulatedReviewer,
  type SynthLineSpec,
} from './simulated-reviewer.js';
import { startServer, type RunningServer } from './server.main.js';
import { loadWorkerConfig } from '../config/worker.config.js';
import { startWorker, stderrJobLogger, type RunningWorker } from './worker.main.js';

/**
 * Drift settings `up` stores on a first start: a baseline of 20 frames 3 s apart (the first
 * minute of nominal light of `drift-demo`, whose night falls at 120 s), windows of the newest
 * 20, a check every 15 s — night shows as drift within about a minute of its onset.
 */
export const DRIFT_DEMO_SETTINGS = {
  baselineSamples: 20,
  windowSamples: 20,
  minSamples: 20,
  minSpacingSeconds: 3,
  checkEverySeconds: 15,
} as const;

/**
 * `--fast`: a baseline of 20 frames 2 s apart (four passes of the belt's 10-s part cycle: with
 * 10 frames 1 s apart, or 15 frames 2 s apart, a window's phase of the cycle differed from the
 * baseline's enough to read as yellow on nominal light) and a check every 5 s; night falls at
 * 60 s of the camera's clock.
 */
export const DRIFT_FAST_SETTINGS = {
  baselineSamples: 20,
  windowSamples: 20,
  minSamples: 20,
  minSpacingSeconds: 2,
  checkEverySeconds: 5,
} as const;

/**
 * Retraining settings of the demo (first start only): a candidate that passes the gate goes to
 * production by itself, and a drift starts a training once 200 new labels exist — the drift
 * experiment's 200 night frames (docs/drift-experiment.md: 200 + 200 replay → night 0.866) —
 * instead of on the first label. The trainer runs the defaults (warm start, 1:1 replay of the
 * seed's training set, 12 epochs at lr 1e-3, imgsz 320, 1 thread at nice 10). Measured with
 * 200 labels (bench/loop.bench.ts, quiet machine): onset → promoted 563 s, night 0.834, nominal
 * −0.011; again: 497 s, night 0.819, −0.012 — of its 214 labels 32 were nominal frames labelled
 * before the onset (docs/agent.md). Recipes tried for night ≥ 0.85 (docs/retraining.md, "The demo's budget"): lr 1.5e-3
 * and dimmed replay frames do not help; 16 epochs do (+0.009 on the recipe bench) but fit the
 * 600 s only with 2 trainer threads, not yet measured against detection's fps. What decides
 * most is which parts cross the camera while night is labelled (±0.04 between camera seeds;
 * docs/retraining.md, "Which parts the night labels show").
 */
export const RETRAINING_DEMO_SETTINGS = {
  autoPromote: true,
  driftMinNewLabels: 200,
  // The label-count trigger (default 50) would start a training on the nominal frames the
  // sampler queues before night falls: in the demo the drift decides.
  labelThreshold: 1000,
  evaluateEverySeconds: 10,
  // With 100 labels and the trainer's defaults (12 epochs): night 0.816, nominal −0.013,
  // onset → promoted 294 s (bench/loop.bench.ts); with 200: night 0.834, 563 s.
} as const;

/**
 * `--fast`: the budget of the end-to-end test — 60 new labels (+ 60 replayed seed frames),
 * FAST_RETRAINING_SETTINGS (5 epochs at lr 2e-3), a 40-image nominal holdout, a one-minute
 * cooldown, the policy evaluated every 5 s. It proves the loop's mechanics and a large night
 * gain, not the demo's nominal accuracy: the gate tolerates a 0.15 nominal loss here.
 */
export const RETRAINING_FAST_SETTINGS = {
  ...FAST_RETRAINING_SETTINGS,
  autoPromote: true,
  driftMinNewLabels: 60,
  labelThreshold: 1000,
  nominalHoldoutImages: 40,
  cooldownMinutes: 1,
  evaluateEverySeconds: 5,
  maxNominalLoss: 0.15,
} as const;

/**
 * Sampling of the demo (first start only): up to 60 frames a minute per camera. Under drift,
 * novelty (diversity) sampling is what queues night frames — the uncertainty band is empty when
 * the model sees nothing, and drift-boosted frames are deduplicated away by the dHash, which
 * cannot tell dim frames apart — so frames a little new count (`minNovelty` 0.1; at the
 * default 0.25 about 10 night frames a minute were queued). The uncertainty band keeps 5% of
 * its frames instead of 50%: on `nominal` it otherwise filled the queue (and the labels the
 * drift trigger counts) with nominal frames before night fell.
 */
export const SAMPLING_DEMO_SETTINGS: SamplingSettingsUpdate = {
  caps: { perMinute: 60, perHour: 1200 },
  strategies: { uncertainty: { keepProbability: 0.05 }, novelty: { minNovelty: 0.1 } },
};

/** `--fast`: the same. */
export const SAMPLING_FAST_SETTINGS: SamplingSettingsUpdate = SAMPLING_DEMO_SETTINGS;

/** The scenario `--fast` runs when none is given: a minute of nominal light, then night. */
export const FAST_SCENARIO = 'nominal:60,night';

export interface UpOptions {
  server: ServerConfigOverrides;
  /** A synthetic-line scenario (`drift-demo`, a preset, or a timeline). */
  scenario: string;
  fps: number;
  /** Seed of the first camera's line; camera k uses seed + k − 1. */
  seed: number;
  model?: string;
  /** Cameras (one agent each): `synth-line-1` … `synth-line-N`. Default 1. */
  cameras?: number;
  /** Short windows, a small training budget and a quick reviewer (tests). */
  fast?: boolean;
  /** Run the simulated reviewer (default true). */
  simulatedReviewer?: boolean;
  /** Where one-line loop steps go (default: nowhere). */
  narrate?: (line: string) => void;
  env?: Record<string, string | undefined>;
}

export interface UpCamera {
  camera: string;
  agent: AgentRun;
  scenario: string;
  seed: number;
  fps: number;
}

export interface UpRun {
  server: RunningServer;
  /** The first camera's agent. */
  agent: AgentRun;
  cameras: UpCamera[];
  /** The in-process job worker (scheduled drift checks, on-demand jobs). */
  worker: RunningWorker;
  reviewer: SimulatedReviewer | null;
  /** Where the admin token lives. */
  adminTokenFile: string;
  /** The admin token when this start created it (a first start), else null. */
  adminToken: CreatedToken | null;
  /** The scenario the cameras run. */
  scenario: string;
  /** Stops the reviewer, the agents (draining their outboxes), the worker, then the server. */
  stop(): Promise<AgentSummary[]>;
}

/**
 * A token `up` keeps beside the admin token (owner-only), so restarts reuse it instead of
 * minting a new one every time.
 */
async function keptToken(
  server: RunningServer,
  file: string,
  name: string,
  scope: Scope,
): Promise<string> {
  const saved = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (saved && (await server.services.auth.authenticate(saved))?.scope === scope) return saved;
  const created = await server.services.auth.createToken({ name, scope }, 'up');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${created.token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return created.token;
}

/** Stores the demo's settings over the defaults when nothing was stored yet (a first start). */
async function initDemoSettings(server: RunningServer, fast: boolean): Promise<void> {
  const { services } = server;
  await services.retraining.initSettings(
    fast ? RETRAINING_FAST_SETTINGS : RETRAINING_DEMO_SETTINGS,
    'up',
  );
  // With the production defaults (a baseline of 200 frames 10 s apart) the baseline alone
  // would take 33 minutes and end up half night. The demo's settings fit its timelines.
  await services.drift.initSettings(fast ? DRIFT_FAST_SETTINGS : DRIFT_DEMO_SETTINGS, 'up');
  // The demo inspects with the shipped three-stage chain (detect → classify → segment), unless
  // a chain was stored before (an earlier start, an admin) or the stage models are missing.
  if ((await services.inspectionChain.get()).updatedAt === null) {
    try {
      await services.inspectionChain.update({ camera: null, chain: demoChain() }, 'up');
    } catch (error) {
      process.stderr.write(
        `visionloop up: the cameras run detect alone: the demo chain was refused: ${messageOf(error)}\n`,
      );
    }
  }
  const agentSettings = await services.agents.agentSettings();
  if (agentSettings.revision === 0) {
    await services.agents.updateAgentSettings(
      { sampling: fast ? SAMPLING_FAST_SETTINGS : SAMPLING_DEMO_SETTINGS },
      'up',
    );
  }
}

export async function startUp(options: UpOptions): Promise<UpRun> {
  const env = options.env ?? process.env;
  const fast = options.fast ?? false;
  const cameraCount = options.cameras ?? 1;
  const scenario = fast && options.scenario === 'drift-demo' ? FAST_SCENARIO : options.scenario;
  const config = loadServerConfig(env, options.server);
  // The admin token is announced by the caller (once, as a sign-in link), not by the server.
  const server = await startServer(config, { logger: { level: 'warn' }, onAdminToken: () => {} });
  let worker: RunningWorker | undefined;
  const agents: UpCamera[] = [];
  let reviewer: SimulatedReviewer | null = null;
  let narrator: LoopNarrator | null = null;
  try {
    await initDemoSettings(server, fast);
    // The seed's training set (the first training's replay) is rendered now, before the line
    // starts: rendering runs on this process's main thread, and in the background it starved
    // the camera (detection fell to ~2 fps for minutes). Done once; later starts skip it.
    const replayStarted = Date.now();
    try {
      const what = await server.services.retraining.prepareReplay();
      if (Date.now() - replayStarted > 1_000) {
        options.narrate?.(
          `prepared the first retraining's replay in ${((Date.now() - replayStarted) / 1000).toFixed(0)} s (first start only): ${what}`,
        );
      }
    } catch (error) {
      options.narrate?.(
        `replay not prepared ahead (${error instanceof Error ? error.message : String(error)}); the first training renders it`,
      );
    }
    worker = await startWorker(loadWorkerConfig(env, options.server), {
      database: server.database,
      services: server.services,
      log: stderrJobLogger('warn'),
      unref: true,
    });
    const agentToken = await keptToken(
      server,
      join(config.dataDir, 'up-agent-token'),
      'up: demo agent',
      'agent',
    );
    for (let k = 1; k <= cameraCount; k++) {
      const camera = `synth-line-${k}`;
      const seed = options.seed + k - 1;
      const agentConfig = resolveAgentConfig(
        {
          server: server.url,
          token: agentToken,
          source: `synth:${scenario}`,
          camera,
          model: options.model,
          fps: options.fps,
          seed,
          outbox: join(config.dataDir, `agent-${camera}`, 'outbox.db'),
        },
        { ...env, VISIONLOOP_DATA_DIR: config.dataDir },
      );
      const agent = await startAgent({
        config: agentConfig,
        log: (level, message) => {
          // The live summary line already says what info messages would.
          if (level !== 'info') process.stderr.write(`${camera} ${level}: ${message}\n`);
        },
      });
      agents.push({ camera, agent, scenario, seed, fps: options.fps });
    }
    if (options.simulatedReviewer ?? true) {
      const lines: Record<string, SynthLineSpec> = {};
      for (const c of agents) lines[c.camera] = { scenario: c.scenario, seed: c.seed, fps: c.fps };
      reviewer = new SimulatedReviewer({
        baseUrl: server.url,
        reviewerToken: await keptToken(
          server,
          join(config.dataDir, 'up-simulated-reviewer-token'),
          SIMULATED_REVIEWER_NAME,
          'labeler',
        ),
        approverToken: await keptToken(
          server,
          join(config.dataDir, 'up-simulated-approver-token'),
          SIMULATED_APPROVER_NAME,
          'labeler',
        ),
        lines,
        delays: fast ? FAST_REVIEWER_DELAYS : DEMO_REVIEWER_DELAYS,
        seed: options.seed,
        log: (message) => options.narrate?.(message),
      });
      reviewer.start();
    }
    if (options.narrate) {
      const activeReviewer = reviewer;
      narrator = new LoopNarrator({
        services: server.services,
        cameras: agents,
        simulatedLabels: activeReviewer ? () => activeReviewer.stats().approved : undefined,
        write: options.narrate,
        pollMs: fast ? 1_000 : 2_000,
        progressEveryMs: fast ? 5_000 : 15_000,
      });
      narrator.start();
    }
  } catch (error) {
    narrator?.stop();
    await reviewer?.stop();
    for (const c of agents) c.agent.stop(true);
    await Promise.allSettled(agents.map((c) => c.agent.done));
    await worker?.stop({ graceMs: 0 });
    await server.close();
    throw error;
  }
  let stopping: Promise<AgentSummary[]> | undefined;
  const jobWorker = worker;
  const first = agents[0]!;
  return {
    server,
    agent: first.agent,
    cameras: agents,
    worker: jobWorker,
    reviewer,
    adminTokenFile: config.adminTokenFile,
    adminToken: server.adminToken,
    scenario,
    stop() {
      stopping ??= (async () => {
        narrator?.stop();
        await reviewer?.stop();
        for (const c of agents) c.agent.stop();
        const summaries = await Promise.all(agents.map(async (c) => (await c.agent.done).summary));
        // A running training is interrupted and resumes (it is a job) on the next start.
        await jobWorker.stop({ graceMs: 10_000 });
        await server.close();
        return summaries;
      })();
      return stopping;
    },
  };
}
