/**
 * Configuration of `visionloop agent` (one camera): which server, which token, which camera,
 * where its outbox lives and how big it may grow, how results are batched. Environment
 * variables set defaults; command-line flags override them; `resolveAgentConfig` checks the
 * result once, lists every problem at once, and freezes it.
 *
 * The token is best given through VISIONLOOP_AGENT_TOKEN: a --token flag is visible to other
 * users of the machine in the process list.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { cameraNameSchema } from '../shared/api/common.js';
import { MAX_INGEST_BATCH } from '../shared/api/ingest.js';
import { VisionLoopError } from '../shared/errors.js';
import { parseEnv } from './parse-env.js';
import { loadRuntimeConfig, type RuntimeConfig } from './runtime.config.js';

const agentEnvSchema = z.object({
  /** The server's base URL, e.g. http://127.0.0.1:8080. */
  VISIONLOOP_SERVER_URL: z.string().min(1).optional(),
  /** An API token with the `agent` scope. */
  VISIONLOOP_AGENT_TOKEN: z.string().min(1).optional(),
  /** The source spec (see `visionloop agent --help`). */
  VISIONLOOP_AGENT_SOURCE: z.string().min(1).optional(),
  /** The camera name carried by every result. */
  VISIONLOOP_CAMERA: z.string().min(1).default('camera-1'),
  /** The outbox file (default <VISIONLOOP_DATA_DIR>/agent-<camera>/outbox.db). */
  VISIONLOOP_OUTBOX: z.string().min(1).optional(),
  /** Disk budget of the outbox, MiB. */
  VISIONLOOP_OUTBOX_MAX_MB: z.coerce.number().min(1).max(1_048_576).default(256),
  /** Most results per ingest request. */
  VISIONLOOP_AGENT_BATCH: z.coerce.number().int().min(1).max(MAX_INGEST_BATCH).default(200),
  /** Send a partial batch once its oldest result waited this long, ms. */
  VISIONLOOP_AGENT_BATCH_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** Seconds a stopping agent keeps trying to empty its outbox. */
  VISIONLOOP_AGENT_DRAIN_TIMEOUT: z.coerce.number().min(0).max(3600).default(10),
  /** Per-request timeout, ms. */
  VISIONLOOP_AGENT_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(10_000),
});

export type AgentEnv = Readonly<z.output<typeof agentEnvSchema>>;

export function loadAgentEnv(env: Record<string, string | undefined> = process.env): AgentEnv {
  return parseEnv(agentEnvSchema, env);
}

/** What the command line may override (undefined: take the environment's value). */
export interface AgentFlags {
  server?: string;
  token?: string;
  source?: string;
  camera?: string;
  model?: string;
  fps?: number;
  outbox?: string;
  outboxMaxMb?: number;
  batch?: number;
  maxFrames?: number;
  duration?: number;
  drainTimeout?: number;
  seed?: number;
}

export interface AgentConfig {
  runtime: RuntimeConfig;
  serverUrl: string;
  token: string;
  source: string;
  camera: string;
  /** Explicit model path; undefined → VISIONLOOP_MODEL, else the shipped seed. */
  model: string | undefined;
  fps: number | undefined;
  seed: number | undefined;
  outboxPath: string;
  outboxMaxBytes: number;
  batchSize: number;
  batchDelayMs: number;
  maxFrames: number | undefined;
  durationS: number | undefined;
  drainTimeoutS: number;
  requestTimeoutMs: number;
}

/** The default outbox of a camera: <data dir>/agent-<camera>/outbox.db. */
export function defaultOutboxPath(dataDir: string, camera: string): string {
  return join(dataDir, `agent-${camera}`, 'outbox.db');
}

/**
 * Merges flags over the environment and checks the result.
 * @throws VisionLoopError CONFIG_INVALID listing every problem (a missing server URL or
 *   token, a bad camera name, a bad URL).
 */
export function resolveAgentConfig(
  flags: AgentFlags,
  env: Record<string, string | undefined> = process.env,
): Readonly<AgentConfig> {
  const runtime = loadRuntimeConfig(env);
  const agentEnv = loadAgentEnv(env);
  const problems: string[] = [];
  const serverUrl = flags.server ?? agentEnv.VISIONLOOP_SERVER_URL;
  const token = flags.token ?? agentEnv.VISIONLOOP_AGENT_TOKEN;
  const source = flags.source ?? agentEnv.VISIONLOOP_AGENT_SOURCE;
  const camera = flags.camera ?? agentEnv.VISIONLOOP_CAMERA;
  if (!serverUrl) problems.push('the server URL is missing: --server URL or VISIONLOOP_SERVER_URL');
  else if (!/^https?:\/\//i.test(serverUrl) || !URL.canParse(serverUrl)) {
    problems.push(`the server URL must be http(s)://host:port, got '${serverUrl}'`);
  }
  if (!token) problems.push('the token is missing: --token T or VISIONLOOP_AGENT_TOKEN');
  if (!source) problems.push('the source is missing: --source SPEC or VISIONLOOP_AGENT_SOURCE');
  const cameraCheck = cameraNameSchema.safeParse(camera);
  if (!cameraCheck.success) {
    problems.push(
      `the camera name '${camera}' is invalid: letters, digits and . _ : - only, starting with a letter or digit, at most 64`,
    );
  }
  if (problems.length > 0 || !serverUrl || !token || !source) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `invalid agent configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  return Object.freeze({
    runtime,
    serverUrl,
    token,
    source,
    camera,
    model: flags.model,
    fps: flags.fps,
    seed: flags.seed,
    outboxPath:
      flags.outbox ??
      agentEnv.VISIONLOOP_OUTBOX ??
      defaultOutboxPath(runtime.VISIONLOOP_DATA_DIR, camera),
    outboxMaxBytes: Math.round(
      (flags.outboxMaxMb ?? agentEnv.VISIONLOOP_OUTBOX_MAX_MB) * 1024 * 1024,
    ),
    batchSize: flags.batch ?? agentEnv.VISIONLOOP_AGENT_BATCH,
    batchDelayMs: agentEnv.VISIONLOOP_AGENT_BATCH_DELAY_MS,
    maxFrames: flags.maxFrames,
    durationS: flags.duration,
    drainTimeoutS: flags.drainTimeout ?? agentEnv.VISIONLOOP_AGENT_DRAIN_TIMEOUT,
    requestTimeoutMs: agentEnv.VISIONLOOP_AGENT_REQUEST_TIMEOUT_MS,
  });
}
