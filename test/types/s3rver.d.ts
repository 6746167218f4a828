/** The part of s3rver 3.x's API the tests use (the package ships no types). */
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    directory: string;
    silent?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
    resetOnClose?: boolean;
  }

  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    /** S3 event notifications: `{ Records: [{ eventName, s3: { object: { key } } }] }`. */
    on(event: 'event', listener: (event: S3rverEvent) => void): this;
  }

  export interface S3rverEvent {
    Records: { eventName: string; s3: { object: { key: string } } }[];
  }
}
