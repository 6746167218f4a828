/**
 * The simulated reviewer of the demo (`visionloop up`): two labeler identities that work the
 * labeling queue through the same HTTP API and review step a person uses, so the loop closes
 * on a machine nobody watches.
 * - `simulated-reviewer` takes the next item (`GET /api/labeling-queue/next` claims it),
 *   looks at it for a human-like, seeded random time, and labels it with the synthetic line's
 *   ground truth for that frame (boxes, or "no defects");
 * - `simulated-approver` approves what `simulated-reviewer` labelled (the review step forbids
 *   approving one's own label) after its own short delay. It never approves anyone else's label.
 * Both identities are named `simulated-…`, and their notes say so, wherever a label shows up.
 *
 * Ground truth is only ever used here. A queued frame is mapped back to the synthetic frame it
 * came from by its result id (`<run>-<frame index>`) and the camera's line settings (scenario,
 * seed, fps — the camera's clock makes the index deterministic), and the mapping is checked
 * against the frame itself: the JPEG is fetched like a person would open it and its perceptual
 * hash compared with the re-rendered frame's. A frame that does not match (another run's
 * scenario, a camera that is not synthetic) is skipped with a note, never labelled wrongly.
 */
import { decodeToRgb } from '../inference/decode-image.js';
import {
  nextItemResponseSchema,
  queueListResponseSchema,
  type LabelBox,
  type LabelingItem,
} from '../shared/api/labeling.js';
import { SynthRenderWorker } from '../agent/sources/synth.source.js';
import { SynthCamera } from '../synth/camera.js';
import { Rng } from '../synth/rng.js';
import { parseScenario } from '../synth/scenario.js';
import { dHash, hammingDistance } from '../vision/phash.js';

export const SIMULATED_REVIEWER_NAME = 'simulated-reviewer';
export const SIMULATED_APPROVER_NAME = 'simulated-approver';
export const SIMULATED_NOTE = 'simulated: labelled from the synthetic line’s ground truth';

/**
 * Most bits in which the fetched frame's dHash may differ from the re-rendered frame's and
 * still be the same frame: JPEG at the agent's quality moves a few bits on dim, noisy night
 * frames (measured ≤ 4 at quality 60..90); another frame of the line differs in 10 or more.
 */
export const SAME_FRAME_MAX_BITS = 8;

/** How one synthetic camera renders its frames (what `synth:<scenario>` was opened with). */
export interface SynthLineSpec {
  scenario: string;
  seed: number;
  fps: number;
  width?: number;
  height?: number;
}

export type TruthAnswer = { kind: 'boxes'; boxes: LabelBox[] } | { kind: 'unknown'; why: string };

/** The frame index of a result id `<run>-<index>`, or null. */
export function frameIndexOf(predictionId: string | null): number | null {
  if (predictionId === null) return null;
  const match = /-(\d{1,15})$/.exec(predictionId);
  if (!match) return null;
  const index = Number(match[1]);
  return Number.isSafeInteger(index) ? index : null;
}

/**
 * Ground truth of queued frames from the synthetic line, per camera. `fetchFrame` reads an
 * item's JPEG (through the API, with the reviewer's token).
 */
export class SynthGroundTruth {
  private readonly cameras = new Map<string, SynthCamera>();
  /**
   * Re-renders frames on a worker thread: a render is tens of milliseconds of pixel work, and
   * under `visionloop up` this thread also serves the API.
   */
  private readonly renderers = new Map<string, SynthRenderWorker>();

  constructor(
    lines: Readonly<Record<string, SynthLineSpec>>,
    private readonly fetchFrame: (item: LabelingItem) => Promise<Buffer>,
    /** Render on worker threads (the reviewer under `up`); else on this thread. */
    renderInWorker = false,
  ) {
    for (const [camera, spec] of Object.entries(lines)) {
      const line = new SynthCamera({
        scenario: parseScenario(spec.scenario),
        seed: spec.seed,
        fps: spec.fps,
        ...(spec.width !== undefined ? { width: spec.width } : {}),
        ...(spec.height !== undefined ? { height: spec.height } : {}),
      });
      this.cameras.set(camera, line);
      if (!renderInWorker) continue;
      this.renderers.set(
        camera,
        new SynthRenderWorker({
          scenario: spec.scenario,
          seed: spec.seed,
          fps: line.fps,
          width: line.width,
          height: line.height,
        }),
      );
    }
  }

