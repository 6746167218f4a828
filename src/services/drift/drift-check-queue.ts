/**
 * Drift checks as jobs: which cameras the scheduler checks (those with recent traffic), and
 * on-demand checks (`POST /api/metrics/drift/check`) enqueued as `drift.check` jobs — one per
 * camera, deduplicated — optionally waited for. The only drift module that knows the job queue.
 *
 * It never runs a check itself (a worker's `drift.check` handler does, via the facade).
 */
import type { ScheduledJob } from '../jobs/job-catalogue.js';
import { isFinished, type JobQueue } from '../jobs/job-queue.js';
import type { DriftRepository } from '../../repositories/drift.repository.js';
import type { JobView } from '../../shared/api/jobs.js';
import type {
  DriftCameraStatus,
  DriftCheckQuery,
  DriftCheckResponse,
} from '../../shared/api/drift.js';
import type { DriftSettingsStore } from './drift-settings.js';
import { reportView } from './drift-views.js';

/** The dedupe key of a camera's drift.check job. */
export function driftCheckKey(camera: string): string {
  return `drift.check:${camera}`;
}

export class DriftCheckQueue {
  constructor(
    private readonly drift: DriftRepository,
    private readonly settings: DriftSettingsStore,
    private readonly queue: JobQueue,
    private readonly now: () => number,
  ) {}

  /** Cameras with frames within the window span, as `drift.check` jobs (for the scheduler). */
  async scheduledChecks(now: number): Promise<ScheduledJob[]> {
    const cameras = await this.activeCameras(now);
    return cameras.map((camera) => ({
      name: 'drift.check' as const,
      payload: { camera, trigger: 'schedule' as const },
      dedupeKey: driftCheckKey(camera),
    }));
  }

  async activeCameras(now: number = this.now()): Promise<string[]> {
    const settings = await this.settings.settings();
    return this.drift.activeCameras(now - settings.windowSpanSeconds * 1000);
  }

  /**
   * Enqueues a check of `camera` (default: every camera with recent traffic); with `wait`,
   * waits up to `timeoutSeconds` for the jobs and returns the reports they wrote — unless no
   * live worker runs drift checks, then it answers at once (`message` says why). A check
   * already queued or running for a camera is reused.
   */
  async requestCheck(query: DriftCheckQuery): Promise<DriftCheckResponse> {
    const cameras = query.camera === undefined ? await this.activeCameras() : [query.camera];
    const jobs: JobView[] = [];
    for (const camera of cameras) {
      const { job } = await this.queue.enqueue(
        'drift.check',
        { camera, trigger: 'manual' },
        { dedupeKey: driftCheckKey(camera), priority: 1 },
      );
      jobs.push(job);
    }
    const pending = (message: string | null): DriftCheckResponse => ({
      complete: jobs.every((job) => isFinished(job.status)),
      jobs,
      cameras: [],
      message,
    });
    if (!query.wait) return pending(null);
    // Waiting for a job nobody will run would only hold the request open.
    if ((await this.queue.liveWorkers('drift.check')).length === 0) {
      return pending(
        'no worker runs drift.check jobs now: the checks stay queued until one starts (visionloop worker)',
      );
    }
    return this.waitForReports(jobs, query.timeoutSeconds * 1000);
  }

  /** Waits for the check jobs and reads the reports the finished ones wrote. */
  private async waitForReports(jobs: JobView[], timeoutMs: number): Promise<DriftCheckResponse> {
    const finished = await Promise.all(
      jobs.map((job) => this.queue.waitFor(job.id, { timeoutMs })),
    );
    const reports: DriftCameraStatus[] = [];
    for (const job of finished) {
      const result = job.result;
      if (job.status !== 'succeeded' || typeof result !== 'object' || result === null) continue;
      const reportId = (result as { reportId?: unknown }).reportId;
      if (typeof reportId !== 'string') continue;
      const row = await this.drift.findReport(reportId);
      if (row !== undefined) reports.push(reportView(row));
    }
    return {
      complete: finished.every((job) => isFinished(job.status)),
      jobs: finished,
      cameras: reports,
      message: null,
    };
  }
}
