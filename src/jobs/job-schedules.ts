/**
 * The periodic schedules every worker runs (job-scheduler.ts makes them fire once per period
 * across all workers). To add one: a line in `createJobSchedules` and its service in
 * `JobScheduleDeps`.
 */
import type { DriftService } from '../services/drift/index.js';
import type { RetentionService } from '../services/retention.service.js';
import type { RetrainingService } from '../services/retraining.service.js';
import type { RolloutService } from '../services/rollout.service.js';
import type { ScheduleEntry } from './job-scheduler.js';

export interface JobScheduleDeps {
  drift: Pick<DriftService, 'checkIntervalMs' | 'scheduledChecks'>;
  retraining: Pick<RetrainingService, 'policyIntervalMs' | 'scheduledTrainings'>;
  retention: Pick<RetentionService, 'intervalMs' | 'scheduledRuns'>;
  /** Absent where no rollout service is composed (no rollout schedule then). */
  rollouts?: Pick<RolloutService, 'evaluateIntervalMs' | 'scheduledEvaluations'>;
}

export function createJobSchedules(deps: JobScheduleDeps): ScheduleEntry[] {
  const rollouts = deps.rollouts;
  const entries: ScheduleEntry[] = [
    {
      // One drift.check per camera with recent traffic, every `checkEverySeconds`.
      key: 'drift.check',
      everyMs: () => deps.drift.checkIntervalMs(),
      jobs: (now) => deps.drift.scheduledChecks(now),
    },
    {
      // The retraining policy, every `evaluateEverySeconds`. It queues training.run itself
      // (deduplicated, one at a time) so it can record why in retraining_events.
      key: 'retraining.policy',
      everyMs: () => deps.retraining.policyIntervalMs(),
      jobs: () => deps.retraining.scheduledTrainings(),
    },
    {
      // Retention (VISIONLOOP_RETENTION_DAYS), hourly; nothing is queued while it is off.
      key: 'retention.run',
      everyMs: () => deps.retention.intervalMs(),
      jobs: () => deps.retention.scheduledRuns(),
    },
  ];
  if (rollouts !== undefined) {
    entries.push({
      // The canary rules, every 15 s; nothing is queued while no canary runs.
      key: 'rollout.evaluate',
      everyMs: () => rollouts.evaluateIntervalMs(),
      jobs: () => rollouts.scheduledEvaluations(),
    });
  }
  return entries;
}
