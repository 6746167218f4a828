import { describe, expect, it } from 'vitest';
import { validateLabelBoxes } from './labeling.service.js';

const CLASSES = ['scratch', 'crack', 'dent', 'stain'];

function box(x1: number, y1: number, x2: number, y2: number, className = 'crack') {
  return { className, box: { x1, y1, x2, y2 } };
}

describe('validateLabelBoxes', () => {
  it('keeps boxes inside the frame as given (to a thousandth of a pixel)', () => {
    expect(validateLabelBoxes([box(10.12345, 20, 110, 90)], 640, 480, CLASSES)).toEqual([
      box(10.123, 20, 110, 90),
    ]);
  });

  it('clips an overshoot of at most 1 px, on every side', () => {
    expect(validateLabelBoxes([box(-1, -0.5, 641, 481)], 640, 480, CLASSES)).toEqual([
      box(0, 0, 640, 480),
    ]);
  });

  it('refuses a box more than 1 px outside the frame', () => {
    expect(() => validateLabelBoxes([box(-1.5, 0, 10, 10)], 640, 480, CLASSES)).toThrow(
      /boxes\[0\].*outside the 640×480 frame/,
    );
    expect(() => validateLabelBoxes([box(0, 0, 10, 481.01)], 640, 480, CLASSES)).toThrow(/outside/);
    expect(() => validateLabelBoxes([box(700, 10, 800, 20)], 640, 480, CLASSES)).toThrow(/outside/);
  });

  it('refuses zero-size, inverted and sub-pixel boxes', () => {
    expect(() => validateLabelBoxes([box(10, 10, 10, 50)], 640, 480, CLASSES)).toThrow(/zero-size/);
    expect(() => validateLabelBoxes([box(50, 10, 10, 50)], 640, 480, CLASSES)).toThrow(/x2 > x1/);
    expect(() => validateLabelBoxes([box(10, 10, 10.5, 50)], 640, 480, CLASSES)).toThrow(
      /at least 1 px/,
    );
    // Inside after clipping, but less than a pixel of it is in the frame.
    expect(() => validateLabelBoxes([box(639.5, 10, 640.8, 50)], 640, 480, CLASSES)).toThrow(
      /at least 1 px/,
    );
  });

  it('refuses class names the deployment does not have, naming the box', () => {
    expect(() =>
      validateLabelBoxes([box(1, 1, 5, 5), box(1, 1, 5, 5, 'burr')], 640, 480, CLASSES),
    ).toThrow(/boxes\[1\]: 'burr' is not a class of this deployment/);
    expect(() => validateLabelBoxes([box(1, 1, 5, 5, 'Crack')], 640, 480, CLASSES)).toThrow(
      /'Crack'/,
    );
  });

  it('accepts no boxes (a "no defects" label)', () => {
    expect(validateLabelBoxes([], 640, 480, CLASSES)).toEqual([]);
  });

  it('keeps a polygon inside its box (clipping 1 px of slack) and a crop class', () => {
    const withMask = {
      ...box(100, 100, 200, 180),
      polygon: [99.5, 110, 150.12345, 100, 200.8, 170, 120, 180],
      cropClass: 'major',
    };
    expect(validateLabelBoxes([withMask], 640, 480, CLASSES)).toEqual([
      {
        ...box(100, 100, 200, 180),
        polygon: [100, 110, 150.123, 100, 200, 170, 120, 180],
        cropClass: 'major',
      },
    ]);
  });

  it('refuses a polygon point outside its box and an outline without area, naming them', () => {
    const at = (polygon: number[]) => [{ ...box(100, 100, 200, 180), polygon }];
    expect(() => validateLabelBoxes(at([110, 110, 150, 170, 202, 120]), 640, 480, CLASSES)).toThrow(
      /boxes\[0\]\.polygon: point 2 \(202,120\) lies outside its box/,
    );
    expect(() => validateLabelBoxes(at([110, 110, 130, 130, 150, 150]), 640, 480, CLASSES)).toThrow(
      /encloses no area/,
    );
  });
});
