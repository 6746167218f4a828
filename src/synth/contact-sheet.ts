/**
 * Contact sheets: a grid of frames with their ground-truth boxes drawn in class colours, a
 * caption per frame and a legend row naming the classes. Pure pixel work; writing the PNG is
 * the caller's job (see preview.ts).
 */
import { SYNTH_CLASSES, type SynthClass } from '../shared/domain.js';
import type { RgbImage } from '../vision/image.js';
import { GLYPH_HEIGHT, drawText, textWidth } from './bitmap-font.js';
import type { GroundTruthObject } from './scene.js';

export const CLASS_COLOURS: Record<SynthClass, readonly [number, number, number]> = {
  scratch: [0, 210, 255],
  crack: [255, 64, 64],
  dent: [255, 214, 0],
  stain: [236, 72, 255],
};

export interface SheetFrame {
  image: RgbImage;
  objects: GroundTruthObject[];
  caption: string;
}

export interface SheetLayout {
  columns: number;
  rows: number;
  cellWidth: number;
  cellHeight: number;
  gap: number;
  legendHeight: number;
  width: number;
  height: number;
}

const GAP = 6;
const LEGEND_SCALE = 2;
const LEGEND_HEIGHT = GLYPH_HEIGHT * LEGEND_SCALE + 12;
const BACKGROUND = 24;

/** Grid geometry for `count` frames of frameWidth×frameHeight shown at `scale`. */
export function sheetLayout(
  count: number,
  frameWidth: number,
  frameHeight: number,
  scale: number,
  columns?: number,
): SheetLayout {
  const cols = Math.max(1, Math.min(count, columns ?? Math.ceil(Math.sqrt(count))));
  const rows = Math.max(1, Math.ceil(count / cols));
  const cellWidth = Math.max(1, Math.round(frameWidth * scale));
  const cellHeight = Math.max(1, Math.round(frameHeight * scale));
  return {
    columns: cols,
    rows,
    cellWidth,
    cellHeight,
    gap: GAP,
    legendHeight: LEGEND_HEIGHT,
    width: cols * cellWidth + (cols + 1) * GAP,
    height: LEGEND_HEIGHT + rows * cellHeight + (rows + 1) * GAP,
  };
}

/** Area-average resampling of `image` into the sheet at (left, top) with the cell size. */
function blit(
  sheet: RgbImage,
  image: RgbImage,
  left: number,
  top: number,
  cellWidth: number,
  cellHeight: number,
): void {
  const sx = image.width / cellWidth;
  const sy = image.height / cellHeight;
  for (let y = 0; y < cellHeight; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
    for (let x = 0; x < cellWidth; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * image.width + xx) * 3;
          r += image.data[i]!;
          g += image.data[i + 1]!;
          b += image.data[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = ((top + y) * sheet.width + left + x) * 3;
      sheet.data[o] = Math.round(r / n);
      sheet.data[o + 1] = Math.round(g / n);
      sheet.data[o + 2] = Math.round(b / n);
    }
  }
}

function fillRect(
  sheet: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  colour: readonly [number, number, number],
  clip: { x0: number; y0: number; x1: number; y1: number },
): void {
  const ax = Math.max(x0, clip.x0);
  const ay = Math.max(y0, clip.y0);
  const bx = Math.min(x1, clip.x1);
  const by = Math.min(y1, clip.y1);
  for (let y = ay; y < by; y++) {
    for (let x = ax; x < bx; x++) {
      const o = (y * sheet.width + x) * 3;
      sheet.data[o] = colour[0];
      sheet.data[o + 1] = colour[1];
      sheet.data[o + 2] = colour[2];
    }
  }
}

