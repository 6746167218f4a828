/**
 * The synthetic camera: frame(index) of a scenario, by random access. The belt moves at a
 * constant speed, so frame i+1 shows the same parts and defects a few pixels further on;
 * `static` shows one part that never moves. Sensor noise is seeded by (seed, index), so the
 * same camera settings always give the same bytes.
 */
import { VisionLoopError } from '../shared/errors.js';
import type { RgbImage } from '../vision/image.js';
import type { Conditions } from './conditions.js';
import { renderScene } from './render.js';
import { Rng, hashSeed } from './rng.js';
import { scenarioStateAt, type Scenario } from './scenario.js';
import { ConveyorLine, type GroundTruthObject } from './scene.js';

export type { GroundTruthObject } from './scene.js';

export interface SynthFrame {
  /** Frame number from 0. */
  index: number;
  /** index · 1000 / fps. */
  timestampMs: number;
  image: RgbImage;
  objects: GroundTruthObject[];
  /** The dominant preset at this time. */
  preset: string;
}

export interface SynthCameraOptions {
  scenario: Scenario;
  seed: number;
  /** Frames per second of the stream (default 15). */
  fps?: number;
  width?: number;
  height?: number;
  /**
   * Belt speed in pixels per second at 640×480 (default: the scenario's `?belt=`, else 64: a
   * part crosses in 10 s).
   */
  beltSpeed?: number;
}

export const DEFAULT_BELT_SPEED = 64;

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 64 || value > 8192) {
    throw new VisionLoopError('INVALID_ARGUMENT', `${name} must be an integer in 64..8192`);
  }
  return value;
}

export class SynthCamera {
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly scenario: Scenario;
  readonly seed: number;
  private readonly line: ConveyorLine;
  private readonly pixelsPerFrame: number;
  private readonly startPosition: number;

  constructor(options: SynthCameraOptions) {
    this.fps = options.fps ?? 15;
    if (!(this.fps > 0 && this.fps <= 1000)) {
      throw new VisionLoopError('INVALID_ARGUMENT', 'fps must be in (0, 1000]');
    }
    this.width = positiveInteger(options.width ?? 640, 'width');
    this.height = positiveInteger(options.height ?? 480, 'height');
    this.scenario = options.scenario;
    this.seed = options.seed >>> 0;
    this.line = new ConveyorLine(hashSeed(this.seed, 0x11e), this.width, this.height);
    const speed = options.beltSpeed ?? options.scenario.beltSpeed ?? DEFAULT_BELT_SPEED;
    if (!(speed >= 0)) throw new VisionLoopError('INVALID_ARGUMENT', 'beltSpeed must be ≥ 0');
    this.pixelsPerFrame =
      options.scenario.motion === 'static' ? 0 : (speed * this.line.geometry.scale) / this.fps;
    // A static scene shows a whole part with something on it; a moving one starts on part 0.
    const firstPart = options.scenario.motion === 'static' ? this.line.firstPartWith(2) : 0;
    this.startPosition = this.line.partStart(firstPart) - Math.floor(this.line.geometry.gap / 2);
  }

  /** Conditions and dominant preset at frame `index` (no rendering). */
  conditionsAt(index: number): { conditions: Conditions; preset: string } {
    const state = scenarioStateAt(this.scenario, index / this.fps);
    return { conditions: state.conditions, preset: state.preset };
  }

  /** Deterministic random access: same scenario, seed and index → identical pixels and boxes. */
  frame(index: number): SynthFrame {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `frame index must be an integer ≥ 0, got ${index}`,
      );
    }
    const { conditions, preset } = this.conditionsAt(index);
    const scene = this.line.sceneAt(this.startPosition + index * this.pixelsPerFrame);
    const { image, objects } = renderScene(scene, conditions, new Rng(hashSeed(this.seed, index)));
    return { index, timestampMs: (index * 1000) / this.fps, image, objects, preset };
  }
}
