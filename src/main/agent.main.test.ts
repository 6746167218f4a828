import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFakeUplinkServer,
  type FakeUplinkServer,
} from '../../test/helpers/fake-uplink-server.js';
import {
  buildConstantOutputModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../../test/helpers/onnx-fixtures.js';
import { resolveAgentConfig, type AgentFlags } from '../config/agent.config.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { startAgent } from './agent.main.js';

let dir: string;
let server: FakeUplinkServer;
let model: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-agent-main-'));
  server = await startFakeUplinkServer();
  // Always one scratch at confidence 0.5: every frame is uncertain, so every JPEG is uploaded.
  const { dims, values } = encodeLayoutTensor(
    'yolov8',
    [{ cx: 16, cy: 16, w: 8, h: 8, classScores: [0.5, 0, 0, 0] }],
    SYNTH_CLASSES.length,
    21,
  );
  model = join(dir, 'model.onnx');
  writeFileSync(
    model,
    buildConstantOutputModel({
      outputDims: dims,
      outputValues: values,
      metadata: ultralyticsMetadata(SYNTH_CLASSES),
    }),
  );
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(flags: Partial<AgentFlags>) {
  return resolveAgentConfig(
    {
      server: server.url,
      token: 'tok',
      // Unpaced: the synthetic line is read losslessly, so no frame is dropped.
      source: 'synth:nominal',
      model,
      camera: 'cam-7',
      outbox: join(dir, 'outbox.db'),
      drainTimeout: 5,
      ...flags,
    },
    { VISIONLOOP_THREADS: '1', VISIONLOOP_DATA_DIR: dir },
  );
}

const quiet = () => undefined;

describe('startAgent', () => {
  it('streams a source into the server through the outbox and reports exact numbers', async () => {
    const run = await startAgent({ config: config({ maxFrames: 12 }), log: quiet });
    const { summary, failure } = await run.done;
    expect(failure).toBeNull();
    expect(summary).toMatchObject({
      camera: 'cam-7',
      agentId: 'agent-1',
      framesProduced: 12,
      framesCaptured: 12,
      droppedFrames: 0,
      resultsAcknowledged: 12,
      accepted: 12,
      duplicates: 0,
      framesUploaded: 12,
      stillInOutbox: 0,
      framesStillInOutbox: 0,
      drained: true,
      shed: 0,
    });
    const expectedIds = Array.from({ length: 12 }, (_, i) => `${summary.resultIdPrefix}-${i}`);
    expect(server.order).toEqual(expectedIds);
    expect([...server.stored.values()].every((r) => r.camera === 'cam-7' && r.uncertain)).toBe(
      true,
    );
    expect(server.frames.size).toBe(12);
    expect(server.registrations).toEqual([
      expect.objectContaining({ camera: 'cam-7', modelVersion: summary.modelVersion }),
    ]);
  });

  it('keeps what it could not send for the next start, which sends it first', async () => {
    const down = config({ server: 'http://127.0.0.1:9', maxFrames: 8, drainTimeout: 0.3 });
    const first = await startAgent({ config: down, log: quiet });
    const offline = (await first.done).summary;
    expect(offline).toMatchObject({
      framesProduced: 8,
      resultsAcknowledged: 0,
      stillInOutbox: 8,
      framesStillInOutbox: 8,
      drained: false,
    });
    expect(offline.sendFailures).toBeGreaterThan(0);

    const second = await startAgent({ config: config({ maxFrames: 3 }), log: quiet });
    const online = (await second.done).summary;
    expect(online).toMatchObject({
      framesProduced: 3,
      resultsAcknowledged: 11,
      framesUploaded: 11,
      stillInOutbox: 0,
      drained: true,
    });
    // The backlog went first, in order.
    expect(server.order).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `${offline.resultIdPrefix}-${i}`),
      ...Array.from({ length: 3 }, (_, i) => `${online.resultIdPrefix}-${i}`),
    ]);
  });
});
