/**
 * What `visionloop up` says on the terminal as the loop turns: one line per step, in the
 * order a newcomer watches them happen — conditions change on the line (from the scenario's
 * timeline), drift goes yellow/red, the queue fills, labels arrive, a retraining starts and
 * progresses, a version is registered with its metrics, the gate passes or rejects it,
 * `production` moves, each agent hot-swaps, and the defect rate comes back.
 *
 * It only observes: it subscribes to the server's event bus and reads the services and the
 * agents' stats in-process (up owns them all); it never changes anything. Each line goes to
 * `write` with the time since start.
 */
import type { AgentRun } from './agent.main.js';
import type { AppServices } from '../http/app.js';
import type { SystemEvent } from '../services/event-bus.js';
import { parseScenario, scenarioStateAt, type Scenario } from '../synth/scenario.js';

export interface NarratedCamera {
  camera: string;
  agent: AgentRun;
  /** The synthetic scenario the camera runs and its clock (frames per second). */
  scenario: string;
  fps: number;
}

export interface LoopNarratorOptions {
  services: Pick<AppServices, 'events' | 'labeling' | 'retraining'>;
  cameras: readonly NarratedCamera[];
  /** Labels of the simulated reviewer approved so far (null when it is off). */
  simulatedLabels?: () => number | null;
  write: (line: string) => void;
  /** How often the services and agents are polled, ms. */
  pollMs?: number;
  /** Least time between two training-progress lines, ms. */
  progressEveryMs?: number;
  now?: () => number;
}

interface CameraState {
  scenario: Scenario;
  preset: string | null;
  modelVersion: string | null;
  /**
   * The line's normal level: the mean of the 60-s defect rates polled on the first preset
   * (before any swap). Not their maximum: most frames of the synthetic line show a defect, so
   * the highest window read ~100% and no model came back to it.
   */
  normalDefectRate: number | null;
  normalSamples: number;
  /** Set when the defect rate fell under half the normal level; cleared on recovery. */
  collapsed: boolean;
  swapped: boolean;
}

const QUEUE_STEPS = [1, 10, 25, 50, 100, 200, 400, 800];
const LABEL_STEPS = [1, 10, 25, 50, 100, 200, 400, 800];

