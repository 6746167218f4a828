/**
 * A stage model's binary mask (over a crop's model input, src/vision/stage-outputs.ts) measured
 * in frame pixels: its area (each mask pixel stands for scaleX × scaleY frame pixels of the
 * crop it was resized from) and the outline of its largest 4-connected component as a polygon
 * of at most 64 points, flat `[x0, y0, x1, y1, …]`. The outline follows pixel edges (so a
 * w×h rectangle of mask pixels is exactly the 4-point polygon around it) and is simplified by
 * Visvalingam–Whyatt: collinear points go first, then the points that change the area least,
 * until at most `maxPoints` remain. Holes do not count for the outline; they do for the area.
 * Pure: no I/O.
 */
import type { CropTransform } from './crops.js';
import type { BinaryMask } from './stage-outputs.js';

/** At most this many points in a stored outline (FrameResult stages: CropSegmentation). */
export const MAX_POLYGON_POINTS = 64;

/** Mask size to crop size: a model-input mask of `mask.width` covers `inputWidth`… */
function maskScale(mask: BinaryMask, crop: CropTransform): { sx: number; sy: number } {
  // The mask covers the whole crop whatever its own resolution.
  return { sx: crop.width / mask.width, sy: crop.height / mask.height };
}

/** Defect pixels of `mask` counted at frame resolution (a real number: scaled counts). */
export function maskAreaInFrame(mask: BinaryMask, crop: CropTransform): number {
  let count = 0;
  for (const v of mask.data) count += v ? 1 : 0;
  const { sx, sy } = maskScale(mask, crop);
  return count * sx * sy;
}

/**
 * Labels of the largest 4-connected component of `mask`: its pixel count and a mask with 1
 * only on it, or null when the mask is empty.
 */
export function largestComponent(mask: BinaryMask): { size: number; data: Uint8Array } | null {
  const { width, data } = mask;
  const total = data.length;
  const labels = new Int32Array(total);
  const stack = new Int32Array(total);
  let bestLabel = 0;
  let bestSize = 0;
  let label = 0;
  for (let start = 0; start < total; start++) {
    if (data[start] === 0 || labels[start] !== 0) continue;
    label++;
    let size = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      const x = p % width;
      let q = p - 1;
      if (x > 0 && data[q] !== 0 && labels[q] === 0) {
        labels[q] = label;
        stack[top++] = q;
      }
      q = p + 1;
      if (x < width - 1 && data[q] !== 0 && labels[q] === 0) {
        labels[q] = label;
        stack[top++] = q;
      }
      q = p - width;
      if (q >= 0 && data[q] !== 0 && labels[q] === 0) {
        labels[q] = label;
        stack[top++] = q;
      }
      q = p + width;
      if (q < total && data[q] !== 0 && labels[q] === 0) {
        labels[q] = label;
        stack[top++] = q;
      }
    }
    if (size > bestSize) {
      bestSize = size;
      bestLabel = label;
    }
  }
  if (bestLabel === 0) return null;
  const only = new Uint8Array(total);
  for (let i = 0; i < total; i++) only[i] = labels[i] === bestLabel ? 1 : 0;
  return { size: bestSize, data: only };
}

// Directions clockwise in image coordinates (y down): east, south, west, north.
const DX = [1, 0, -1, 0] as const;
const DY = [0, 1, 0, -1] as const;

/**
 * The outer boundary of the (4-connected) component in `inside`, as its corner vertices in
 * mask-pixel corner coordinates (0..width, 0..height), clockwise, along pixel edges.
 */