function drawLegend(sheet: RgbImage): void {
  let x = GAP;
  const y = Math.round((LEGEND_HEIGHT - GLYPH_HEIGHT * LEGEND_SCALE) / 2);
  const whole = { x0: 0, y0: 0, x1: sheet.width, y1: sheet.height };
  for (const name of SYNTH_CLASSES) {
    const colour = CLASS_COLOURS[name];
    const swatch = GLYPH_HEIGHT * LEGEND_SCALE;
    fillRect(sheet, x, y, x + swatch, y + swatch, colour, whole);
    x += swatch + 6;
    drawText(sheet.data, sheet.width, sheet.height, name, x, y, [230, 230, 230], LEGEND_SCALE);
    x += textWidth(name, LEGEND_SCALE) + 18;
  }
}

/** Draws the frames into a new sheet image (see sheetLayout for its size). */
export function renderContactSheet(
  frames: readonly SheetFrame[],
  options: { scale: number; columns?: number },
): RgbImage {
  const first = frames[0];
  const frameWidth = first?.image.width ?? 640;
  const frameHeight = first?.image.height ?? 480;
  const layout = sheetLayout(
    Math.max(1, frames.length),
    frameWidth,
    frameHeight,
    options.scale,
    options.columns,
  );
  const sheet: RgbImage = {
    width: layout.width,
    height: layout.height,
    data: new Uint8Array(layout.width * layout.height * 3).fill(BACKGROUND),
  };
  drawLegend(sheet);
  const thick = options.scale >= 0.5 ? 2 : 1;
  frames.forEach((frame, i) => {
    const col = i % layout.columns;
    const row = Math.floor(i / layout.columns);
    const left = GAP + col * (layout.cellWidth + GAP);
    const top = LEGEND_HEIGHT + GAP + row * (layout.cellHeight + GAP);
    const clip = { x0: left, y0: top, x1: left + layout.cellWidth, y1: top + layout.cellHeight };
    blit(sheet, frame.image, left, top, layout.cellWidth, layout.cellHeight);
    // Caption first, so box tags near the top-left corner stay readable on top of it.
    if (frame.caption) {
      const captionWidth = Math.min(layout.cellWidth, textWidth(frame.caption) + 8);
      fillRect(sheet, left, top, left + captionWidth, top + GLYPH_HEIGHT + 6, [0, 0, 0], clip);
      drawText(
        sheet.data,
        sheet.width,
        sheet.height,
        frame.caption,
        left + 4,
        top + 3,
        [255, 255, 255],
      );
    }
    const sx = layout.cellWidth / frame.image.width;
    const sy = layout.cellHeight / frame.image.height;
    for (const object of frame.objects) {
      const colour = CLASS_COLOURS[object.className];
      // The outline sits just outside the box so it never covers the defect itself.
      const x1 = left + Math.floor(object.box.x1 * sx) - thick;
      const y1 = top + Math.floor(object.box.y1 * sy) - thick;
      const x2 = left + Math.ceil(object.box.x2 * sx) + thick;
      const y2 = top + Math.ceil(object.box.y2 * sy) + thick;
      fillRect(sheet, x1, y1, x2, y1 + thick, colour, clip);
      fillRect(sheet, x1, y2 - thick, x2, y2, colour, clip);
      fillRect(sheet, x1, y1, x1 + thick, y2, colour, clip);
      fillRect(sheet, x2 - thick, y1, x2, y2, colour, clip);
      // The name tag sits above the box, or below it at the top of the cell, kept inside the cell.
      const tagWidth = textWidth(object.className) + 4;
      const tagHeight = GLYPH_HEIGHT + 3;
      const tagLeft = Math.max(left, Math.min(x1, clip.x1 - tagWidth));
      const tagTop = y1 - tagHeight >= top ? y1 - tagHeight : Math.min(y2, clip.y1 - tagHeight);
      if (tagWidth <= layout.cellWidth && tagHeight <= layout.cellHeight) {
        fillRect(sheet, tagLeft, tagTop, tagLeft + tagWidth, tagTop + tagHeight, colour, clip);
        drawText(
          sheet.data,
          sheet.width,
          sheet.height,
          object.className,
          tagLeft + 2,
          tagTop + 2,
          [0, 0, 0],
        );
      }
    }
  });
  return sheet;
}
