/**
 * A 5×7 bitmap font for captions on contact sheets (letters are drawn as capitals), and a text
 * painter for interleaved RGB buffers. No font files, no system dependencies.
 */

const GLYPH_ROWS: Record<string, string> = {
  a: '.###. #...# #...# ##### #...# #...# #...#',
  b: '####. #...# #...# ####. #...# #...# ####.',
  c: '.###. #...# #.... #.... #.... #...# .###.',
  d: '####. #...# #...# #...# #...# #...# ####.',
  e: '##### #.... #.... ####. #.... #.... #####',
  f: '##### #.... #.... ####. #.... #.... #....',
  g: '.###. #...# #.... #.### #...# #...# .####',
  h: '#...# #...# #...# ##### #...# #...# #...#',
  i: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  j: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  k: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  l: '#.... #.... #.... #.... #.... #.... #####',
  m: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  n: '#...# #...# ##..# #.#.# #..## #...# #...#',
  o: '.###. #...# #...# #...# #...# #...# .###.',
  p: '####. #...# #...# ####. #.... #.... #....',
  q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  r: '####. #...# #...# ####. #.#.. #..#. #...#',
  s: '.#### #.... #.... .###. ....# ....# ####.',
  t: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  u: '#...# #...# #...# #...# #...# #...# .###.',
  v: '#...# #...# #...# #...# #...# .#.#. ..#..',
  w: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  x: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  z: '##### ....# ...#. ..#.. .#... #.... #####',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '####. ....# ....# .###. ....# ....# ####.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  ' ': '..... ..... ..... ..... ..... ..... .....',
  '-': '..... ..... ..... ##### ..... ..... .....',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ',': '..... ..... ..... ..... .##.. ..#.. .#...',
  '#': '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  '/': '....# ....# ...#. ..#.. .#... #.... #....',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  _: '..... ..... ..... ..... ..... ..... #####',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '%': '##..# ##..# ...#. ..#.. .#... #..## #..##',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Horizontal advance per character in font pixels (glyph plus one column of spacing). */
export const GLYPH_ADVANCE = 6;

/** Each glyph as 35 booleans, row-major. */
const GLYPHS = new Map<string, boolean[]>(
  Object.entries(GLYPH_ROWS).map(([ch, rows]) => [
    ch,
    rows
      .split(' ')
      .join('')
      .split('')
      .map((c) => c === '#'),
  ]),
);

/** Width in pixels of `text` at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

/**
 * Paints `text` into an interleaved RGB buffer with its top-left at (x, y); pixels outside the
 * buffer are skipped. Unknown characters are drawn as '?'.
 */
export function drawText(
  data: Uint8Array,
  width: number,
  height: number,
  text: string,
  x: number,
  y: number,
  colour: readonly [number, number, number],
  scale = 1,
): void {
  let penX = x;
  for (const ch of text.toLowerCase()) {
    const glyph = GLYPHS.get(ch) ?? GLYPHS.get('?');
    if (glyph) {
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (!glyph[gy * GLYPH_WIDTH + gx]) continue;
          for (let sy = 0; sy < scale; sy++) {
            const py = y + gy * scale + sy;
            if (py < 0 || py >= height) continue;
            for (let sx = 0; sx < scale; sx++) {
              const px = penX + gx * scale + sx;
              if (px < 0 || px >= width) continue;
              const o = (py * width + px) * 3;
              data[o] = colour[0];
              data[o + 1] = colour[1];
              data[o + 2] = colour[2];
            }
          }
        }
      }
    }
    penX += GLYPH_ADVANCE * scale;
  }
}