export function traceOuterBoundary(
  inside: Uint8Array,
  width: number,
  height: number,
): Array<[number, number]> {
  const at = (x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && inside[y * width + x] === 1;
  let first = -1;
  for (let i = 0; i < inside.length; i++) {
    if (inside[i]) {
      first = i;
      break;
    }
  }
  if (first < 0) return [];
  const startX = first % width;
  const startY = Math.floor(first / width);
  // Walk with the component on the right-hand side, starting east along the top edge of the
  // topmost-leftmost pixel (which lies on the outer boundary).
  let x = startX;
  let y = startY;
  let dir = 0;
  const corners: Array<[number, number]> = [];
  const limit = 4 * (width + 1) * (height + 1) + 8;
  for (let steps = 0; steps < limit; steps++) {
    // The two pixels ahead of vertex (x, y) in direction `dir`: left and right of the path.
    let left: boolean;
    let right: boolean;
    switch (dir) {
      case 0:
        left = at(x, y - 1);
        right = at(x, y);
        break;
      case 1:
        left = at(x, y);
        right = at(x - 1, y);
        break;
      case 2:
        left = at(x - 1, y);
        right = at(x - 1, y - 1);
        break;
      default:
        left = at(x - 1, y - 1);
        right = at(x, y - 1);
    }
    // 4-connectivity: a diagonal neighbour alone (left in, right out) does not join.
    const turn = right ? (left ? 3 : 0) : 1;
    const newDir = (dir + turn) % 4;
    if (newDir !== dir || steps === 0) corners.push([x, y]);
    dir = newDir;
    x += DX[dir]!;
    y += DY[dir]!;
    if (x === startX && y === startY && dir === 3) break;
  }
  // The walk re-enters the start vertex heading north, then turns east: drop a duplicate.
  if (corners.length > 1) {
    const [fx, fy] = corners[0]!;
    const [lx, ly] = corners[corners.length - 1]!;
    if (fx === lx && fy === ly) corners.pop();
  }
  return corners;
}

function triangleArea(a: readonly number[], b: readonly number[], c: readonly number[]): number {
  return Math.abs(a[0]! * (b[1]! - c[1]!) + b[0]! * (c[1]! - a[1]!) + c[0]! * (a[1]! - b[1]!)) / 2;
}

/**
 * A closed polygon simplified by Visvalingam–Whyatt: points with zero effective area
 * (collinear) are removed, then the least significant ones until at most `maxPoints` remain.
 */
export function simplifyClosedPolygon(
  points: ReadonlyArray<readonly [number, number]>,
  maxPoints: number,
): Array<[number, number]> {
  const n = points.length;
  if (n <= 3) return points.map(([x, y]) => [x, y]);
  // A ring of the remaining points with each one's effective area, updated for the two
  // neighbours of a removed point only (a traced outline can have thousands of corners).
  const prev = Int32Array.from({ length: n }, (_, i) => (i - 1 + n) % n);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1) % n);
  const area = new Float64Array(n);
  const alive = new Uint8Array(n).fill(1);
  const effectiveArea = (i: number): number =>
    triangleArea(points[prev[i]!]!, points[i]!, points[next[i]!]!);
  for (let i = 0; i < n; i++) area[i] = effectiveArea(i);
  // A binary min-heap of (area, point); entries whose area is stale are skipped when popped.
  const heapArea: number[] = [];
  const heapPoint: number[] = [];
  const push = (a: number, i: number): void => {
    let k = heapArea.length;
    heapArea.push(a);
    heapPoint.push(i);
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (heapArea[parent]! <= a) break;
      heapArea[k] = heapArea[parent]!;
      heapPoint[k] = heapPoint[parent]!;
      k = parent;
    }
    heapArea[k] = a;
    heapPoint[k] = i;
  };
  const pop = (): number => {
    const top = heapPoint[0]!;
    const lastArea = heapArea.pop()!;
    const lastPoint = heapPoint.pop()!;
    const size = heapArea.length;
    if (size > 0) {
      let k = 0;
      for (;;) {
        let child = 2 * k + 1;
        if (child >= size) break;
        if (child + 1 < size && heapArea[child + 1]! < heapArea[child]!) child++;
        if (heapArea[child]! >= lastArea) break;
        heapArea[k] = heapArea[child]!;
        heapPoint[k] = heapPoint[child]!;
        k = child;
      }
      heapArea[k] = lastArea;
      heapPoint[k] = lastPoint;
    }
    return top;
  };
  for (let i = 0; i < n; i++) push(area[i]!, i);
  let remaining = n;
  while (remaining > 3 && heapArea.length > 0) {
    const smallestArea = heapArea[0]!;
    const smallest = pop();
    if (!alive[smallest] || area[smallest] !== smallestArea) continue;
    if (smallestArea > 1e-9 && remaining <= maxPoints) break;
    const before = prev[smallest]!;
    const after = next[smallest]!;
    next[before] = after;
    prev[after] = before;
    alive[smallest] = 0;
    remaining--;
    const beforeArea = effectiveArea(before);
    const afterArea = effectiveArea(after);
    area[before] = beforeArea;
    area[after] = afterArea;
    push(beforeArea, before);
    push(afterArea, after);
  }
  const kept: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    if (alive[i]) kept.push([points[i]![0], points[i]![1]]);
  }
  return kept;
}

/**
 * The outline of the mask's largest component in frame pixels, flat `[x0, y0, …]`, at most
 * `maxPoints` points; empty for an empty mask.
 */
export function maskOutlineInFrame(
  mask: BinaryMask,
  crop: CropTransform,
  maxPoints = MAX_POLYGON_POINTS,
): number[] {
  const component = largestComponent(mask);
  if (!component) return [];
  const corners = traceOuterBoundary(component.data, mask.width, mask.height);
  const simplified = simplifyClosedPolygon(corners, Math.max(3, maxPoints));
  const { sx, sy } = maskScale(mask, crop);
  const round = (v: number): number => Math.round(v * 100) / 100;
  return simplified.flatMap(([u, v]) => [round(crop.x + u * sx), round(crop.y + v * sy)]);
}

/** The area enclosed by a flat polygon `[x0, y0, x1, y1, …]` (shoelace formula). */
export function polygonArea(flat: readonly number[]): number {
  let twice = 0;
  const n = Math.floor(flat.length / 2);
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    twice += flat[2 * i]! * flat[2 * j + 1]! - flat[2 * j]! * flat[2 * i + 1]!;
  }
  return Math.abs(twice) / 2;
}
