import { describe, expect, it } from 'vitest';
import { makeResult } from '../../../test/helpers/frame-results.js';
import {
  DEFAULT_RANKING_SETTINGS,
  DEFAULT_SAMPLING_SETTINGS,
  type SamplingSettings,
  type SamplingSettingsUpdate,
  applySamplingUpdate,
} from '../../shared/api/sampling.js';
import type { Detection, FrameResult } from '../../shared/domain.js';
import { SynthCamera } from '../../synth/camera.js';
import { Rng } from '../../synth/rng.js';
import { parseScenario } from '../../synth/scenario.js';
import { dHash, type PerceptualHash } from '../../vision/phash.js';
import { embedFrame } from './frame-embedding.js';
import { mixScores } from './selection.js';
import {
  FrameSampler,
  frameInformativeness,
  sameFindings,
  samplingPriority,
  type SampleOutcome,
} from './frame-sampler.js';

/** Everything off except what the test turns on; no caps, no dedupe. */
const NOTHING: SamplingSettings = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, {
  strategies: {
    uncertainty: { enabled: false, keepProbability: 1 },
    classFilter: { enabled: false, keepProbability: 1 },
    detectionCount: { enabled: false, keepProbability: 1 },
    random: { enabled: false, keepProbability: 1 },
    drift: { enabled: false, keepProbability: 0, boost: 1 },
    novelty: { enabled: false },
  },
  caps: { perMinute: 1_000_000, perHour: 1_000_000, perDay: 1_000_000 },
  dedupe: { enabled: false },
});

function settings(update: SamplingSettingsUpdate): SamplingSettings {
  return applySamplingUpdate(NOTHING, update);
}

function detection(confidence: number, className = 'scratch', x = 10): Detection {
  return { classId: 0, className, confidence, box: { x1: x, y1: 10, x2: x + 40, y2: 50 } };
}

function frame(i: number, detections: Detection[], overrides: Partial<FrameResult> = {}) {
  return makeResult(i, { detections, ...overrides });
}

/** Distinct hashes (far apart), so dedupe never interferes unless a test wants it. */
function distinctHash(i: number): PerceptualHash {
  const rng = new Rng(i + 1);
  return { hi: rng.nextUint32(), lo: rng.nextUint32() };
}

interface Harness {
  sampler: FrameSampler;
  clock: { now: number };
  run(result: FrameResult, options?: { hash?: PerceptualHash; drift?: boolean }): SampleOutcome;
}

function harness(config: SamplingSettings, random: () => number = () => 0.5): Harness {
  const clock = { now: 1_000_000 };
  const sampler = new FrameSampler(config, { random, now: () => clock.now });
  let n = 0;
  return {
    sampler,
    clock,
    run(result, options = {}) {
      n++;
      const hash = options.hash ?? distinctHash(n);
      return sampler.sample({ result, hash: () => hash, driftActive: options.drift ?? false });
    },
  };
}

function reasonsOf(outcome: SampleOutcome): string[] {
  return outcome.sampled ? outcome.sampling.reasons : [];
}

