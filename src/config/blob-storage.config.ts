/**
 * Where blobs (frames, model files, dataset manifests) live: a local directory (the default,
 * `<data dir>/blobs`) or an S3-compatible bucket named by `VISIONLOOP_BLOB_URL=s3://bucket/prefix`
 * with the usual AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Part of the server's and the worker's configuration
 * (server.config.ts); the composition roots turn it into a store (src/main/blob-store.main.ts).
 */
import { z } from 'zod';
import { envBoolean } from './parse-env.js';

export interface S3BlobStorageConfig {
  readonly kind: 's3';
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  /** A non-AWS server (MinIO, Ceph RGW…); undefined: AWS's regional endpoints. */
  readonly endpoint?: string;
  readonly region: string;
  /** Undefined: the SDK's default credential chain (instance/pod roles, profiles). */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  readonly forcePathStyle: boolean;
  /** Silence the AWS SDK's Node 20 end-of-support notice (its documented variable). */
  readonly silenceNodeVersionWarning: boolean;
}

export type BlobStorageConfig =
  { readonly kind: 'local'; readonly dir: string } | S3BlobStorageConfig;

/** The environment variables of an S3 blob store (merged into the server's schema). */
export const blobStorageEnvSchema = z.object({
  /** `s3://bucket/prefix`: blobs in S3-compatible storage instead of the blob directory. */
  VISIONLOOP_BLOB_URL: z
    .string()
    .regex(/^s3:\/\//i, 'must be an s3://bucket/prefix URL (local blobs: VISIONLOOP_BLOB_DIR)')
    .optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  /** Path-style URLs (endpoint/bucket/key). Default: on with a custom endpoint, off on AWS. */
  VISIONLOOP_S3_FORCE_PATH_STYLE: envBoolean.optional(),
  /** The AWS SDK's own switch; VisionLoop sets it to `true` unless it is set to something else. */
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: z.string().optional(),
});

export type BlobStorageEnv = z.output<typeof blobStorageEnvSchema>;

/** Splits `s3://bucket[/prefix]`; null (with a reason) when it is not one. */
export function parseS3Url(url: string): { bucket: string; prefix: string } | { error: string } {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(url.trim());
  const bucket = match?.[1];
  if (match === null || bucket === undefined) return { error: `not an s3://bucket/prefix URL` };
  // S3 bucket naming rules: 3-63 characters, lowercase letters, digits, '.' and '-'.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    return {
      error: `"${bucket}" is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')`,
    };
  }
  const rest = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket, prefix: rest === '' ? '' : `${rest}/` };
}

/**
 * The blob storage from parsed variables; `localDir` is the directory used without
 * VISIONLOOP_BLOB_URL. Returns the problems instead when the settings are inconsistent.
 */
export function blobStorageFrom(
  env: BlobStorageEnv,
  localDir: string,
): { config: BlobStorageConfig } | { problems: string[] } {
  if (env.VISIONLOOP_BLOB_URL === undefined) return { config: { kind: 'local', dir: localDir } };
  const problems: string[] = [];
  const location = parseS3Url(env.VISIONLOOP_BLOB_URL);
  if ('error' in location) problems.push(`VISIONLOOP_BLOB_URL: ${location.error}`);
  if ((env.AWS_ACCESS_KEY_ID === undefined) !== (env.AWS_SECRET_ACCESS_KEY === undefined)) {
    problems.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither');
  }
  if (problems.length > 0 || 'error' in location) return { problems };
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const credentials =
    env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined
      ? Object.freeze({
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: env.AWS_SESSION_TOKEN }),
        })
      : undefined;
  return {
    config: Object.freeze({
      kind: 's3',
      bucket: location.bucket,
      prefix: location.prefix,
      endpoint,
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      credentials,
      forcePathStyle: env.VISIONLOOP_S3_FORCE_PATH_STYLE ?? endpoint !== undefined,
      silenceNodeVersionWarning:
        env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined ||
        env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === 'true',
    }),
  };
}
