/**
 * The agent registry contract: an agent registers with its camera name, then reports a
 * heartbeat; both answers carry the settings the server wants the agent to apply, so a
 * change on the server reaches every agent without a restart.
 */
import { z } from 'zod';
import {
  cameraNameSchema,
  epochMsSchema,
  idSchema,
  modelVersionSchema,
  plainText,
} from './common.js';
import { agentModelPlanSchema } from './inspection-chain.js';
import { productionRefSchema } from './models.js';
import {
  DEFAULT_SAMPLING_SETTINGS,
  samplingSettingsSchema,
  samplingSettingsUpdateSchema,
} from './sampling.js';

/** The agent setting `failThreshold`: a detection at or above it fails the part. */
export const failThresholdSchema = z.number().min(0.01).max(1);
/** The agent setting `detectionConfidence`: the detector keeps boxes at or above it. */
export const detectionConfidenceSchema = z.number().min(0.01).max(0.99);

/**
 * What the server tells agents to do. `revision` increases with every change; an agent
 * applies settings whose revision is newer than the one it has. The server always sends
 * `driftActive` and `sampling`; an agent treats them as absent-means-default (a server from
 * before sampling).
 */
export const agentSettingsSchema = z
  .object({
    revision: z.number().int().min(0),
    /**
     * Which frames' JPEGs the agent uploads with their results, for inspection. Frames sampled
     * for labeling are uploaded whatever this says.
     */
    uploadFrames: z.enum(['none', 'uncertain', 'all']),
    /** JPEG quality of uploaded frames. */
    jpegQuality: z.number().int().min(30).max(100),
    /** Set while the drift monitor reports drift: agents sample at the drift rate. */
    driftActive: z.boolean().optional(),
    /** Active-learning sampling (docs/sampling.md). */
    sampling: samplingSettingsSchema.optional(),
    /**
     * A part FAILs when a detection's confidence is at or above this (0.01..1). Absent (a
     * server from before it was a setting): 0.5.
     */
    failThreshold: failThresholdSchema.optional(),
    /**
     * The detector drops boxes below this confidence (0.01..0.99); at most `failThreshold`.
     * Keep it below the uncertainty band's low, or the band's lower part is never seen.
     * Absent: 0.25.
     */
    detectionConfidence: detectionConfidenceSchema.optional(),
  })
  .meta({ id: 'AgentSettings' });
export type AgentSettings = z.infer<typeof agentSettingsSchema>;

export const DEFAULT_AGENT_SETTINGS: AgentSettings = {
  revision: 0,
  uploadFrames: 'uncertain',
  jpegQuality: 85,
  driftActive: false,
  sampling: DEFAULT_SAMPLING_SETTINGS,
  failThreshold: 0.5,
  detectionConfidence: 0.25,
};

export const registerAgentRequestSchema = z
  .strictObject({
    camera: cameraNameSchema,
    /** A stable name for this agent (defaults to the camera name). */
    name: idSchema.optional(),
    /** The agent's software version. */
    version: plainText(z.string().min(1).max(64)),
    modelVersion: modelVersionSchema.optional(),
    hostname: plainText(z.string().max(255)).optional(),
  })
  .meta({ id: 'RegisterAgent' });
export type RegisterAgentRequest = z.infer<typeof registerAgentRequestSchema>;

export const registerAgentResponseSchema = z
  .strictObject({
    agentId: idSchema,
    settings: agentSettingsSchema,
    serverTime: epochMsSchema,
  })
  .meta({ id: 'AgentRegistration' });
export type RegisterAgentResponse = z.infer<typeof registerAgentResponseSchema>;