describe('uncertainty band', () => {
  const band = settings({ strategies: { uncertainty: { enabled: true } } });

  it('takes confidences strictly inside (0.4, 0.7): the edges are not uncertain', () => {
    const h = harness(band);
    expect(h.run(frame(0, [detection(0.4)]))).toEqual({ sampled: false, skipped: 'not_selected' });
    expect(h.run(frame(1, [detection(0.7)]))).toEqual({ sampled: false, skipped: 'not_selected' });
    expect(h.run(frame(2, [detection(0.9), detection(0.2)])).sampled).toBe(false);
    expect(reasonsOf(h.run(frame(3, [detection(0.4000001)])))).toEqual(['low_confidence']);
    expect(reasonsOf(h.run(frame(4, [detection(0.6999999)])))).toEqual(['low_confidence']);
    expect(reasonsOf(h.run(frame(5, [detection(0.95), detection(0.55)])))).toEqual([
      'low_confidence',
    ]);
  });

  it('uses the configured bounds', () => {
    const h = harness(
      settings({ strategies: { uncertainty: { enabled: true, low: 0.2, high: 0.3 } } }),
    );
    expect(h.run(frame(0, [detection(0.5)])).sampled).toBe(false);
    expect(h.run(frame(1, [detection(0.3)])).sampled).toBe(false);
    expect(reasonsOf(h.run(frame(2, [detection(0.25)])))).toEqual(['low_confidence']);
  });

  it('keeps a matching frame with its keep-probability (seeded draws)', () => {
    const rng = new Rng(42);
    const h = harness(
      settings({ strategies: { uncertainty: { enabled: true, keepProbability: 0.25 } } }),
      () => rng.next(),
    );
    let kept = 0;
    for (let i = 0; i < 4000; i++) if (h.run(frame(i, [detection(0.5)])).sampled) kept++;
    // Binomial(4000, 0.25): mean 1000, sd 27.
    expect(kept).toBeGreaterThan(900);
    expect(kept).toBeLessThan(1100);
    expect(h.sampler.stats()).toMatchObject({
      frames: 4000,
      sampled: kept,
      byReason: { low_confidence: kept },
      skipped: { not_selected: 4000 - kept },
    });
  });

  it('never keeps with probability 0 and always with 1, without drawing', () => {
    const draws: number[] = [];
    const random = () => {
      draws.push(0);
      return 0;
    };
    const never = harness(
      settings({ strategies: { uncertainty: { enabled: true, keepProbability: 0 } } }),
      random,
    );
    expect(never.run(frame(0, [detection(0.5)])).sampled).toBe(false);
    const always = harness(
      settings({ strategies: { uncertainty: { enabled: true, keepProbability: 1 } } }),
      random,
    );
    expect(always.run(frame(0, [detection(0.5)])).sampled).toBe(true);
    expect(draws).toEqual([]);
  });
});

describe('random frames', () => {
  it('samples frames with and without detections', () => {
    const rng = new Rng(7);
    const h = harness(
      settings({ strategies: { random: { enabled: true, keepProbability: 0.1 } } }),
      () => rng.next(),
    );
    let empty = 0;
    let withDetections = 0;
    for (let i = 0; i < 2000; i++) {
      const detections = i % 2 === 0 ? [] : [detection(0.9)];
      const outcome = h.run(frame(i, detections));
      if (!outcome.sampled) continue;
      expect(outcome.sampling.reasons).toEqual(['random']);
      if (detections.length === 0) {
        empty++;
        // Nothing to rank a frame without detections by: the bottom of the queue.
        expect(outcome.sampling.priority).toBe(0);
      } else withDetections++;
    }
    expect(empty).toBeGreaterThan(60);
    expect(withDetections).toBeGreaterThan(60);
  });
});

describe('detection count and class filter', () => {
  it('matches more than N and fewer than M detections at the minimum confidence', () => {
    const h = harness(
      settings({
        strategies: {
          detectionCount: { enabled: true, moreThan: 2, fewerThan: 1, minConfidence: 0.5 },
        },
      }),
    );
    const three = [detection(0.9), detection(0.8, 'crack', 60), detection(0.6, 'dent', 120)];
    expect(reasonsOf(h.run(frame(0, three)))).toEqual(['detection_count']);
    expect(h.run(frame(1, three.slice(0, 2))).sampled).toBe(false);
    // Below minConfidence does not count: one strong box is not "more than 2"…
    expect(
      h.run(frame(2, [detection(0.9), detection(0.3), detection(0.3, 'dent', 90)])).sampled,
    ).toBe(false);
    // …and weak boxes alone are "fewer than 1".
    expect(reasonsOf(h.run(frame(3, [detection(0.3)])))).toEqual(['detection_count']);
    expect(reasonsOf(h.run(frame(4, [])))).toEqual(['detection_count']);
  });

  it('matches the listed classes at the minimum confidence', () => {
    const h = harness(
      settings({
        strategies: {
          classFilter: { enabled: true, classes: ['crack', 'dent'], minConfidence: 0.5 },
        },
      }),
    );
    expect(reasonsOf(h.run(frame(0, [detection(0.9, 'crack')])))).toEqual(['class_filter']);
    expect(h.run(frame(1, [detection(0.9, 'scratch')])).sampled).toBe(false);
    expect(h.run(frame(2, [detection(0.45, 'dent')])).sampled).toBe(false);
  });
});

