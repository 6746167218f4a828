import { describe, expect, it } from 'vitest';
import { makeResult } from '../../../test/helpers/frame-results.js';
import { DEFAULT_AGENT_SETTINGS, type AgentSettings } from '../../shared/api/agents.js';
import { frameResultSchema } from '../../shared/api/ingest.js';
import { DEFAULT_SAMPLING_SETTINGS, applySamplingUpdate } from '../../shared/api/sampling.js';
import type { Detection } from '../../shared/domain.js';
import { createRgbImage } from '../../vision/image.js';
import { SamplingStage } from './sampling-stage.js';

const image = createRgbImage(32, 24, 90);

const uncertainOnly = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, {
  strategies: {
    uncertainty: { keepProbability: 1 },
    random: { enabled: false },
    drift: { enabled: true, keepProbability: 1 },
  },
  dedupe: { enabled: false },
});

function scored(confidence: number, classScores: number[]): Detection {
  return {
    classId: 0,
    className: 'scratch',
    confidence,
    box: { x1: 1, y1: 2, x2: 11, y2: 12 },
    classScores,
  };
}

function stageWith(initial: AgentSettings) {
  const state = { settings: initial };
  let hashes = 0;
  const stage = new SamplingStage({
    settings: () => state.settings,
    random: () => 0.5,
    now: () => 1_000,
    hash: () => {
      hashes++;
      return { hi: hashes, lo: 0 };
    },
  });
  return { stage, state, hashes: () => hashes };
}

describe('SamplingStage', () => {
  it('marks a sampled result, keeping its class scores rounded to 4 decimals', () => {
    const { stage } = stageWith({ ...DEFAULT_AGENT_SETTINGS, sampling: uncertainOnly });
    const out = stage.apply(
      makeResult(1, { detections: [scored(0.5, [0.123456, 0.5, Number.NaN, 0])] }),
      image,
    );
    expect(out.sampling).toEqual({
      reasons: ['low_confidence'],
      priority: expect.any(Number) as number,
      phash: '0000000100000000',
      margin: expect.any(Number) as number,
      entropy: expect.any(Number) as number,
      // The default ranking: the in-band detection's informativeness leads.
      strategy: 'uncertainty',
      strategyScore: expect.any(Number) as number,
    });
    expect(out.detections[0]?.classScores).toEqual([0.1235, 0.5, 0, 0]);
    // What the outbox stores passes the strict wire contract.
    expect(frameResultSchema.safeParse(out).success).toBe(true);
  });

  it('drops class scores from results it does not sample, and leaves other results alone', () => {
    const { stage, hashes } = stageWith({ ...DEFAULT_AGENT_SETTINGS, sampling: uncertainOnly });
    const sure = makeResult(2, { detections: [scored(0.95, [0.95, 0.01, 0, 0])] });
    const out = stage.apply(sure, image);
    expect(out.sampling).toBeUndefined();
    expect(out.detections[0]).not.toHaveProperty('classScores');
    expect(out.detections[0]?.confidence).toBe(0.95);
    // The pipeline's own objects are not changed.
    expect(sure.detections[0]?.classScores).toHaveLength(4);
    const plain = makeResult(3);
    expect(stage.apply(plain, image)).toBe(plain);
    expect(hashes()).toBe(0);
  });

  it('applies new settings (and the drift switch) from the next frame', () => {
    const { stage, state } = stageWith({
      ...DEFAULT_AGENT_SETTINGS,
      sampling: { ...uncertainOnly, enabled: false },
    });
    const result = makeResult(4, { detections: [scored(0.5, [0.5, 0.4, 0, 0])] });
    expect(stage.apply(result, image).sampling).toBeUndefined();
    state.settings = { ...state.settings, revision: 2, sampling: uncertainOnly };
    expect(stage.apply(result, image).sampling?.reasons).toEqual(['low_confidence']);
    state.settings = { ...state.settings, revision: 3, driftActive: true };
    // Under drift the first frame is new (nothing embedded yet): novelty keeps it too.
    const drifting = stage.apply(makeResult(5), image).sampling;
    expect(drifting?.reasons).toEqual(['novelty', 'drift']);
    expect(drifting?.novelty).toBe(1);
    expect(stage.stats()).toMatchObject({
      frames: 3,
      sampled: 2,
      byReason: { low_confidence: 1, novelty: 1 },
      skipped: { disabled: 1 },
    });
  });

  it('samples with the defaults when the server sent no sampling section', () => {
    const settings: AgentSettings = { revision: 1, uploadFrames: 'none', jpegQuality: 80 };
    const draw = { value: 0.3 };
    const stage = new SamplingStage({ settings: () => settings, random: () => draw.value });
    const result = makeResult(6, { detections: [scored(0.5, [0.5, 0, 0, 0])] });
    // Defaults: the band keeps with probability 0.5, random frames with 0.001.
    expect(stage.apply(result, image).sampling?.reasons).toEqual(['low_confidence']);
    draw.value = 0.6;
    expect(stage.apply({ ...result, id: 'r-007' }, image).sampling).toBeUndefined();
    draw.value = 0.0005;
    expect(stage.apply(makeResult(8), image).sampling?.reasons).toEqual(['random']);
  });
});
