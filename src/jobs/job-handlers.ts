/**
 * Job name → handler, one for every name in the catalogue (the `JobHandlers` type makes a
 * missing one a compile error). Handlers are thin: they call one service method.
 *
 * To add a job: its catalogue entry (job-catalogue.ts), its service here in `JobHandlerDeps`,
 * and its line in `createJobHandlers`. The composition roots pass the server's services, so a
 * service added to `createServerServices` is available here.
 */
import type { DriftService } from '../services/drift/index.js';
import type { RetentionService } from '../services/retention.service.js';
import type { RetrainingService } from '../services/retraining.service.js';
import type { RolloutService } from '../services/rollout.service.js';
import { VisionLoopError } from '../shared/errors.js';
import type { JobHandlers } from './job-handler.js';
import { runProbe } from './probe.job.js';

/** The services handlers call (a subset of the server's services). */
export interface JobHandlerDeps {
  drift: Pick<DriftService, 'runCheck'>;
  retraining: Pick<RetrainingService, 'runTraining'>;
  retention: Pick<RetentionService, 'run'>;
  /** Absent where no rollout service is composed: `rollout.evaluate` then fails with why. */
  rollouts?: Pick<RolloutService, 'runEvaluation'>;
}

export function createJobHandlers(deps: JobHandlerDeps): JobHandlers {
  return {
    'drift.check': (payload, context) => deps.drift.runCheck(payload, context),
    'training.run': (payload, context) => deps.retraining.runTraining(payload, context),
    'retention.run': (payload, context) => deps.retention.run(payload, context),
    'rollout.evaluate': (payload, context) => {
      if (deps.rollouts === undefined) {
        return Promise.reject(
          new VisionLoopError('CONFIG_INVALID', 'this worker has no rollout service composed'),
        );
      }
      return deps.rollouts.runEvaluation(payload, context);
    },
    'system.probe': (payload, context) => runProbe(payload, context),
  };
}