describe('drift boost', () => {
  // random() always 0.5: a strategy keeps a frame exactly when its probability exceeds 0.5.
  const config = settings({
    strategies: {
      random: { enabled: true, keepProbability: 0.3 },
      drift: { enabled: true, keepProbability: 0.6, boost: 2 },
    },
  });

  it('adds the drift strategy and multiplies the others while drift is reported', () => {
    const h = harness(config);
    expect(h.run(frame(0, []))).toEqual({ sampled: false, skipped: 'not_selected' });
    // 0.6 > 0.5 (drift) and 0.3 × 2 = 0.6 > 0.5 (random).
    expect(reasonsOf(h.run(frame(1, []), { drift: true }))).toEqual(['drift', 'random']);
  });

  it('does nothing when its strategy is disabled', () => {
    const off = applySamplingUpdate(config, { strategies: { drift: { enabled: false } } });
    expect(harness(off).run(frame(0, []), { drift: true }).sampled).toBe(false);
  });

  it('never boosts a probability past 1', () => {
    const h = harness(
      settings({ strategies: { drift: { enabled: true, keepProbability: 0, boost: 100 } } }),
      () => 0.999,
    );
    const certain = applySamplingUpdate(h.sampler.current, {
      strategies: { random: { enabled: true, keepProbability: 0.9 } },
    });
    h.sampler.configure(certain);
    expect(reasonsOf(h.run(frame(0, []), { drift: true }))).toEqual(['random']);
  });
});

