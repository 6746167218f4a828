/**
 * The blob store the configuration names: the local directory store or the S3 store. The only
 * place either is created for the server, the worker and the local commands.
 */
import type { BlobStorageConfig } from '../config/blob-storage.config.js';
import { LocalBlobStore, type BlobStore } from '../repositories/blob-store.js';
import { S3BlobStore } from '../repositories/s3-blob-store.js';

export function createBlobStore(config: BlobStorageConfig): BlobStore {
  if (config.kind === 'local') return new LocalBlobStore(config.dir);
  if (config.silenceNodeVersionWarning) {
    // The AWS SDK's documented switch for its "Node >= 22 from January 2027" notice
    // (aws/aws-sdk-js-v3#7983); read when the client is created. VisionLoop targets Node 20,
    // so the notice is known; an operator who sets the variable to anything else sees it.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  }
  return new S3BlobStore({
    bucket: config.bucket,
    prefix: config.prefix,
    endpoint: config.endpoint,
    region: config.region,
    // A copy: the SDK records the credentials' source on the object (the config is frozen).
    credentials: config.credentials === undefined ? undefined : { ...config.credentials },
    forcePathStyle: config.forcePathStyle,
  });
}
