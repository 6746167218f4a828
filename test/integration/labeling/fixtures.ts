/**
 * Fixtures for the labeling and dataset suites: queue items with real stored frames (each a
 * distinct 640×480 JPEG, uploaded for a stored frame result), extra reviewer tokens, and a
 * pinned clock. Queue items are inserted the way the sampler writes them (status `pending`,
 * pre-labels = the result's detections). Test-only.
 */
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import type { FrameResult } from '../../../src/shared/domain.js';
import { SYNTH_CLASSES } from '../../../src/shared/domain.js';
import type { TestServer } from '../server/fixtures.js';
import { T0, frameResult } from '../server/fixtures.js';

/** A distinct 640×480 JPEG per `index` (a gradient shifted by the index). */
export async function frameJpeg(index: number, width = 640, height = 480): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      pixels[o] = (x + index * 37) & 255;
      pixels[o + 1] = (y + index * 11) & 255;
      pixels[o + 2] = (index * 53) & 255;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 70 })
    .toBuffer();
}

export interface SeedOptions {
  priority?: number;
  camera?: string;
  reason?: string;
  /** The JPEG to upload (default frameJpeg(index)). */
  jpeg?: Buffer;
  result?: FrameResult;
}

export interface SeededItem {
  id: string;
  predictionId: string;
  frameBlob: string;
}

/**
 * Stores a frame result and its JPEG through the API, then the queue item for it. Returns
 * the item id (`lq-<index>`).
 */
export async function seedItem(
  server: TestServer,
  index: number,
  options: SeedOptions = {},
): Promise<SeededItem> {
  const admin = server.auth('admin');
  const result = options.result ?? frameResult(index, { camera: options.camera });
  const ingest = await server.app.inject({
    method: 'POST',
    url: '/api/ingest',
    headers: admin,
    payload: { results: [result] },
  });
  if (ingest.statusCode !== 200) throw new Error(`ingest failed: ${ingest.body}`);
  const upload = await server.app.inject({
    method: 'PUT',
    url: `/api/frames/${result.id}`,
    headers: { ...admin, 'content-type': 'image/jpeg' },
    payload: options.jpeg ?? (await frameJpeg(index)),
  });
  if (upload.statusCode !== 200) throw new Error(`upload failed: ${upload.body}`);
  const { blob, width, height } = upload.json<{ blob: string; width: number; height: number }>();
  const id = `lq-${String(index).padStart(5, '0')}`;
  await server.database.db
    .insertInto('labeling_queue')
    .values({
      id,
      prediction_id: result.id,
      camera: result.camera,
      captured_at: result.capturedAt,
      frame_blob: blob,
      width,
      height,
      status: 'pending',
      priority: options.priority ?? 0.5,
      reason: options.reason ?? 'low_confidence',
      model_version: result.modelVersion,
      pre_labels: JSON.stringify(result.detections),
      phash: null,
      created_at: T0 + index,
      updated_at: T0 + index,
    })
    .execute();
  return { id, predictionId: result.id, frameBlob: blob };
}

/** A new token of `scope`; returns its id and Authorization header. */
export async function reviewer(
  server: TestServer,
  name: string,
  scope: 'labeler' | 'admin' | 'viewer' = 'labeler',
): Promise<{ id: string; headers: { authorization: string } }> {
  const created = await server.services.auth.createToken({ name, scope }, null);
  return { id: created.id, headers: { authorization: `Bearer ${created.token}` } };
}

export interface Call {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}

/** One JSON request; the body parsed. */
export async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  headers: Record<string, string>,
  payload?: unknown,
): Promise<Call> {
  const response = await app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  const body =
    response.headers['content-type']?.toString().includes('json') === true
      ? response.json<Call['body']>()
      : {};
  return { status: response.statusCode, body };
}

/** A label request of one box of `className` (default the first synthetic class). */
export function oneBox(
  x1 = 100,
  y1 = 100,
  x2 = 200,
  y2 = 180,
  className: string = SYNTH_CLASSES[0],
) {
  return { boxes: [{ className, box: { x1, y1, x2, y2 } }] };
}