export const heartbeatRequestSchema = z
  .strictObject({
    /** Frames per second the camera delivers. */
    cameraFps: z.number().min(0),
    /** Frames per second that went through the detector. */
    processFps: z.number().min(0),
    /** Frames per second the motion gate let through without inference. */
    skippedFps: z.number().min(0),
    /** Frames dropped because inference fell behind, since the agent started. */
    droppedFrames: z.number().int().min(0),
    /** Results waiting in the outbox. */
    outboxDepth: z.number().int().min(0),
    outboxBytes: z.number().int().min(0),
    /** Results and frames the outbox had to discard to stay within its disk bound. */
    shedCount: z.number().int().min(0),
    modelVersion: modelVersionSchema,
    /** Inference latency percentiles over the agent's recent frames, ms. */
    inferenceMsP50: z.number().min(0).nullable(),
    inferenceMsP99: z.number().min(0).nullable(),
  })
  .meta({ id: 'Heartbeat' });
export type HeartbeatRequest = z.infer<typeof heartbeatRequestSchema>;

export const heartbeatResponseSchema = z
  .strictObject({
    settings: agentSettingsSchema,
    serverTime: epochMsSchema,
    /**
     * The registry's `production` model (polling fallback of the model events): an agent
     * running another sha256 downloads and swaps to it. Null when nothing is in production;
     * absent from servers without a registry.
     */
    production: productionRefSchema.nullable().optional(),
    /**
     * Everything this agent's camera must run (docs/pipeline.md, docs/rollouts.md): the
     * detector (production, or a canary's candidate), the stage models, the chain and a shadow.
     * Polling fallback of the `plan` events; absent from servers without a registry.
     */
    plan: agentModelPlanSchema.optional(),
  })
  .meta({ id: 'HeartbeatAck' });
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;

export const agentIdParamsSchema = z.strictObject({ id: idSchema });

/** An agent as the registry knows it (GET /api/agents, and the agents in GET /api/health). */
export const agentStatusSchema = z
  .strictObject({
    id: idSchema,
    camera: cameraNameSchema,
    name: z.string(),
    /** The agent software's version. */
    version: z.string().nullable(),
    modelVersion: z.string().nullable(),
    hostname: z.string().nullable(),
    registeredAt: epochMsSchema,
    lastSeenAt: epochMsSchema.nullable(),
    /** Heard from within three heartbeat periods. */
    online: z.boolean(),
    /** Frames per second through the detector (`processFps` of the last heartbeat). */
    fps: z.number().nullable(),
    /** Results waiting in the agent's outbox, from the last heartbeat. */
    outboxDepth: z.number().int().nullable(),
    /** The last heartbeat as the agent sent it; null before the first one. */
    heartbeat: heartbeatRequestSchema.nullable(),
  })
  .meta({ id: 'AgentStatus' });
export type AgentStatus = z.infer<typeof agentStatusSchema>;

export const agentListResponseSchema = z
  .strictObject({
    /** The heartbeat period the server expects, ms; `online` means seen within three. */
    heartbeatIntervalMs: z.number().int().min(1),
    agents: z.array(agentStatusSchema),
  })
  .meta({ id: 'AgentList' });
export type AgentListResponse = z.infer<typeof agentListResponseSchema>;

/** PUT /api/settings/agent: the fields to change; the server bumps `revision`. */
export const updateAgentSettingsRequestSchema = z
  .strictObject({
    uploadFrames: agentSettingsSchema.shape.uploadFrames.optional(),
    jpegQuality: agentSettingsSchema.shape.jpegQuality.optional(),
    /** Normally set by the drift monitor; an admin may force it. */
    driftActive: z.boolean().optional(),
    /** Any sampling fields; the others keep their values. */
    sampling: samplingSettingsUpdateSchema.optional(),
    failThreshold: failThresholdSchema.optional(),
    /** Must stay ≤ `failThreshold` (the one stored or the one sent with it). */
    detectionConfidence: detectionConfidenceSchema.optional(),
  })
  .meta({ id: 'UpdateAgentSettings' });
export type UpdateAgentSettingsRequest = z.infer<typeof updateAgentSettingsRequestSchema>;