function percent(share: number): string {
  return `${(100 * share).toFixed(share < 0.1 ? 1 : 0)}%`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function numberAt(value: unknown, ...path: string[]): number | null {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'number' && Number.isFinite(current) ? current : null;
}

function map(value: number | null): string {
  return value === null ? '–' : value.toFixed(3);
}

export class LoopNarrator {
  private readonly startedAt: number;
  private readonly now: () => number;
  private readonly cameras = new Map<string, CameraState>();
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private queueStep = 0;
  private labelStep = 0;
  private approvedThisRun = 0;
  private seenEvents = new Set<string>();
  private historyPrimed = false;
  private trainingJob: string | null = null;
  private lastProgressAt = 0;
  private lastEpoch: number | null = null;
  private lastStage: string | null = null;

  constructor(private readonly options: LoopNarratorOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    for (const c of options.cameras) {
      this.cameras.set(c.camera, {
        scenario: parseScenario(c.scenario),
        preset: null,
        modelVersion: c.agent.model.version,
        normalDefectRate: null,
        normalSamples: 0,
        collapsed: false,
        swapped: false,
      });
    }
  }

  start(): void {
    this.unsubscribe = this.options.services.events.subscribe(
      (event) => this.onEvent(event),
      ['drift', 'model', 'labeling'],
    );
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 2_000);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private say(line: string): void {
    this.options.write(`[${clock(this.now() - this.startedAt)}] ${line}`);
  }

  private onEvent(event: SystemEvent): void {
    switch (event.type) {
      case 'drift': {
        if (event.level === event.previousLevel) return;
        const share =
          event.driftShare === null ? '' : ` (drift share ${event.driftShare.toFixed(2)})`;
        if (event.level === 'red' || event.level === 'yellow') {
          const features = event.driftedFeatures.slice(0, 4).join(', ');
          this.say(
            `drift ${event.level.toUpperCase()} on ${event.camera}${share}: ${features}${event.driftedFeatures.length > 4 ? ', …' : ''} changed` +
              (event.level === 'red'
                ? ' — the sampler now queues the newest-looking frames for labeling'
                : ''),
          );
        } else if (event.level === 'green') {
          this.say(`drift green on ${event.camera}${share}: the input looks like the reference`);
        }
        return;
      }
      case 'model':
        if (event.action !== 'alias-moved' || event.alias !== 'production') return;
        this.say(
          `production moved: ${event.fromVersion ?? 'none'} → ${event.toVersion ?? 'none'}` +
            (event.actor ? ` (by ${event.actor})` : '') +
            ' — agents download it and hot-swap',
        );
        return;
      case 'labeling':
        if (event.action === 'approved') this.approvedThisRun++;
        return;
      case 'rollout':
        this.say(
          `${event.kind} rollout ${event.action}: ${event.stage} ${event.baselineVersion} → ${event.candidateVersion}` +
            (event.reason ? ` (${event.reason})` : ''),
        );
        return;
      case 'frame':
      case 'agent':
      case 'system':
      case 'chain':
        return;
    }
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      this.pollCameras();
      await this.pollQueue();
      await this.pollRetraining();
    } catch {
      // The server may be closing; the next tick tries again.
    } finally {
      this.polling = false;
    }
  }

  private pollCameras(): void {
    for (const c of this.options.cameras) {
      const state = this.cameras.get(c.camera);
      if (!state) continue;
      let stats;
      try {
        stats = c.agent.stats();
      } catch {
        continue;
      }
      // The line's own clock: frame index / fps, like the synthetic camera renders it.
      const seconds = stats.pipeline.capturedFrames / c.fps;
      const { preset } = scenarioStateAt(state.scenario, seconds);
      if (state.preset !== null && preset !== state.preset) {
        const what = preset === 'night' ? 'night fell' : `conditions changed to ${preset}`;
        this.say(`${what} on ${c.camera} (${state.preset} → ${preset}, scenario ${c.scenario})`);
      }
      const firstPreset = state.scenario.segments[0]?.preset;
      const recent = stats.recent;
      // The normal level: the mean 60-s defect rate on the first preset once a full window
      // exists (a running mean of the polled windows).
      if (
        preset === firstPreset &&
        recent.coveredS >= recent.windowS &&
        recent.frames > 0 &&
        !state.swapped
      ) {
        state.normalSamples++;
        const mean = state.normalDefectRate ?? 0;
        state.normalDefectRate = mean + (recent.defectRate - mean) / state.normalSamples;
      }
      state.preset = preset;
      const normal = state.normalDefectRate;
      if (normal !== null && normal > 0 && recent.frames > 0) {
        if (!state.collapsed && recent.defectRate < normal / 2 && preset !== firstPreset) {
          state.collapsed = true;
          this.say(
            `defect rate on ${c.camera} fell to ${percent(recent.defectRate)} in the last ${recent.windowS} s ` +
              `(normal ${percent(normal)}): the model no longer sees the defects`,
          );
        } else if (state.collapsed && state.swapped && recent.defectRate >= normal * 0.8) {
          state.collapsed = false;
          this.say(
            `defect rate on ${c.camera} recovered: ${percent(recent.defectRate)} in the last ${recent.windowS} s ` +
              `(normal ${percent(normal)}) with model ${stats.pipeline.modelVersion}`,
          );
        }
      }
      const version = stats.pipeline.modelVersion;
      if (state.modelVersion !== null && version !== state.modelVersion) {
        state.swapped = true;
        this.say(`${c.camera} hot-swapped its model: ${state.modelVersion} → ${version}`);
      }
      state.modelVersion = version;
    }
  }

  private async pollQueue(): Promise<void> {
    const stats = await this.options.services.labeling.stats({});
    const pending = stats.counts.pending + stats.counts.claimed;
    const nextQueue = QUEUE_STEPS[this.queueStep];
    if (nextQueue !== undefined && pending >= nextQueue) {
      while ((QUEUE_STEPS[this.queueStep] ?? Infinity) <= pending) this.queueStep++;
      this.say(
        `queue filling: ${plural(pending, 'frame')} waiting for a label (${stats.counts.total} queued in all)`,
      );
    }
    const simulated = this.options.simulatedLabels?.() ?? null;
    const reviewed = this.approvedThisRun;
    const nextLabels = LABEL_STEPS[this.labelStep];
    if (nextLabels !== undefined && reviewed >= nextLabels) {
      while ((LABEL_STEPS[this.labelStep] ?? Infinity) <= reviewed) this.labelStep++;
      this.say(
        `labels arriving: ${reviewed} reviewed this run` +
          (simulated !== null ? ` (${simulated} by the simulated reviewer)` : '') +
          `, ${stats.reviewedLabels} ready for training in all`,
      );
    }
  }

  private async pollRetraining(): Promise<void> {
    const retraining = this.options.services.retraining;
    const history = await retraining.history({ limit: 20 });
    const events = [...history.events].reverse();
    for (const event of events) {
      // One line per step of a job, however the history names its events.
      // (A promotion to staging and one to production are two steps: the alias is in the key.)
      const alias = typeof event.details.alias === 'string' ? event.details.alias : '';
      const key = `${event.jobId ?? event.id}:${event.kind}:${event.modelVersion ?? ''}:${alias}`;
      if (this.seenEvents.has(event.id) || this.seenEvents.has(key)) continue;
      this.seenEvents.add(event.id);
      this.seenEvents.add(key);
      // Events from before this start are history, not news.
      if (!this.historyPrimed || event.at < this.startedAt) continue;
      this.narrateRetraining(event);
    }
    this.historyPrimed = true;

    const status = await retraining.status();
    const jobId = status.job?.id ?? null;
    if (status.state === 'running' && jobId !== null) {
      if (jobId !== this.trainingJob) {
        this.trainingJob = jobId;
        this.lastEpoch = null;
        this.lastStage = null;
      }
      // Stages other than the epochs (snapshot, evaluating, registering) can take minutes.
      if (status.stage !== null && status.stage !== this.lastStage) {
        this.lastStage = status.stage;
        if (status.stage !== 'training') this.say(`retraining: ${status.stage}…`);
      }
      const now = this.now();
      if (
        status.epoch !== null &&
        status.epoch !== this.lastEpoch &&
        now - this.lastProgressAt >= (this.options.progressEveryMs ?? 15_000)
      ) {
        this.lastEpoch = status.epoch;
        this.lastProgressAt = now;
        this.say(
          `training: epoch ${status.epoch}/${status.epochs ?? '?'}` +
            (status.loss !== null ? `, loss ${status.loss.toFixed(3)}` : '') +
            (status.valMap50 !== null ? `, val mAP@0.5 ${status.valMap50.toFixed(3)}` : '') +
            (status.etaSeconds !== null ? `, about ${Math.round(status.etaSeconds)} s left` : ''),
        );
      }
    }
  }

  private narrateRetraining(event: {
    kind: string;
    reason: string | null;
    trigger: string | null;
    modelVersion: string | null;
    details: Record<string, unknown>;
  }): void {
    switch (event.kind) {
      case 'started':
        this.say(
          `retraining started (trigger: ${event.trigger ?? 'unknown'}${event.reason ? ` — ${event.reason}` : ''})`,
        );
        return;
      case 'registered': {
        const d = event.details;
        const recentNew = numberAt(d, 'metrics', 'holdouts', 'recent', 'map50');
        const recentOld = numberAt(d, 'metrics', 'baseline', 'holdouts', 'recent', 'map50');
        const nominalNew = numberAt(d, 'metrics', 'holdouts', 'nominal', 'map50');
        const nominalOld = numberAt(d, 'metrics', 'baseline', 'holdouts', 'nominal', 'map50');
        const seconds = numberAt(d, 'trainingSeconds');
        this.say(
          `version ${event.modelVersion ?? '?'} registered` +
            (seconds !== null ? ` after ${seconds} s of training` : '') +
            `: mAP@0.5 on the new frames ${map(recentNew)} (production ${map(recentOld)}), ` +
            `on nominal ${map(nominalNew)} (production ${map(nominalOld)})`,
        );
        return;
      }
      case 'promoted': {
        const alias = typeof event.details.alias === 'string' ? event.details.alias : null;
        if (alias !== 'staging') {
          this.say(
            `gate passed: ${event.modelVersion ?? '?'}${event.reason ? ` — ${event.reason}` : ''}`,
          );
        }
        return;
      }
      case 'rejected':
        this.say(
          `gate rejected ${event.modelVersion ?? 'the candidate'}: ${event.reason ?? 'no reason given'} — production stays; its labels stay available`,
        );
        return;
      case 'failed':
        this.say(`retraining failed: ${event.reason ?? 'no reason given'}`);
        return;
      case 'cancelled':
      case 'interrupted':
        this.say(`retraining ${event.kind}${event.reason ? `: ${event.reason}` : ''}`);
        return;
      default:
        return;
    }
  }
}
