/**
 * Messages between JsonDecodePool (the server's thread) and json-decode.worker.ts. The body
 * goes to the worker as bytes; the answer is the validated value (structured clone) — or, when
 * asked to prepare it, the value made ready for its service (an ingest batch encoded for the
 * prediction repository, its body bytes moved back) — or what was wrong with the body.
 */
import type { PredictionRowFormat } from '../services/ingest-batch.js';
import type { ValidationIssue } from './validation-message.js';

/** The bodies the worker knows how to validate (json-decode.worker.ts maps them to schemas). */
export type DecodeSchemaName = 'ingest-batch';

export interface DecodeRequest {
  requestId: number;
  schema: DecodeSchemaName;
  body: Uint8Array;
  /** For 'ingest-batch': answer with a PreparedIngestBatch whose rows take this format. */
  prepare?: PredictionRowFormat;
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
