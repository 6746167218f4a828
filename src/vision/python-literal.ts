/**
 * A parser for Python literals, for the model metadata Ultralytics writes with `str(v)`
 * (metadata.ts): the subset `ast.literal_eval` accepts — dicts, lists, tuples, str, int,
 * float, bool, None — minus sets, bytes and complex numbers, with limits on length and
 * nesting. The text comes from a file anyone can upload: recursive descent over the characters,
 * never `eval`, never `Function`. Errors are MODEL_METADATA_INVALID with the position.
 *
 * Pure: no I/O, no Node-only imports.
 */
import { VisionLoopError } from '../shared/errors.js';

export interface PyList {
  readonly kind: 'list';
  readonly items: PyValue[];
}

export interface PyTuple {
  readonly kind: 'tuple';
  readonly items: PyValue[];
}

/** A dict in source order; a repeated key keeps its last value, in its first position (as Python). */
export interface PyDict {
  readonly kind: 'dict';
  readonly entries: [PyValue, PyValue][];
}

/**
 * A parsed Python literal. `None` → null, `True`/`False` → booleans, int and float → number
 * (so `1` and `1.0` are the same after parsing), str → string.
 */
export type PyValue = null | boolean | number | string | PyList | PyTuple | PyDict;

/** Longest literal accepted, in characters (a 1000-class `names` dict is ~20 000). */
export const MAX_LITERAL_LENGTH = 1_000_000;
/** Deepest nesting of containers accepted. */
export const MAX_LITERAL_DEPTH = 32;

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isIdentifierChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

class LiteralParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): PyValue {
    this.skipSpace();
    const value = this.value(0);
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected text after the value');
    return value;
  }

  private fail(reason: string, at = this.pos): never {
    const found = at < this.text.length ? JSON.stringify(this.text.slice(at, at + 12)) : 'end';
    throw new VisionLoopError(
      'MODEL_METADATA_INVALID',
      `invalid Python literal at character ${at}: ${reason} (found ${found})`,
    );
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') this.pos++;
      else if (c === '\\' && t[this.pos + 1] === '\n') this.pos += 2;
      else break;
    }
  }

  private value(depth: number): PyValue {
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.dict(depth + 1);
      case '[':
        return { kind: 'list', items: this.sequence(depth + 1, ']') };
      case '(':
        return this.parenthesized(depth + 1);
      case "'":
      case '"':
        return this.strings();
      case '-':
      case '+': {
        // One unary sign on a number, as literal_eval allows (`- 1` too, not `--1`).
        this.pos++;
        this.skipSpace();
        const magnitude = this.number();
        return c === '-' ? -magnitude : magnitude;
      }
      case undefined:
        return this.fail('expected a value');
      default:
        if (isDigit(c) || (c === '.' && isDigit(this.text[this.pos + 1]))) return this.number();
        if (/[A-Za-z_]/.test(c)) return this.word();
        return this.fail('expected a value');
    }
  }

  private enter(depth: number): void {
    if (depth > MAX_LITERAL_DEPTH) this.fail(`nested deeper than ${MAX_LITERAL_DEPTH} levels`);
    this.pos++;
    this.skipSpace();
  }

  private sequence(depth: number, close: ']' | ')'): PyValue[] {
    this.enter(depth);
    const items: PyValue[] = [];
    while (this.text[this.pos] !== close) {
      items.push(this.value(depth));
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.skipSpace();
      } else if (this.text[this.pos] !== close) {
        this.fail(`expected ',' or '${close}'`);
      }
    }
    this.pos++;
    return items;
  }

  private parenthesized(depth: number): PyValue {
    this.enter(depth);
    if (this.text[this.pos] === ')') {
      this.pos++;
      return { kind: 'tuple', items: [] };
    }
    const first = this.value(depth);
    this.skipSpace();
    if (this.text[this.pos] === ')') {
      this.pos++;
      return first;
    }
    if (this.text[this.pos] !== ',') this.fail("expected ',' or ')'");
    this.pos++;
    this.skipSpace();
    const items = [first];
    while (this.text[this.pos] !== ')') {
      items.push(this.value(depth));
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.skipSpace();
      } else if (this.text[this.pos] !== ')') {
        this.fail("expected ',' or ')'");
      }
    }
    this.pos++;
    return { kind: 'tuple', items };
  }

  private dict(depth: number): PyDict {
    this.enter(depth);
    const entries: [PyValue, PyValue][] = [];
    const positions = new Map<string, number>();
    while (this.text[this.pos] !== '}') {
      const keyAt = this.pos;
      const key = this.value(depth);
      if (!isHashable(key))
        this.fail('a dict key must be a str, number, bool, None or tuple', keyAt);
      this.skipSpace();
      if (this.text[this.pos] !== ':') {
        this.fail(
          this.text[this.pos] === ',' || this.text[this.pos] === '}'
            ? "expected ':' (set literals are not supported)"
            : "expected ':'",
        );
      }
      this.pos++;
      this.skipSpace();
      const value = this.value(depth);
      const identity = keyIdentity(key);
      const existing = positions.get(identity);
      if (existing !== undefined) {
        entries[existing]![1] = value;
      } else {
        positions.set(identity, entries.length);
        entries.push([key, value]);
      }
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        this.pos++;
        this.skipSpace();
      } else if (this.text[this.pos] !== '}') {
        this.fail("expected ',' or '}'");
      }
    }
    this.pos++;
    return { kind: 'dict', entries };
  }

  private word(): PyValue {
    const start = this.pos;
    while (isIdentifierChar(this.text[this.pos])) this.pos++;
    const word = this.text.slice(start, this.pos);
    const quote = this.text[this.pos];
    if (quote === "'" || quote === '"') {
      const prefix = word.toLowerCase();
      if (prefix === 'r' || prefix === 'u') {
        this.pos = start;
        return this.strings();
      }
      this.fail(
        `string prefix '${word}' is not supported (bytes and f-strings are not literals)`,
        start,
      );
    }
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    return this.fail(`'${word}' is not a literal (only True, False and None are)`, start);
  }

  /** One or more adjacent string literals, concatenated as Python does. */
  private strings(): string {
    let out = this.string();
    for (;;) {
      const save = this.pos;
      this.skipSpace();
      const c = this.text[this.pos];
      const n = this.text[this.pos + 1];
      if (
        c === "'" ||
        c === '"' ||
        ((c === 'r' || c === 'R' || c === 'u' || c === 'U') && (n === "'" || n === '"'))
      ) {
        out += this.string();
      } else {
        this.pos = save;
        return out;
      }
    }
  }

  private string(): string {
    const t = this.text;
    let raw = false;
    const p = t[this.pos];
    if (p === 'r' || p === 'R') {
      raw = true;
      this.pos++;
    } else if (p === 'u' || p === 'U') {
      this.pos++;
    }
    const quote = t[this.pos]!;
    const start = this.pos;
    if (t[this.pos + 1] === quote && t[this.pos + 2] === quote) {
      this.fail('triple-quoted strings are not supported');
    }
    this.pos++;
    let out = '';
    let runStart = this.pos;
    for (;;) {
      const c = t[this.pos];
      if (c === undefined || c === '\n' || c === '\r') this.fail('unterminated string', start);
      if (c === quote) {
        out += t.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      out += t.slice(runStart, this.pos);
      const e = t[this.pos + 1];
      if (e === undefined) this.fail('unterminated string', start);
      if (raw) {
        // A raw string keeps the backslash; it only stops the next quote from closing it.
        out += '\\' + e;
        this.pos += 2;
      } else {
        out += this.escape();
      }
      runStart = this.pos;
    }
  }

  /** The escape at `pos` (a backslash), per Python's string-literal rules. */
  private escape(): string {
    const t = this.text;
    const at = this.pos;
    const e = t[at + 1]!;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    if (e === '\n') {
      this.pos += 2;
      return '';
    }
    if (e >= '0' && e <= '7') {
      let end = at + 1;
      while (end < at + 4 && t[end]! >= '0' && t[end]! <= '7') end++;
      this.pos = end;
      return String.fromCharCode(parseInt(t.slice(at + 1, end), 8));
    }
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = t.slice(at + 2, at + 2 + hexLength);
      if (!new RegExp(`^[0-9A-Fa-f]{${hexLength}}$`).test(hex)) {
        this.fail(`truncated \\${e} escape`, at);
      }
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) this.fail('escape beyond Unicode', at);
      this.pos = at + 2 + hexLength;
      return String.fromCodePoint(code);
    }
    if (e === 'N') this.fail('\\N{name} escapes are not supported', at);
    // Python keeps an unknown escape as written (with a warning).
    this.pos += 2;
    return '\\' + e;
  }

  private number(): number {
    const t = this.text;
    const start = this.pos;
    const prefix = t.slice(start, start + 2).toLowerCase();
    if (prefix === '0x' || prefix === '0o' || prefix === '0b') {
      const radix = prefix === '0x' ? 16 : prefix === '0o' ? 8 : 2;
      const digits = radix === 16 ? /[0-9A-Fa-f_]/ : radix === 8 ? /[0-7_]/ : /[01_]/;
      let end = start + 2;
      while (end < t.length && digits.test(t[end]!)) end++;
      const body = t.slice(start + 2, end);
      if (!/^_?[0-9A-Fa-f]+(_[0-9A-Fa-f]+)*$/.test(body)) this.fail('malformed integer', start);
      this.pos = end;
      this.noTrailingName(start);
      return this.safeInteger(parseInt(body.replace(/_/g, ''), radix), start);
    }
    const match = /^(?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:[eE][+-]?\d(?:_?\d)*)?/.exec(
      t.slice(start, start + 400),
    );
    const literal = match?.[0] ?? '';
    if (literal === '' || literal === '.' || !/\d/.test(literal.split(/[eE]/)[0]!)) {
      this.fail('malformed number', start);
    }
    this.pos = start + literal.length;
    this.noTrailingName(start);
    const clean = literal.replace(/_/g, '');
    if (/[.eE]/.test(clean)) return Number(clean);
    if (clean.length > 1 && clean.startsWith('0') && /[1-9]/.test(clean)) {
      this.fail('leading zeros in a decimal integer are not allowed', start);
    }
    return this.safeInteger(Number(clean), start);
  }

  private noTrailingName(start: number): void {
    const c = this.text[this.pos];
    if (c === 'j' || c === 'J') this.fail('complex numbers are not supported', start);
    if (isIdentifierChar(c) || c === '.') this.fail('malformed number', start);
  }

  private safeInteger(value: number, start: number): number {
    if (!Number.isSafeInteger(value)) this.fail('integer too large', start);
    return value;
  }
}

