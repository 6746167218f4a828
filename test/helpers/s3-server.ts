/**
 * A real S3-protocol server for tests: s3rver on 127.0.0.1, a free port, a temp directory,
 * with one bucket created. `close()` stops it and deletes the directory.
 *
 * Test-only: never imported by src/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's fixed credentials. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /**
   * Objects created so far, in order, as the server saw them: `Put` (one request), `Post`
   * (a completed multipart upload) or `Copy`, with the object's name.
   */
  readonly created: { how: string; name: string }[];
  /** Environment variables that point the product's configuration at this server. */
  env(prefix?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startTestS3Server(bucket = 'visionloop-test'): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'visionloop-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const created: { how: string; name: string }[] = [];
  server.on('event', (event) => {
    for (const record of event.Records) {
      const how = /^ObjectCreated:(\w+)$/.exec(record.eventName)?.[1];
      if (how !== undefined) created.push({ how, name: record.s3.object.key });
    }
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  let closed = false;
  return {
    endpoint,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    created,
    env(prefix = '') {
      return {
        VISIONLOOP_BLOB_URL: `s3://${bucket}/${prefix}`,
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        VISIONLOOP_S3_FORCE_PATH_STYLE: 'true',
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
