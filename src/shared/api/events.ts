/**
 * The `/api/events` contract (server-sent events): live frame results, agents coming and
 * going, and system events. Browser-safe (zod only).
 *
 * Wire format, one message per event:
 *
 *     id: 42
 *     event: frame
 *     data: {"type":"frame","at":…,"agentId":…,"result":{…FrameResult}}
 *
 * `id` counts the events sent on this connection (the stream is live only: there is no replay
 * after a reconnect). A comment line (`: heartbeat`) comes every 15 s so proxies keep the
 * connection open. Frame events are thinned per camera to `maxFps`; when the client reads too
 * slowly the server drops events instead of buffering them, then sends a `system` event with
 * `dropped` set to how many were lost.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, idSchema } from './common.js';
import { frameResultSchema } from './ingest.js';

export const EVENT_TYPES = [
  'frame',
  'agent',
  'system',
  'model',
  'labeling',
  'drift',
  'rollout',
  'chain',
] as const;
export const eventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof eventTypeSchema>;

/** Frame events per second per camera a connection gets when it does not ask. */
export const DEFAULT_EVENTS_MAX_FPS = 5;
/** Most frame events per second per camera a connection may ask for. */
export const MAX_EVENTS_MAX_FPS = 100;
/** Seconds between heartbeat comments. */
export const EVENTS_HEARTBEAT_SECONDS = 15;

const eventTypesParam = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const names = value
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const types = new Set<EventType>();
    for (const name of names) {
      const parsed = eventTypeSchema.safeParse(name);
      if (!parsed.success) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown event type "${name}"; use ${EVENT_TYPES.join(', ')}`,
        });
        return z.NEVER;
      }
      types.add(parsed.data);
    }
    if (types.size === 0) {
      ctx.addIssue({ code: 'custom', message: 'name at least one event type' });
      return z.NEVER;
    }
    return [...types];
  });

export const eventsQuerySchema = z.strictObject({
  types: eventTypesParam
    .optional()
    .describe('comma-separated event types to receive (frame, agent, system, model); default all'),
  camera: cameraNameSchema
    .optional()
    .describe('only frame and agent events of this camera (system events always pass)'),
  maxFps: z.coerce
    .number()
    .positive()
    .max(MAX_EVENTS_MAX_FPS)
    .default(DEFAULT_EVENTS_MAX_FPS)
    .describe('most frame events per second per camera'),
  access_token: z
    .string()
    .max(512)
    .optional()
    .describe(
      'API token, for EventSource clients that cannot send an Authorization header; ' +
        'prefer the header',
    ),
});
/** The parsed query (types as an array). */
export type EventsQuery = z.output<typeof eventsQuerySchema>;

export const frameEventSchema = z
  .strictObject({
    type: z.literal('frame'),
    at: epochMsSchema,
    agentId: idSchema.nullable(),
    result: frameResultSchema,
  })
  .meta({ id: 'FrameEvent' });

export const agentEventSchema = z
  .strictObject({
    type: z.literal('agent'),
    at: epochMsSchema,
    action: z.enum(['registered', 'online', 'offline']),
    agentId: idSchema,
    camera: z.string(),
  })
  .meta({ id: 'AgentEvent' });

export const systemEventSchema = z
  .strictObject({
    type: z.literal('system'),
    at: epochMsSchema,
    level: z.enum(['info', 'warning', 'error']),
    message: z.string(),
    /** Set on the notice the server sends after dropping events for a slow client. */
    dropped: z.number().int().min(1).optional(),
  })
  .meta({ id: 'SystemEvent' });

/**
 * A model alias moved (`alias-moved`; also when the server notices a move made by another
 * process). The agents' own stream (`GET /api/agents/{id}/events`) starts with one `current`
 * event naming what `production` is now, so a reconnecting agent misses nothing.
 */
export const modelEventSchema = z
  .strictObject({
    type: z.literal('model'),
    at: epochMsSchema,
    action: z.enum(['alias-moved', 'current']),
    alias: z.string(),
    fromVersion: z.string().nullable(),
    toVersion: z.string().nullable(),
    /** sha256 of `toVersion`'s model.onnx. */
    sha256: z.string().nullable(),
    actor: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .meta({ id: 'ModelEvent' });

/** A reviewer labelled, approved, rejected, skipped or flagged a labeling-queue item. */
export const labelingEventSchema = z
  .strictObject({
    type: z.literal('labeling'),
    at: epochMsSchema,
    action: z.enum(['labeled', 'approved', 'rejected', 'skipped', 'flagged']),
    itemId: idSchema,
    camera: z.string(),
    status: z.string(),
    /** The acting token's id. */
    reviewer: z.string(),
  })
  .meta({ id: 'LabelingEvent' });

/** A camera's drift level changed (a drift check's report differs in level from the last). */
export const driftEventSchema = z
  .strictObject({
    type: z.literal('drift'),
    at: epochMsSchema,
    camera: z.string(),
    level: z.enum(['green', 'yellow', 'red', 'unknown']),
    previousLevel: z.enum(['green', 'yellow', 'red', 'unknown']),
    status: z.enum(['ok', 'drift', 'insufficient_data', 'no_reference']),
    driftShare: z.number().nullable(),
    driftedFeatures: z.array(z.string()),
    reportId: z.string(),
    reason: z.string(),
  })
  .meta({ id: 'DriftEvent' });

/** A shadow or canary rollout started or ended (docs/rollouts.md). */
export const rolloutEventSchema = z
  .strictObject({
    type: z.literal('rollout'),
    at: epochMsSchema,
    action: z.enum(['started', 'promoted', 'rolled-back']),
    rolloutId: idSchema,
    kind: z.enum(['shadow', 'canary']),
    stage: z.enum(['detect', 'classify', 'segment']),
    candidateVersion: z.string(),
    baselineVersion: z.string(),
    /** Who or what acted: a token id, or `auto` for the rules. */
    actor: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .meta({ id: 'RolloutEvent' });

/** The inspection chain of one camera (`camera`) or the default (`camera` null) changed. */
export const chainEventSchema = z
  .strictObject({
    type: z.literal('chain'),
    at: epochMsSchema,
    camera: z.string().nullable(),
    actor: z.string().nullable(),
  })
  .meta({ id: 'ChainEvent' });

/** The `data` of any event on the stream. */
export const liveEventSchema = z.discriminatedUnion('type', [
  frameEventSchema,
  agentEventSchema,
  systemEventSchema,
  modelEventSchema,
  labelingEventSchema,
  driftEventSchema,
  rolloutEventSchema,
  chainEventSchema,
]);
export type LiveEvent = z.infer<typeof liveEventSchema>;
export type FrameEvent = z.infer<typeof frameEventSchema>;
export type AgentEvent = z.infer<typeof agentEventSchema>;
export type SystemNotice = z.infer<typeof systemEventSchema>;
export type ModelEvent = z.infer<typeof modelEventSchema>;
export type LabelingEvent = z.infer<typeof labelingEventSchema>;
export type DriftEvent = z.infer<typeof driftEventSchema>;
export type RolloutEvent = z.infer<typeof rolloutEventSchema>;
export type ChainEvent = z.infer<typeof chainEventSchema>;