function isHashable(value: PyValue): boolean {
  if (value === null || typeof value !== 'object') return true;
  return value.kind === 'tuple' && value.items.every(isHashable);
}

/** A string equal for keys Python treats as the same (1, 1.0 and True; equal tuples). */
function keyIdentity(key: PyValue): string {
  if (key === null) return 'None';
  if (typeof key === 'boolean') return `n${Number(key)}`;
  if (typeof key === 'number') return `n${key}`;
  if (typeof key === 'string') return `s${key}`;
  // Dicts never reach here: `isHashable` refuses them as keys first.
  const items = key.kind === 'dict' ? [] : key.items;
  return `(${items.map(keyIdentity).join('\u0000,')})`;
}

/** Python key equality for hashable literals (1 == 1.0 == True). */
function pyKeyEquals(a: PyValue, b: PyValue): boolean {
  const na = typeof a === 'boolean' ? Number(a) : a;
  const nb = typeof b === 'boolean' ? Number(b) : b;
  if (na === null || typeof na !== 'object' || nb === null || typeof nb !== 'object') {
    return na === nb;
  }
  return (
    na.kind === 'tuple' &&
    nb.kind === 'tuple' &&
    na.items.length === nb.items.length &&
    na.items.every((item, i) => pyKeyEquals(item, nb.items[i]!))
  );
}

/**
 * Parses one Python literal (what `repr` writes for dicts, lists, tuples, str, int, float,
 * bool and None). Throws MODEL_METADATA_INVALID with the character position of the problem.
 */
export function parsePythonLiteral(text: string): PyValue {
  if (text.length > MAX_LITERAL_LENGTH) {
    throw new VisionLoopError(
      'MODEL_METADATA_INVALID',
      `Python literal of ${text.length} characters exceeds the limit of ${MAX_LITERAL_LENGTH}`,
    );
  }
  return new LiteralParser(text).parse();
}

/** The value of `key` in a parsed dict, or undefined. */
export function pyDictGet(dict: PyDict, key: PyValue): PyValue | undefined {
  const entry = dict.entries.find(([k]) => pyKeyEquals(k, key));
  return entry?.[1];
}
