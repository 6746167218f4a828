/**
 * Configuration of the server process (`visionloop server`, and the server inside
 * `visionloop up`): where its data lives, where it listens, how much it accepts. Parsed once
 * from the environment (plus command-line overrides), every problem listed at once, frozen.
 * Paths come out absolute, so nothing later depends on the working directory.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { MAX_FRAME_UPLOAD_BYTES } from '../shared/api/ingest.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  blobStorageEnvSchema,
  blobStorageFrom,
  type BlobStorageConfig,
} from './blob-storage.config.js';
import { envBoolean, parseEnv } from './parse-env.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MiB = 1024 * 1024;

const byteCount = (max: number) => z.coerce.number().int().min(1024).max(max);

const serverEnvSchema = z.object({
  /** Root of local state: the SQLite database, blobs, the admin-token file. */
  VISIONLOOP_DATA_DIR: z.string().min(1).default('./data'),
  /** `postgres://…` or a SQLite URL/path. Default: `<data dir>/visionloop.db`. */
  DATABASE_URL: z.string().min(1).optional(),
  /** Directory of the content-addressed blob store. Default: `<data dir>/blobs`. */
  VISIONLOOP_BLOB_DIR: z.string().min(1).optional(),
  /** Interface to listen on. 127.0.0.1 keeps the server private to this machine. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one. */
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Largest JSON request body (an ingest batch), bytes. */
  VISIONLOOP_BODY_LIMIT_BYTES: byteCount(256 * MiB).default(16 * MiB),
  /** Largest frame upload (JPEG), bytes. */
  VISIONLOOP_FRAME_LIMIT_BYTES: byteCount(64 * MiB).default(MAX_FRAME_UPLOAD_BYTES),
  VISIONLOOP_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Where the first start writes the admin token (mode 0600). Default `<data dir>/admin-token`. */
  VISIONLOOP_ADMIN_TOKEN_FILE: z.string().min(1).optional(),
  /** The heartbeat period agents use; an agent is online when seen within three. */
  VISIONLOOP_HEARTBEAT_SECONDS: z.coerce.number().min(1).max(3600).default(10),
  /**
   * Let callers on this machine (127.0.0.1, ::1) read health and metrics without a token.
   * Turn off when a reverse proxy on the same machine forwards outside traffic.
   */
  VISIONLOOP_LOOPBACK_READS: envBoolean.default(true),
  /**
   * The model registered as `production` on an empty registry: a model.onnx path, or `none`
   * for an empty registry. Default: the shipped seed (models/seed/model.onnx).
   */
  VISIONLOOP_SEED_MODEL: z.string().min(1).optional(),
  /** How far back health and model status look for the model versions results carry. */
  VISIONLOOP_RECENT_WINDOW_MINUTES: z.coerce
    .number()
    .min(1)
    .max(24 * 60)
    .default(10),
  /**
   * PostgreSQL only: send every ingested frame result to the other replicas' `/api/events`
   * clients too (the heaviest event traffic; off: each replica streams the frames it ingested).
   */
  VISIONLOOP_EVENTS_FANOUT_FRAMES: envBoolean.default(true),
  /**
   * Days of prediction rows and frames to keep (the hourly retention.run job deletes older
   * ones; frames of labels and datasets stay). 0 or unset: keep everything.
   */
  VISIONLOOP_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(0),
});

/** With the blob storage's variables (S3), so every problem is listed at once. */
const fullServerEnvSchema = serverEnvSchema.extend(blobStorageEnvSchema.shape);

