import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { PRESETS, interpolateConditions, presetConditions } from './conditions.js';
import { parseScenario, scenarioLengthSeconds, scenarioStateAt } from './scenario.js';

function parseError(spec: string): VisionLoopError {
  try {
    parseScenario(spec);
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error(`'${spec}' parsed without error`);
}

describe('parseScenario', () => {
  it('accepts a bare preset as an endless conveyor segment', () => {
    const scenario = parseScenario('glare');
    expect(scenario.motion).toBe('conveyor');
    expect(scenario.segments).toEqual([{ preset: 'glare', durationSeconds: Infinity }]);
  });

  it('knows the named scenarios', () => {
    expect(parseScenario('static')).toMatchObject({
      motion: 'static',
      segments: [{ preset: 'nominal', durationSeconds: Infinity }],
    });
    expect(parseScenario('drift-demo').segments).toEqual([
      { preset: 'nominal', durationSeconds: 120 },
      { preset: 'night', durationSeconds: Infinity },
    ]);
  });

  it('parses timelines with seconds and minutes; the last segment lasts forever', () => {
    const scenario = parseScenario('nominal:120, night:1.5m ,new-material:30');
    expect(scenario.segments).toEqual([
      { preset: 'nominal', durationSeconds: 120 },
      { preset: 'night', durationSeconds: 90 },
      { preset: 'new-material', durationSeconds: Infinity },
    ]);
    expect(scenarioLengthSeconds(scenario)).toBe(210);
  });

  it('takes the belt speed after `?belt=` and keeps the spec as the name', () => {
    expect(parseScenario('drift-demo?belt=192')).toMatchObject({
      name: 'drift-demo?belt=192',
      beltSpeed: 192,
      segments: parseScenario('drift-demo').segments,
    });
    expect(parseScenario(' nominal:60,night ? belt = 96.5 ').beltSpeed).toBe(96.5);
    expect(parseScenario('night').beltSpeed).toBeUndefined();
  });

  it('rejects unknown names, listing the valid ones', () => {
    const error = parseError('nominal:10,fog');
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain("'fog'");
    expect(error.message).toContain('nominal, night, blur, glare, new-material');
    expect(error.message).toContain('drift-demo');
  });

  it.each([
    ['', 'empty scenario'],
    ['nominal,night', "needs a duration (e.g. 'nominal:60')"],
    ['nominal:abc,night', "bad duration 'abc'"],
    ['nominal:0,night', 'must last more than 0 s'],
    ['nominal:-5,night', "bad duration '-5'"],
    ['nominal:10:20', 'expected preset:seconds'],
    ['nominal:10,,night', 'empty segment'],
    ['night?speed=2', "unknown scenario option 'speed=2'"],
    ['night?belt', "unknown scenario option 'belt'"],
    [
      'night?belt=fast',
      "belt must be a speed in px/s from 0 to 2000 (64: a part crosses in 10 s), got 'fast'",
    ],
    ['night?belt=2001', "got '2001'"],
    ['night?belt=', "got ''"],
    ['fog?belt=192', "unknown preset or scenario 'fog'"],
  ])('rejects %j', (spec, message) => {
    const error = parseError(spec);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(message);
  });
});

describe('scenarioStateAt', () => {
  const scenario = parseScenario('nominal:60,night:100,glare');

  it('holds each preset fully outside the transitions', () => {
    expect(scenarioStateAt(scenario, 0)).toMatchObject({ preset: 'nominal', segment: 0 });
    expect(scenarioStateAt(scenario, 59.9).conditions).toEqual(presetConditions('nominal'));
    expect(scenarioStateAt(scenario, 75).conditions).toEqual(presetConditions('night'));
    expect(scenarioStateAt(scenario, 1e6)).toMatchObject({ preset: 'glare', segment: 2 });
  });

  it('blends smoothly into a new segment over the transition time', () => {
    const half = scenarioStateAt(scenario, 65);
    expect(half.conditions).toEqual(interpolateConditions(PRESETS.nominal, PRESETS.night, 0.5));
    expect(half.conditions.gain).toBeLessThan(PRESETS.nominal.gain);
    expect(half.conditions.gain).toBeGreaterThan(PRESETS.night.gain);
    expect(scenarioStateAt(scenario, 62).preset).toBe('nominal');
    expect(scenarioStateAt(scenario, 68).preset).toBe('night');
    // Monotone: no jumps during the blend.
    let previous = PRESETS.nominal.gain;
    for (let t = 60; t <= 70; t += 0.5) {
      const gain = scenarioStateAt(scenario, t).conditions.gain;
      expect(gain).toBeLessThanOrEqual(previous + 1e-12);
      previous = gain;
    }
    expect(previous).toBeCloseTo(PRESETS.night.gain, 12);
  });

  it('caps the transition at half of a short segment', () => {
    const short = parseScenario('nominal:10,blur:4,nominal');
    expect(scenarioStateAt(short, 12).conditions.blurSigma).toBeCloseTo(PRESETS.blur.blurSigma, 12);
  });
});

describe('presets', () => {
  it('describe their names in knob values', () => {
    expect(PRESETS.night.gain).toBeLessThan(0.5);
    expect(PRESETS.night.noiseSigma).toBeGreaterThan(3 * PRESETS.nominal.noiseSigma);
    expect(PRESETS.night.jpegQuality).toBeLessThan(PRESETS.nominal.jpegQuality);
    expect(PRESETS.blur.blurSigma).toBeGreaterThan(2);
    expect(PRESETS.glare.glare).toBe(1);
    expect(PRESETS['new-material'].material).toBe(1);
    expect(() => presetConditions('fog')).toThrow(/valid presets: nominal, night/);
  });
});