  /** Ends the render workers. */
  async close(): Promise<void> {
    await Promise.all([...this.renderers.values()].map((renderer) => renderer.close()));
  }

  async truthFor(item: LabelingItem): Promise<TruthAnswer> {
    const camera = this.cameras.get(item.camera);
    if (!camera) return { kind: 'unknown', why: `camera ${item.camera} is not a synthetic line` };
    const index = frameIndexOf(item.predictionId);
    if (index === null) return { kind: 'unknown', why: 'the frame has no frame index' };
    if (item.frameUrl === null || item.width === null || item.height === null) {
      return { kind: 'unknown', why: 'the frame is not linked' };
    }
    const renderer = this.renderers.get(item.camera);
    const rendered = renderer ? await renderer.render(index) : camera.frame(index);
    const shown = await decodeToRgb(await this.fetchFrame(item));
    const bits = hammingDistance(dHash(rendered.image), dHash(shown));
    if (bits > SAME_FRAME_MAX_BITS) {
      return {
        kind: 'unknown',
        why: `the frame does not match frame ${index} of the line (dHash differs in ${bits} bits)`,
      };
    }
    const sx = item.width / camera.width;
    const sy = item.height / camera.height;
    return {
      kind: 'boxes',
      boxes: rendered.objects.map((object) => ({
        className: object.className,
        box: {
          x1: round2(object.box.x1 * sx),
          y1: round2(object.box.y1 * sy),
          x2: round2(object.box.x2 * sx),
          y2: round2(object.box.y2 * sy),
        },
      })),
    };
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

export interface ReviewerDelays {
  /** Time a reviewer spends on one item (uniform in [min, max]), ms. */
  labelMs: { min: number; max: number };
  /** Time the approver spends on one label, ms. */
  approveMs: { min: number; max: number };
  /** Pause before asking again when the queue is empty, ms. */
  idleMs: number;
}

/**
 * The demo's pace: about a second per item, like a quick person who knows the defects (100
 * labels in ~2.5 min, within the sampler's 60 frames a minute).
 */
export const DEMO_REVIEWER_DELAYS: ReviewerDelays = {
  labelMs: { min: 600, max: 1_400 },
  approveMs: { min: 200, max: 500 },
  idleMs: 1_000,
};

/** `--fast`: a tenth of a second or so per item, for tests. */
export const FAST_REVIEWER_DELAYS: ReviewerDelays = {
  labelMs: { min: 100, max: 300 },
  approveMs: { min: 50, max: 150 },
  idleMs: 250,
};

export interface SimulatedReviewerOptions {
  /** Server base URL. */
  baseUrl: string;
  /** Token of `simulated-reviewer` (labeler scope). */
  reviewerToken: string;
  /** Token of `simulated-approver` (labeler scope). */
  approverToken: string;
  /** Lines the reviewer knows the ground truth of, by camera. */
  lines: Readonly<Record<string, SynthLineSpec>>;
  delays?: ReviewerDelays;
  /** Seed of the delays. */
  seed?: number;
  /** One line per notable thing (first label, unknown frames, errors). */
  log?: (message: string) => void;
}

export interface SimulatedReviewerStats {
  labeled: number;
  approved: number;
  /** Items skipped because their ground truth was unknown. */
  skipped: number;
  /** Requests that failed (network, server errors); the loop keeps going. */
  errors: number;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs both identities until `stop()`. */
export class SimulatedReviewer {
  private readonly delays: ReviewerDelays;
  private readonly rng: Rng;
  private readonly truth: SynthGroundTruth;
  private readonly stopping = new AbortController();
  private readonly counts: SimulatedReviewerStats = {
    labeled: 0,
    approved: 0,
    skipped: 0,
    errors: 0,
  };
  private loops: Promise<void>[] = [];
  private reviewerId: string | null = null;

  constructor(private readonly options: SimulatedReviewerOptions) {
    this.delays = options.delays ?? DEMO_REVIEWER_DELAYS;
    this.rng = new Rng(options.seed ?? 1);
    this.truth = new SynthGroundTruth(options.lines, (item) => this.fetchFrame(item), true);
  }

  stats(): SimulatedReviewerStats {
    return { ...this.counts };
  }

  start(): void {
    if (this.loops.length > 0) return;
    this.loops = [this.labelLoop(), this.approveLoop()];
  }

  /** Stops after the request in flight; a claimed item's lease runs out and it returns to the queue. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    await this.truth.close();
  }

  private log(message: string): void {
    this.options.log?.(message);
  }

  private async labelLoop(): Promise<void> {
    const { reviewerToken } = this.options;
    while (!this.stopping.signal.aborted) {
      try {
        const { item } = nextItemResponseSchema.parse(
          await this.request('GET', '/api/labeling-queue/next', reviewerToken),
        );
        if (item === null) {
          await this.sleep(this.delays.idleMs);
          continue;
        }
        if (item.claim) this.reviewerId = item.claim.reviewer.id;
        const answer = await this.truth.truthFor(item);
        // Looking at the frame takes a person a few seconds.
        if (!(await this.sleep(this.draw(this.delays.labelMs)))) return;
        if (answer.kind === 'unknown') {
          await this.request('POST', `/api/labeling-queue/${item.id}/skip`, reviewerToken, {
            notes: `simulated: no ground truth (${answer.why})`,
          });
          this.counts.skipped++;
          if (this.counts.skipped === 1)
            this.log(`simulated reviewer skipped a frame: ${answer.why}`);
          continue;
        }
        const body =
          answer.boxes.length > 0
            ? { boxes: answer.boxes, notes: SIMULATED_NOTE }
            : { boxes: [], noDefects: true, notes: SIMULATED_NOTE };
        await this.request('POST', `/api/labeling-queue/${item.id}/label`, reviewerToken, body);
        this.counts.labeled++;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.failed(error);
        await this.sleep(this.delays.idleMs);
      }
    }
  }

  private async approveLoop(): Promise<void> {
    const { approverToken } = this.options;
    while (!this.stopping.signal.aborted) {
      try {
        const page = queueListResponseSchema.parse(
          await this.request('GET', '/api/labeling-queue?status=labeled&limit=50', approverToken),
        );
        const ours = page.items.filter(
          (item) =>
            item.labeledBy !== null &&
            (item.labeledBy.id === this.reviewerId ||
              item.labeledBy.name === SIMULATED_REVIEWER_NAME),
        );
        if (ours.length === 0) {
          await this.sleep(this.delays.idleMs);
          continue;
        }
        for (const item of ours) {
          if (!(await this.sleep(this.draw(this.delays.approveMs)))) return;
          try {
            await this.request('POST', `/api/labeling-queue/${item.id}/approve`, approverToken, {
              notes: 'simulated: approved by the simulated approver',
            });
            this.counts.approved++;
          } catch (error) {
            // Someone else reviewed it meanwhile: theirs stands.
            if (error instanceof HttpFailure && error.status === 409) continue;
            throw error;
          }
        }
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.failed(error);
        await this.sleep(this.delays.idleMs);
      }
    }
  }

  private failed(error: unknown): void {
    this.counts.errors++;
    // The first failures say what is wrong; a server that is down would otherwise flood.
    if (this.counts.errors <= 3) {
      this.log(
        `simulated reviewer: ${error instanceof Error ? error.message : String(error)} (retrying)`,
      );
    }
  }

  private draw(range: { min: number; max: number }): number {
    return range.min + (range.max - range.min) * this.rng.next();
  }

  /** Sleeps unless stopped; false when stopped. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async fetchFrame(item: LabelingItem): Promise<Buffer> {
    const url = new URL(item.frameUrl ?? '', this.options.baseUrl);
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${this.options.reviewerToken}` },
    });
    if (!response.ok) {
      throw new HttpFailure(response.status, `GET ${url.pathname} answered ${response.status}`);
    }
    return Buffer.from(await response.arrayBuffer());
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    token: string,
    body?: unknown,
  ): Promise<unknown> {
    const response = await fetch(new URL(path, this.options.baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        if (parsed.error?.message) message = `${parsed.error.code}: ${parsed.error.message}`;
      } catch {
        // not JSON: keep the text
      }
      throw new HttpFailure(
        response.status,
        `${method} ${path.split('?')[0]} → ${response.status} ${message}`,
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}