export interface ServerConfig {
  readonly dataDir: string;
  readonly databaseUrl: string;
  /** The local blob directory (used when `blobStorage` is local). */
  readonly blobDir: string;
  /** Where blobs live: `blobDir`, or an S3 bucket (VISIONLOOP_BLOB_URL=s3://…). */
  readonly blobStorage: BlobStorageConfig;
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  readonly frameLimitBytes: number;
  readonly logLevel: LogLevel;
  /** Seed model path; null: none; undefined: the shipped seed. */
  readonly seedModel?: string | null;
  readonly adminTokenFile: string;
  readonly heartbeatIntervalMs: number;
  readonly loopbackReads: boolean;
  readonly recentWindowMs: number;
  /** PostgreSQL: frame events reach other replicas' SSE clients too. */
  readonly fanOutFrames: boolean;
  /** Days of predictions and frames kept; null: retention off. */
  readonly retentionDays: number | null;
}

/** Command-line flags that override the environment. */
export interface ServerConfigOverrides {
  host?: string;
  port?: number;
  databaseUrl?: string;
  dataDir?: string;
}

/** A SQLite URL for an absolute path, escaping the characters the URL parser decodes. */
export function sqliteUrlFor(path: string): string {
  return `sqlite://${path.replace(/[%?#]/g, (ch) => encodeURIComponent(ch))}`;
}

/**
 * Reads the server configuration from `env`, with `overrides` (command-line flags) taking
 * precedence. Relative paths resolve against `cwd`. Throws CONFIG_INVALID listing every problem.
 */
export function loadServerConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: ServerConfigOverrides = {},
  cwd: string = process.cwd(),
): ServerConfig {
  const merged: Record<string, string | undefined> = { ...env };
  if (overrides.host !== undefined) merged.HOST = overrides.host;
  if (overrides.port !== undefined) merged.PORT = String(overrides.port);
  if (overrides.databaseUrl !== undefined) merged.DATABASE_URL = overrides.databaseUrl;
  if (overrides.dataDir !== undefined) merged.VISIONLOOP_DATA_DIR = overrides.dataDir;
  const parsed = parseEnv(fullServerEnvSchema, merged);
  const dataDir = resolve(cwd, parsed.VISIONLOOP_DATA_DIR);
  const blobDir = optionalPath(parsed.VISIONLOOP_BLOB_DIR, cwd) ?? resolve(dataDir, 'blobs');
  const blobStorage = blobStorageFrom(parsed, blobDir);
  if ('problems' in blobStorage) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `invalid configuration:\n${blobStorage.problems.map((problem) => `  ${problem}`).join('\n')}`,
    );
  }
  return Object.freeze({
    dataDir,
    databaseUrl: parsed.DATABASE_URL ?? sqliteUrlFor(resolve(dataDir, 'visionloop.db')),
    blobDir,
    blobStorage: blobStorage.config,
    host: parsed.HOST,
    port: parsed.PORT,
    bodyLimitBytes: parsed.VISIONLOOP_BODY_LIMIT_BYTES,
    frameLimitBytes: parsed.VISIONLOOP_FRAME_LIMIT_BYTES,
    logLevel: parsed.VISIONLOOP_LOG_LEVEL,
    adminTokenFile:
      optionalPath(parsed.VISIONLOOP_ADMIN_TOKEN_FILE, cwd) ?? resolve(dataDir, 'admin-token'),
    heartbeatIntervalMs: Math.round(parsed.VISIONLOOP_HEARTBEAT_SECONDS * 1000),
    loopbackReads: parsed.VISIONLOOP_LOOPBACK_READS,
    recentWindowMs: Math.round(parsed.VISIONLOOP_RECENT_WINDOW_MINUTES * 60_000),
    fanOutFrames: parsed.VISIONLOOP_EVENTS_FANOUT_FRAMES,
    retentionDays: parsed.VISIONLOOP_RETENTION_DAYS === 0 ? null : parsed.VISIONLOOP_RETENTION_DAYS,
    seedModel:
      parsed.VISIONLOOP_SEED_MODEL === undefined
        ? undefined
        : parsed.VISIONLOOP_SEED_MODEL === 'none'
          ? null
          : resolve(cwd, parsed.VISIONLOOP_SEED_MODEL),
  });
}

function optionalPath(value: string | undefined, cwd: string): string | undefined {
  return value === undefined ? undefined : resolve(cwd, value);
}