describe('reasons and priority', () => {
  it('lists every strategy that kept the frame, in order, and ranks by the first', () => {
    const h = harness(
      settings({
        strategies: {
          uncertainty: { enabled: true },
          classFilter: { enabled: true, classes: ['crack'] },
          random: { enabled: true, keepProbability: 1 },
        },
      }),
    );
    const both = h.run(frame(0, [detection(0.55, 'crack')]));
    expect(reasonsOf(both)).toEqual(['low_confidence', 'class_filter', 'random']);
    const randomOnly = h.run(frame(1, [detection(0.95, 'scratch')]));
    expect(reasonsOf(randomOnly)).toEqual(['random']);
    if (!both.sampled || !randomOnly.sampled) throw new Error('expected both sampled');
    expect(both.sampling.priority).toBeGreaterThan(4);
    expect(randomOnly.sampling.priority).toBeLessThan(1);
  });

  it('scores informativeness from class-score margin and entropy', () => {
    // Two classes tied: margin 0, entropy ln2/ln4 = 0.5 → (1 − 0 + 0.5) / 2 = 0.75.
    const tied = { ...detection(0.5), classScores: [0.5, 0.5, 0, 0] };
    expect(frameInformativeness([tied])).toEqual({ score: 0.75, margin: 0, entropy: 0.5 });
    // One class only: margin 0.9, entropy 0 → 0.05.
    const sure = { ...detection(0.9), classScores: [0.9, 0, 0, 0] };
    expect(frameInformativeness([sure]).score).toBeCloseTo(0.05, 12);
    // The frame takes its most informative box.
    expect(frameInformativeness([sure, tied]).score).toBe(0.75);
    // Without class scores: closeness of the confidence to 0.5.
    expect(frameInformativeness([detection(0.5)]).score).toBe(1);
    expect(frameInformativeness([detection(0.75)]).score).toBe(0.5);
    expect(frameInformativeness([])).toEqual({ score: 0 });
    // Tier of the first reason + informativeness, 4 decimals.
    expect(samplingPriority(['low_confidence', 'random'], 0.75)).toBe(4.75);
    expect(samplingPriority(['random'], 1 / 3)).toBe(0.3333);
    expect(samplingPriority(['some_future_reason'], 0.5)).toBe(0.5);
  });

  it('puts the margin and entropy of the most informative box on the mark', () => {
    const h = harness(settings({ strategies: { uncertainty: { enabled: true } } }));
    const outcome = h.run(frame(0, [{ ...detection(0.5), classScores: [0.5, 0.3, 0.2, 0] }]));
    if (!outcome.sampled) throw new Error('expected a sample');
    expect(outcome.sampling.margin).toBe(0.2);
    expect(outcome.sampling.entropy).toBeCloseTo(0.7427, 4);
    expect(outcome.sampling.phash).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('gates', () => {
  const everything = settings({ strategies: { random: { enabled: true, keepProbability: 1 } } });

  it('samples nothing when disabled, and never a frame the motion gate skipped', () => {
    expect(harness({ ...everything, enabled: false }).run(frame(0, []))).toEqual({
      sampled: false,
      skipped: 'disabled',
    });
    expect(harness(everything).run(frame(0, [], { inferred: false }))).toEqual({
      sampled: false,
      skipped: 'not_inferred',
    });
  });

  it('computes the hash only for frames that pass the strategies and the caps', () => {
    const h = harness(applySamplingUpdate(everything, { caps: { perMinute: 1 } }));
    let hashes = 0;
    const input = (i: number, driftActive = false) => ({
      result: frame(i, []),
      hash: () => {
        hashes++;
        return distinctHash(i);
      },
      driftActive,
    });
    expect(h.sampler.sample(input(0)).sampled).toBe(true);
    expect(h.sampler.sample(input(1))).toEqual({ sampled: false, skipped: 'capped' });
    h.sampler.configure({ ...h.sampler.current, enabled: false });
    h.sampler.sample(input(2));
    expect(hashes).toBe(1);
  });
});

describe('rate caps', () => {
  const everything = settings({ strategies: { random: { enabled: true, keepProbability: 1 } } });
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;

  it('allows at most perMinute samples in any sliding minute', () => {
    const h = harness(applySamplingUpdate(everything, { caps: { perMinute: 3 } }));
    const t0 = h.clock.now;
    const at = (ms: number) => {
      h.clock.now = t0 + ms;
      return h.run(frame(ms, [])).sampled;
    };
    expect([at(0), at(10 * SECOND), at(20 * SECOND), at(30 * SECOND)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // The window slides: (now − 60 s, now]. At 60 s the sample at 0 s has left it…
    expect(at(MINUTE)).toBe(true);
    // …and the one at 60 s fills it again.
    expect(at(MINUTE + 1)).toBe(false);
    expect(at(MINUTE + 10 * SECOND)).toBe(true);
    expect(h.sampler.stats().skipped.capped).toBe(2);
  });

  it('applies the hour and day caps over the minute cap', () => {
    const h = harness(
      applySamplingUpdate(everything, { caps: { perMinute: 10, perHour: 4, perDay: 6 } }),
    );
    const t0 = h.clock.now;
    const sampledAt = (ms: number) => {
      h.clock.now = t0 + ms;
      return h.run(frame(0, [])).sampled;
    };
    // One attempt a minute for 10 minutes: the first 4 pass.
    const firstMinutes = Array.from({ length: 10 }, (_, i) => sampledAt(i * MINUTE));
    expect(firstMinutes).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    // (now − 1 h, now]: at 60 min the sample at 0 min has left the hour.
    expect(sampledAt(HOUR)).toBe(true);
    expect(sampledAt(HOUR + 1)).toBe(false);
    expect(sampledAt(HOUR + MINUTE)).toBe(true);
    // That is 6 today: the day cap holds although the hour has room again.
    expect(sampledAt(3 * HOUR)).toBe(false);
    expect(sampledAt(23 * HOUR)).toBe(false);
    // At 24 h the first sample has left the day.
    expect(sampledAt(24 * HOUR)).toBe(true);
    expect(sampledAt(24 * HOUR + 1)).toBe(false);
  });

  it('counts only samples: frames dropped as duplicates do not use the caps', () => {
    const h = harness(
      applySamplingUpdate(everything, {
        caps: { perMinute: 2 },
        dedupe: { enabled: true, maxDistance: 0, matchDetections: false },
      }),
    );
    const same = { hi: 1, lo: 2 };
    expect(h.run(frame(0, []), { hash: same }).sampled).toBe(true);
    for (let i = 1; i < 5; i++) {
      expect(h.run(frame(i, []), { hash: same })).toEqual({ sampled: false, skipped: 'duplicate' });
    }
    expect(h.run(frame(9, []), { hash: { hi: 7, lo: 7 } }).sampled).toBe(true);
  });

  it('keeps its history when the settings change', () => {
    const h = harness(applySamplingUpdate(everything, { caps: { perMinute: 1 } }));
    expect(h.run(frame(0, [])).sampled).toBe(true);
    h.sampler.configure(applySamplingUpdate(everything, { caps: { perMinute: 1, perHour: 50 } }));
    expect(h.run(frame(1, [])).sampled).toBe(false);
  });
});

describe('near-duplicate suppression', () => {
  const dedupe = settings({
    strategies: { random: { enabled: true, keepProbability: 1 } },
    dedupe: { enabled: true, maxDistance: 3, matchDetections: false, windowMs: 60_000 },
  });

  it('drops frames within maxDistance bits of a recent sample, for the window', () => {
    const h = harness(dedupe);
    const base = { hi: 0, lo: 0 };
    expect(h.run(frame(0, []), { hash: base }).sampled).toBe(true);
    expect(h.run(frame(1, []), { hash: { hi: 0, lo: 0b111 } }).sampled).toBe(false);
    expect(h.run(frame(2, []), { hash: { hi: 0, lo: 0b1111 } }).sampled).toBe(true);
    h.clock.now += 60_000;
    // Both samples left the window.
    expect(h.run(frame(3, []), { hash: base }).sampled).toBe(true);
  });

  it('remembers at most maxRecent samples', () => {
    const h = harness(applySamplingUpdate(dedupe, { dedupe: { maxRecent: 2 } }));
    const hashes = [0x00, 0xff, 0xff00].map((lo) => ({ hi: 0, lo }));
    for (const hash of hashes) expect(h.run(frame(0, []), { hash }).sampled).toBe(true);
    // The first was forgotten; the last two are remembered.
    expect(h.run(frame(1, []), { hash: hashes[0] }).sampled).toBe(true);
    expect(h.run(frame(2, []), { hash: hashes[2] }).sampled).toBe(false);
  });

  it('with matchDetections, a frame is new when the model found other defects', () => {
    const h = harness(applySamplingUpdate(dedupe, { dedupe: { matchDetections: true } }));
    const hash = { hi: 5, lo: 5 };
    expect(h.run(frame(0, [detection(0.8, 'crack', 10)]), { hash }).sampled).toBe(true);
    // Same look, same defect (the box moved 2 px): a duplicate.
    expect(h.run(frame(1, [detection(0.8, 'crack', 12)]), { hash }).sampled).toBe(false);
    // A weak box that flickers below the strong level still matches.
    expect(h.run(frame(2, [detection(0.3, 'crack', 10)]), { hash }).sampled).toBe(false);
    // Same look, but a defect elsewhere, of another class, or gone: new.
    expect(h.run(frame(3, [detection(0.8, 'crack', 300)]), { hash }).sampled).toBe(true);
    expect(h.run(frame(4, [detection(0.8, 'dent', 10)]), { hash }).sampled).toBe(true);
    expect(h.run(frame(5, []), { hash }).sampled).toBe(true);
  });

  it('treats strong boxes as findings and weak ones as optional', () => {
    const strong = [{ className: 'crack', confidence: 0.9, box: { x1: 0, y1: 0, x2: 10, y2: 10 } }];
    const weak = [{ className: 'crack', confidence: 0.2, box: { x1: 0, y1: 0, x2: 10, y2: 10 } }];
    expect(sameFindings(strong, weak, 0.4)).toBe(true);
    expect(sameFindings(strong, [], 0.4)).toBe(false);
    expect(sameFindings(weak, [], 0.4)).toBe(true);
  });

  // Rendered at 320×240 to keep the test quick; the hash is size-independent.
  const renderAt = (scenario: string, seed: number) =>
    new SynthCamera({ scenario: parseScenario(scenario), seed, width: 320, height: 240 });

  it('samples a static synthetic scene once for the window, whatever the sensor noise', () => {
    const camera = renderAt('static', 3);
    const scene = camera.frame(0);
    // The model keeps seeing the same defects (with confidences jittering around 0.55).
    const detectionsAt = (i: number): Detection[] =>
      scene.objects.map((o) => ({
        classId: o.classId,
        className: o.className,
        confidence: 0.55 + ((i * 7) % 5) / 100,
        box: o.box,
      }));
    const h = harness(
      settings({
        strategies: {
          uncertainty: { enabled: true },
          random: { enabled: true, keepProbability: 1 },
        },
        dedupe: { enabled: true, maxDistance: 6, matchDetections: true, windowMs: 600_000 },
      }),
    );
    expect(scene.objects.length).toBeGreaterThan(0);
    const sampled: number[] = [];
    for (let i = 0; i < 12; i++) {
      h.clock.now += 20_000;
      const image = camera.frame(i).image;
      const outcome = h.sampler.sample({
        result: frame(i, detectionsAt(i)),
        hash: () => dHash(image),
        driftActive: false,
      });
      if (outcome.sampled) sampled.push(i);
    }
    // 12 frames over 4 minutes: only the first; the rest are its near-duplicates.
    expect(sampled).toEqual([0]);
    expect(h.sampler.stats().skipped.duplicate).toBe(11);
    // After the 10-minute window the scene may be sampled again.
    h.clock.now += 600_000;
    const later = camera.frame(40).image;
    expect(
      h.sampler.sample({
        result: frame(40, detectionsAt(40)),
        hash: () => dHash(later),
        driftActive: false,
      }).sampled,
    ).toBe(true);
  });

  it('does not suppress the different parts a conveyor brings', () => {
    const camera = renderAt('nominal', 3);
    const h = harness(
      settings({
        strategies: { random: { enabled: true, keepProbability: 1 } },
        dedupe: { enabled: true, maxDistance: 6, matchDetections: true, windowMs: 600_000 },
      }),
    );
    // One frame per part (a part crosses in 10 s = 150 frames), each with its own defects.
    let sampled = 0;
    for (let part = 0; part < 6; part++) {
      const view = camera.frame(part * 150 + 75);
      const detections = view.objects.map((o) => ({
        classId: o.classId,
        className: o.className,
        confidence: 0.9,
        box: o.box,
      }));
      h.clock.now += 10_000;
      const outcome = h.sampler.sample({
        result: frame(part, detections),
        hash: () => dHash(view.image),
        driftActive: false,
      });
      if (outcome.sampled) sampled++;
    }
    expect(sampled).toBe(6);
  });
});

describe('novelty under drift (a total drift: the model sees nothing)', () => {
  // 160×120 keeps the test quick; the embedding is a 16×12 grid at any size.
  const camera = new SynthCamera({
    scenario: parseScenario('nominal:20,night'),
    seed: 5,
    width: 160,
    height: 120,
  });
  const noveltyOnly = settings({ strategies: { novelty: { enabled: true, minNovelty: 0.25 } } });

  function runNight(config: SamplingSettings, frames: number[], drift = true) {
    const h = harness(config);
    let embedded = 0;
    const outcomes = frames.map((i) => {
      h.clock.now += 1000 / 15;
      const image = camera.frame(i).image;
      return h.sampler.sample({
        // Night: the seed model finds nothing, so no detection falls in the uncertainty band.
        result: frame(i, []),
        hash: () => dHash(image),
        driftActive: drift,
        embedding: () => {
          embedded++;
          return embedFrame(image);
        },
      });
    });
    return { h, outcomes, embedded: () => embedded };
  }

  // Two minutes of night frames, one every 5 frames (the belt moves ~1.4 px per frame here).
  const nightFrames = Array.from({ length: 360 }, (_, k) => 600 + 5 * k);

  it('fills the queue with night frames the band never sees, spread over the line', () => {
    const { outcomes, h } = runNight(noveltyOnly, nightFrames);
    const kept = outcomes.flatMap((o, k) => (o.sampled ? [{ k, sampling: o.sampling }] : []));
    // Seeded and deterministic: the same 360 frames always give the same picks.
    // About 16 a minute (33 at seed 5): enough to teach night, far below one per frame.
    expect(kept.length).toBeGreaterThanOrEqual(20);
    expect(kept.length).toBeLessThanOrEqual(60);
    expect(kept[0]?.k).toBe(0);
    expect(kept[0]?.sampling.novelty).toBe(1);
    for (const { sampling } of kept) {
      expect(sampling.reasons).toEqual(['novelty']);
      expect(sampling.novelty).toBeGreaterThanOrEqual(0.25);
      // Priority: the drift tier (1) plus the ranking mix. At night nothing the default
      // weights count scores (no detections, no candidates; diversity's weight is 0): 1 + 0,
      // so novelty frames wait in arrival order, as the bench found best.
      const mixed = mixScores(
        { diversity: sampling.novelty ?? 0 },
        DEFAULT_RANKING_SETTINGS.weights,
      );
      expect(mixed.score).toBe(0);
      expect(sampling.priority).toBe(1);
      expect(sampling.strategy).toBe('uncertainty');
      expect(sampling.strategyScore).toBe(0);
    }
    // Frames a few belt steps apart are rarely new against each other: picks are spread out.
    const gaps = kept.slice(1).map((p, i) => p.k - kept[i]!.k);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(2);
    expect(h.sampler.stats().byReason).toEqual({ novelty: kept.length });
  });

  it('finds the first night frame new against the nominal ones sampled before it', () => {
    const h = harness(noveltyOnly);
    const sampleAt = (i: number) => {
      h.clock.now += 1000;
      const image = camera.frame(i).image;
      return h.sampler.sample({
        result: frame(i, []),
        hash: () => dHash(image),
        driftActive: true,
        embedding: () => embedFrame(image),
      });
    };
    expect(sampleAt(0).sampled).toBe(true);
    // The same scene a frame later, still nominal: not new.
    expect(sampleAt(1)).toEqual({ sampled: false, skipped: 'not_selected' });
    // Night (frame 600 = 40 s at 15 fps, past the 10 s transition): new in its light alone.
    const night = sampleAt(600);
    expect(night.sampled && night.sampling.novelty).toBe(1);
  });

  it('does not run without drift, for frames in the band, or past the caps', () => {
    const quiet = runNight(noveltyOnly, nightFrames.slice(0, 20), false);
    expect(quiet.outcomes.every((o) => !o.sampled)).toBe(true);
    expect(quiet.embedded()).toBe(0);

    // A frame in the band is the uncertainty strategy's (here: never kept) to judge.
    const h = harness(
      applySamplingUpdate(noveltyOnly, {
        strategies: { uncertainty: { enabled: true, keepProbability: 0 } },
      }),
    );
    let embedded = 0;
    const image = camera.frame(700).image;
    const outcome = h.sampler.sample({
      result: frame(700, [detection(0.55)]),
      hash: () => dHash(image),
      driftActive: true,
      embedding: () => {
        embedded++;
        return embedFrame(image);
      },
    });
    expect(outcome).toEqual({ sampled: false, skipped: 'not_selected' });
    expect(embedded).toBe(0);

    const capped = runNight(
      applySamplingUpdate(noveltyOnly, { caps: { perMinute: 3 } }),
      nightFrames.slice(0, 100),
    );
    expect(capped.outcomes.filter((o) => o.sampled)).toHaveLength(3);
    // Frames past the cap are never embedded: only the frames up to the third pick were.
    const third = capped.outcomes.findIndex(
      (_, k) => capped.outcomes.slice(0, k + 1).filter((o) => o.sampled).length === 3,
    );
    expect(capped.embedded()).toBe(third + 1);
  });

  it('remembers only the latest `memory` samples', () => {
    const small = runNight(
      applySamplingUpdate(noveltyOnly, { strategies: { novelty: { memory: 2 } } }),
      nightFrames,
    );
    const large = runNight(noveltyOnly, nightFrames);
    const count = (r: typeof small) => r.outcomes.filter((o) => o.sampled).length;
    // With a shorter memory more frames look new (the line repeats every 10 s).
    expect(count(small)).toBeGreaterThan(count(large));
  });
});

describe('novelty and near-duplicate suppression', () => {
  it('keeps night frames novelty chose although their dHashes look alike', () => {
    const camera = new SynthCamera({
      scenario: parseScenario('nominal:60,night'),
      seed: 1,
      fps: 5,
      width: 160,
      height: 120,
    });
    const config = applySamplingUpdate(DEFAULT_SAMPLING_SETTINGS, {
      strategies: {
        uncertainty: { enabled: false },
        random: { enabled: false },
        drift: { enabled: false },
        novelty: { minNovelty: 0.2 },
      },
      caps: { perMinute: 1000, perHour: 100_000, perDay: 100_000 },
    });
    const run = (withNovelty: boolean) => {
      const h = harness(config);
      let sampled = 0;
      for (let i = 400; i < 700; i++) {
        h.clock.now += 200;
        const image = camera.frame(i).image;
        const outcome = h.sampler.sample({
          result: frame(i, []),
          hash: () => dHash(image),
          driftActive: true,
          ...(withNovelty ? { embedding: () => embedFrame(image) } : {}),
        });
        if (outcome.sampled) sampled++;
      }
      return { sampled, stats: h.sampler.stats() };
    };
    const night = run(true);
    // Night frames 1 s apart at 5 fps: novelty keeps a good share, dedupe drops none of them.
    expect(night.sampled).toBeGreaterThanOrEqual(30);
    expect(night.stats.skipped.duplicate).toBe(0);
    expect(night.stats.byReason).toEqual({ novelty: night.sampled });
  });
});

describe('committee (a shadow model disagreed)', () => {
  const shadow = (disagrees: boolean, disagreement: number) => ({
    version: 'shadow-v2',
    detections: [],
    decision: 'PASS' as const,
    disagreement,
    disagrees,
    inferenceMs: 4,
  });

  it('keeps every disagreeing frame without a draw, first reason committee, top tier', () => {
    // Without a ranking section the priority is tier + the disagreement.
    const { ranking: _ranking, ...unranked } = settings({
      strategies: { random: { enabled: true, keepProbability: 0.5 } },
    });
    const h = harness(unranked, () => 0.99);
    const run = h.run.bind(h);
    const kept = run(frame(1, [detection(0.9)], { shadow: shadow(true, 0.75) }));
    expect(kept).toMatchObject({ sampled: true, sampling: { reasons: ['committee'] } });
    // Ranked by the disagreement, above every other tier (low_confidence is 4 + at most 1).
    expect(kept.sampled && kept.sampling.priority).toBe(5.75);
    expect(run(frame(2, [detection(0.9)], { shadow: shadow(false, 0.25) }))).toEqual({
      sampled: false,
      skipped: 'not_selected',
    });
    expect(run(frame(3, [detection(0.9)]))).toEqual({ sampled: false, skipped: 'not_selected' });
  });

  it('keeps the other reasons after committee, ignores near-duplicates but not the caps', () => {
    const config = settings({
      strategies: { uncertainty: { enabled: true, keepProbability: 1 } },
      dedupe: { enabled: true, maxDistance: 64, matchDetections: false },
      caps: { perMinute: 2 },
    });
    const h = harness(config);
    const run = h.run.bind(h);
    const same = { hi: 1, lo: 2 };
    const first = run(frame(1, [detection(0.5)], { shadow: shadow(true, 1) }), { hash: same });
    expect(first.sampled && first.sampling.reasons).toEqual(['committee', 'low_confidence']);
    // The same picture again: a duplicate for uncertainty, but the committee keeps it.
    expect(run(frame(2, [detection(0.5)]), { hash: same })).toEqual({
      sampled: false,
      skipped: 'duplicate',
    });
    expect(
      run(frame(3, [detection(0.5)], { shadow: shadow(true, 1) }), { hash: same }).sampled,
    ).toBe(true);
    expect(run(frame(4, [detection(0.5)], { shadow: shadow(true, 1) }), { hash: same })).toEqual({
      sampled: false,
      skipped: 'capped',
    });
  });

  it('samples nothing when sampling is switched off', () => {
    const h = harness({ ...NOTHING, enabled: false });
    const run = h.run.bind(h);
    expect(run(frame(1, [], { shadow: shadow(true, 1) }))).toEqual({
      sampled: false,
      skipped: 'disabled',
    });
  });
});
