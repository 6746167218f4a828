/**
 * What the app hands its route plugins: `AppServices` (everything the routes call, built by the
 * composition root, src/main/server.main.ts), the route limits, and the `RoutePlugin` type.
 * Its own module so route plugins can name it without importing app.ts, which imports them.
 *
 * Types only.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RolloutService } from '../services/rollout.service.js';
import type { AgentPlanService } from '../services/agent-plan.service.js';
import type { AgentRegistryService } from '../services/agent-registry.service.js';
import type { AuthService } from '../services/auth.service.js';
import type { DatasetService } from '../services/dataset/index.js';
import type { EventBus } from '../services/event-bus.js';
import type { FrameService } from '../services/frame.service.js';
import type { HealthService } from '../services/health.service.js';
import type { IngestService } from '../services/ingest.service.js';
import type { InspectionChainService } from '../services/inspection-chain.service.js';
import type { InspectionLogService } from '../services/inspection-log.service.js';
import type { LabelingService } from '../services/labeling.service.js';
import type { LineStatsService } from '../services/line-stats.service.js';
import type { ModelRegistryService } from '../services/registry/index.js';
import type { ModelServingService } from '../services/model-serving.service.js';
import type { PrometheusExporter } from '../services/prometheus-exporter.js';
import type { DriftService } from '../services/drift/index.js';
import type { RetentionService } from '../services/retention.service.js';
import type { RetrainingService } from '../services/retraining.service.js';
import type { JobQueue } from '../services/jobs/job-queue.js';

/** Everything the routes call. Built by the composition root (src/main/server.main.ts). */
export interface AppServices {
  auth: AuthService;
  ingest: IngestService;
  frames: FrameService;
  agents: AgentRegistryService;
  inspectionLogs: InspectionLogService;
  health: HealthService;
  lineStats: LineStatsService;
  prometheus: PrometheusExporter;
  events: EventBus;
  labeling: LabelingService;
  datasets: DatasetService;
  jobs: JobQueue;
  drift: DriftService;
  models: ModelRegistryService;
  modelServing: ModelServingService;
  retraining: RetrainingService;
  retention: RetentionService;
  /** The inspection chains (docs/inspection-chain.md). */
  inspectionChain: InspectionChainService;
  /** The agents' model plans (the `plan` events of /api/agents/{id}/events). */
  agentPlans: AgentPlanService;
  /** Shadow and canary rollouts (docs/rollouts.md). */
  rollouts: RolloutService;
}

/** Limits route plugins apply to their own routes. */
export interface RouteLimits {
  /** Largest frame upload, bytes. */
  frameBytes: number;
}

/** What every route plugin is registered with. */
export interface RoutePluginOptions {
  services: AppServices;
  limits: RouteLimits;
}

export type RoutePlugin = FastifyPluginAsyncZod<RoutePluginOptions>;
