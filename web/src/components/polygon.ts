/** Mask outlines as SVG: flat `[x0, y0, x1, y1, …]` frame-pixel lists (the segment stage's). */

/** `[x0, y0, x1, y1, …]` as an SVG `points` attribute, or null with fewer than 3 points. */
export function svgPoints(points: readonly number[]): string | null {
  if (points.length < 6) return null;
  const pairs: string[] = [];
  for (let index = 0; index + 1 < points.length; index += 2) {
    pairs.push(`${points[index]},${points[index + 1]}`);
  }
  return pairs.join(' ');
}
