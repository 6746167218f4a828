/**
 * Messages between JsonDecodePool (the server's thread) and json-decode.worker.ts. The body
 * goes to the worker as bytes; the answer is the value validated against the API contract
 * (structured clone), or what was wrong with the body.
 */
import type { IngestBatchRequest } from '../shared/api/ingest.js';
import type { ValidationIssue } from './validation-message.js';

/** The bodies the worker knows how to validate, and the contract type each decodes to. */
export interface DecodedBodies {
  'ingest-batch': IngestBatchRequest;
}

/** The bodies the worker knows how to validate (json-decode.worker.ts maps them to schemas). */
export type DecodeSchemaName = keyof DecodedBodies;

export interface DecodeRequest {
  requestId: number;
  schema: DecodeSchemaName;
  body: Uint8Array;
}

export type DecodeResponse =
  | { requestId: number; ok: true; value: unknown }
  | { requestId: number; ok: false; kind: 'json'; message: string }
  | {
      requestId: number;
      ok: false;
      kind: 'validation';
      /** The first few issues, in the schema's order. */
      issues: ValidationIssue[];
      /** How many issues there were in all. */
      total: number;
    };
