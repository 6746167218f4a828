/**
 * Scenarios: timelines of presets with smooth transitions, and whether the line moves.
 * Spec forms: a preset name, a named scenario (`static`, `drift-demo`) or a timeline
 * `nominal:120,night:60,glare` (seconds per segment, optional `s`/`m` unit; the last segment
 * lasts forever), each optionally followed by `?belt=<px/s>`: the conveyor's speed in pixels a
 * second at 640×480 (default 64, a part crosses the view in 10 s; 192: in ~3 s). Parsing is
 * strict: anything unknown is an INVALID_ARGUMENT naming what is valid.
 */
import { VisionLoopError } from '../shared/errors.js';
import {
  PRESETS,
  PRESET_NAMES,
  interpolateConditions,
  isPresetName,
  type Conditions,
  type PresetName,
} from './conditions.js';

export interface ScenarioSegment {
  preset: PresetName;
  /** Seconds this segment lasts; Infinity for the last one. */
  durationSeconds: number;
}

export interface Scenario {
  name: string;
  segments: ScenarioSegment[];
  /** `conveyor`: parts move across the frame; `static`: one part, nothing moves. */
  motion: 'conveyor' | 'static';
  /** Length of the blend into each new segment (capped at half that segment). */
  transitionSeconds: number;
  /** `?belt=`: belt speed in px/s at 640×480; absent = the camera's default (64). */
  beltSpeed?: number;
}

/** Named scenarios besides the bare presets. */
export const NAMED_SCENARIOS = {
  static: 'a motionless part under nominal conditions',
  'drift-demo': 'nominal for 120 s, then night',
} as const;

export const DEFAULT_TRANSITION_SECONDS = 10;

function invalid(message: string): VisionLoopError {
  return new VisionLoopError('INVALID_ARGUMENT', message);
}

function validNames(): string {
  return `presets: ${PRESET_NAMES.join(', ')}; scenarios: ${Object.keys(NAMED_SCENARIOS).join(', ')}`;
}

function parseDuration(text: string, segment: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(text.trim());
  if (!match) {
    throw invalid(
      `bad duration '${text}' in scenario segment '${segment}' (use seconds, e.g. 'night:60', or '2m')`,
    );
  }
  const seconds = Number(match[1]) * (match[2] === 'm' ? 60 : 1);
  if (!(seconds > 0)) throw invalid(`segment '${segment}' must last more than 0 s`);
  return seconds;
}

/** The largest `?belt=` (px/s at 640×480): a part crosses the view in about a third of a second. */
export const MAX_BELT_SPEED = 2000;

/** Parses a scenario spec (see the module comment). */
export function parseScenario(spec: string): Scenario {
  const trimmed = spec.trim();
  const query = trimmed.indexOf('?');
  if (query < 0) return parseTimeline(trimmed);
  const scenario = parseTimeline(trimmed.slice(0, query).trim());
  for (const option of trimmed.slice(query + 1).split('&')) {
    const [key = '', value, ...rest] = option.split('=');
    if (key.trim() !== 'belt' || value === undefined || rest.length > 0) {
      throw invalid(
        `unknown scenario option '${option}' in '${trimmed}' (valid: belt=<px/s>, e.g. '?belt=192')`,
      );
    }
    const speed = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(speed) || speed < 0 || speed > MAX_BELT_SPEED) {
      throw invalid(
        `belt must be a speed in px/s from 0 to ${MAX_BELT_SPEED} (64: a part crosses in 10 s), got '${value}'`,
      );
    }
    scenario.beltSpeed = speed;
  }
  return { ...scenario, name: trimmed };
}

function parseTimeline(text: string): Scenario {
  if (text === '') throw invalid(`empty scenario (valid: ${validNames()})`);
  if (text === 'static') {
    return {
      name: 'static',
      segments: [{ preset: 'nominal', durationSeconds: Infinity }],
      motion: 'static',
      transitionSeconds: DEFAULT_TRANSITION_SECONDS,
    };
  }
  if (text === 'drift-demo') {
    return {
      name: 'drift-demo',
      segments: [
        { preset: 'nominal', durationSeconds: 120 },
        { preset: 'night', durationSeconds: Infinity },
      ],
      motion: 'conveyor',
      transitionSeconds: DEFAULT_TRANSITION_SECONDS,
    };
  }
  const parts = text.split(',').map((p) => p.trim());
  const segments: ScenarioSegment[] = parts.map((part, i) => {
    if (part === '') throw invalid(`empty segment in scenario '${text}'`);
    const [name = '', duration, ...rest] = part.split(':');
    if (rest.length > 0) throw invalid(`bad scenario segment '${part}' (expected preset:seconds)`);
    if (!isPresetName(name)) {
      throw invalid(`unknown preset or scenario '${name}' in '${text}' (valid: ${validNames()})`);
    }
    const last = i === parts.length - 1;
    if (duration === undefined && !last) {
      throw invalid(
        `segment '${part}' needs a duration (e.g. '${name}:60'); only the last segment may omit it`,
      );
    }
    // A duration on the last segment is accepted and ignored: the last segment lasts forever.
    if (duration !== undefined) parseDuration(duration, part);
    return {
      preset: name,
      durationSeconds: last ? Infinity : parseDuration(duration ?? '', part),
    };
  });
  return {
    name: text,
    segments,
    motion: 'conveyor',
    transitionSeconds: DEFAULT_TRANSITION_SECONDS,
  };
}

export interface ScenarioState {
  conditions: Conditions;
  /** The preset with the larger weight at this time. */
  preset: PresetName;
  /** Index of the segment the time falls in. */
  segment: number;
}

function smoothstep(t: number): number {
  const k = Math.min(1, Math.max(0, t));
  return k * k * (3 - 2 * k);
}

/**
 * Conditions at `seconds` since the start. Each segment after the first begins with a
 * smoothstep blend from the previous preset lasting `transitionSeconds` (at most half the
 * segment), so a segment's preset holds fully for the rest of its time.
 */
export function scenarioStateAt(scenario: Scenario, seconds: number): ScenarioState {
  const t = Math.max(0, seconds);
  let start = 0;
  for (let i = 0; i < scenario.segments.length; i++) {
    const segment = scenario.segments[i]!;
    const end = start + segment.durationSeconds;
    if (t < end || i === scenario.segments.length - 1) {
      const target = PRESETS[segment.preset];
      const previous = i > 0 ? scenario.segments[i - 1] : undefined;
      if (!previous) return { conditions: { ...target }, preset: segment.preset, segment: i };
      const blend = Math.min(scenario.transitionSeconds, segment.durationSeconds / 2);
      const w = blend > 0 ? smoothstep((t - start) / blend) : 1;
      return {
        conditions: interpolateConditions(PRESETS[previous.preset], target, w),
        preset: w < 0.5 ? previous.preset : segment.preset,
        segment: i,
      };
    }
    start = end;
  }
  // Unreachable for a parsed scenario (it has at least one segment).
  throw new VisionLoopError('INTERNAL', `scenario '${scenario.name}' has no segments`);
}

/** Seconds until the last (endless) segment begins. */
export function scenarioLengthSeconds(scenario: Scenario): number {
  let total = 0;
  for (let i = 0; i < scenario.segments.length - 1; i++) {
    total += scenario.segments[i]!.durationSeconds;
  }
  return total;
}
