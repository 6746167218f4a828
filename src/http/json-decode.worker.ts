/**
 * Parses and validates JSON request bodies off the server's event loop (JsonDecodePool). For
 * a 1000-result ingest batch (~0.6 MB) UTF-8 decoding, JSON.parse and the zod schema cost
 * about 8–10 ms of CPU; here they run on another core. It answers with the API contract's
 * value and nothing else: what a service or repository makes of it is decided on the
 * server's side (src/services/ingest.service.ts).
 */
import { parentPort } from 'node:worker_threads';
import type { z } from 'zod';
import { ingestBatchRequestSchema } from '../shared/api/ingest.js';
import type { DecodeRequest, DecodeResponse, DecodeSchemaName } from './json-decode.protocol.js';

const SCHEMAS: Record<DecodeSchemaName, z.ZodType> = {
  'ingest-batch': ingestBatchRequestSchema,
};

/** Issues sent back: as many as an error message shows (the total is sent too). */
const MAX_ISSUES = 5;

function decode(request: DecodeRequest): DecodeResponse {
  const { requestId, body } = request;
  let value: unknown;
  try {
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    value = JSON.parse(text);
  } catch (error) {
    return {
      requestId,
      ok: false,
      kind: 'json',
      message: error instanceof Error ? error.message : String(error),
    };
  }
  const result = SCHEMAS[request.schema].safeParse(value);
  if (!result.success) {
    return {
      requestId,
      ok: false,
      kind: 'validation',
      issues: result.error.issues.slice(0, MAX_ISSUES).map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
      total: result.error.issues.length,
    };
  }
  return { requestId, ok: true, value: result.data };
}

parentPort?.on('message', (request: DecodeRequest) => {
  parentPort?.postMessage(decode(request));
});
