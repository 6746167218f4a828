/**
 * Imaging conditions of the synthetic line as continuous knobs, and the named presets.
 * A preset is just a Conditions value; scenario transitions interpolate knobs linearly, so any
 * state between two presets is a valid Conditions too. Pure data, no rendering here.
 */
import { VisionLoopError } from '../shared/errors.js';

export interface Conditions {
  /** Illumination gain (exposure × light level); 1 = nominal. */
  gain: number;
  /** Tone curve exponent applied to normalised intensity: >1 crushes shadows, <1 washes out. */
  gamma: number;
  /** Per-channel multipliers [r, g, b] of the light colour (colour cast); [1, 1, 1] = neutral. */
  colorCast: readonly [number, number, number];
  /** Defocus blur, Gaussian sigma in pixels at 640×480; 0 = sharp. */
  blurSigma: number;
  /** Sensor noise standard deviation in 8-bit levels (per channel). */
  noiseSigma: number;
  /** Part material: 0 = brushed steel (nominal), 1 = the new green powder-coated material. */
  material: number;
  /** Amplitude of the material texture; 1 = nominal, 0 = a flat surface. */
  textureStrength: number;
  /** Corner darkening of the lens/light, 0..1 (fraction of brightness lost at the corners). */
  vignetting: number;
  /** Strength of specular hot spots and veiling glare, 0 = none, 1 = the `glare` preset. */
  glare: number;
  /**
   * How strongly the light reveals defects (directional vs flat, diffuse light); multiplies every
   * defect's contrast. 1 = nominal.
   */
  defectContrast: number;
  /** Compression quality 1..100 of the camera stream; 100 = no compression artefacts. */
  jpegQuality: number;
}

export const PRESET_NAMES = ['nominal', 'night', 'blur', 'glare', 'new-material'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

const NOMINAL: Conditions = {
  gain: 1,
  gamma: 1,
  colorCast: [1, 1, 1],
  blurSigma: 0,
  noiseSigma: 1.5,
  material: 0,
  textureStrength: 1,
  vignetting: 0.12,
  glare: 0,
  defectContrast: 1,
  jpegQuality: 100,
};

/** The named presets. Values are frozen; copy before changing a knob. */
export const PRESETS: Readonly<Record<PresetName, Readonly<Conditions>>> = Object.freeze({
  nominal: Object.freeze({ ...NOMINAL }),
  // Dim, cold light: a dark, blue-cast, vignetted image with sensor noise and a harder-compressed
  // low-light stream. Defects keep their relief (contrast scales with the light, through `gain`).
  night: Object.freeze({
    ...NOMINAL,
    gain: 0.42,
    gamma: 1.1,
    colorCast: [0.86, 0.97, 1.18] as const,
    blurSigma: 0.5,
    noiseSigma: 6,
    vignetting: 0.45,
    jpegQuality: 85,
  }),
  blur: Object.freeze({ ...NOMINAL, blurSigma: 3.2 }),
  // Bright specular hot spots from the lamps and a washed-out tone curve.
  glare: Object.freeze({
    ...NOMINAL,
    gain: 1.08,
    gamma: 0.85,
    colorCast: [1.03, 1.01, 0.95] as const,
    vignetting: 0.04,
    glare: 1,
    defectContrast: 0.85,
  }),
  'new-material': Object.freeze({ ...NOMINAL, material: 1, textureStrength: 1.15 }),
});

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/** The preset's conditions, or INVALID_ARGUMENT naming the valid presets. */
export function presetConditions(name: string): Conditions {
  if (!isPresetName(name)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `unknown preset '${name}' (valid presets: ${PRESET_NAMES.join(', ')})`,
    );
  }
  return { ...PRESETS[name] };
}

/** Knob-wise linear interpolation: t = 0 gives `from`, t = 1 gives `to`. */
export function interpolateConditions(from: Conditions, to: Conditions, t: number): Conditions {
  const k = Math.min(1, Math.max(0, t));
  // This form is exact at both ends (t = 0 gives `from`, t = 1 gives `to`, bit for bit).
  const mix = (a: number, b: number) => a * (1 - k) + b * k;
  return {
    gain: mix(from.gain, to.gain),
    gamma: mix(from.gamma, to.gamma),
    colorCast: [
      mix(from.colorCast[0], to.colorCast[0]),
      mix(from.colorCast[1], to.colorCast[1]),
      mix(from.colorCast[2], to.colorCast[2]),
    ],
    blurSigma: mix(from.blurSigma, to.blurSigma),
    noiseSigma: mix(from.noiseSigma, to.noiseSigma),
    material: mix(from.material, to.material),
    textureStrength: mix(from.textureStrength, to.textureStrength),
    vignetting: mix(from.vignetting, to.vignetting),
    glare: mix(from.glare, to.glare),
    defectContrast: mix(from.defectContrast, to.defectContrast),
    jpegQuality: mix(from.jpegQuality, to.jpegQuality),
  };
}
