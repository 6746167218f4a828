/**
 * Writes `metadata_props` entries into an ONNX ModelProto without a protobuf library, so the
 * registry can stamp `visionloop_version` into a model it registers: the version a session
 * reports (ModelInfo.version, carried by every frame result) is then the registry's version,
 * whoever exported the file.
 *
 * Only the top level of ModelProto is walked; every other field is copied byte for byte, in
 * order. Entries whose key is being set are dropped and the new ones appended at the end
 * (protobuf allows repeated fields anywhere). Bytes come back unchanged (the same array) when
 * every key already holds its value, so a model that needs no stamp keeps its sha256.
 *
 * Pure: takes bytes, returns bytes. Callers validate the input with readOnnxModelHeader first;
 * malformed input throws MODEL_NOT_ONNX.
 */
import { VisionLoopError } from '../shared/errors.js';

const FIELD_METADATA_PROPS = 14;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

interface Cursor {
  pos: number;
}

function readVarint(bytes: Uint8Array, cursor: Cursor, end: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.pos >= end) throw new Error('truncated varint');
    const byte = bytes[cursor.pos++] ?? 0;
    result += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return result;
    multiplier *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

function skipField(bytes: Uint8Array, cursor: Cursor, wireType: number, end: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      readVarint(bytes, cursor, end);
      return;
    case WIRE_FIXED64:
      cursor.pos += 8;
      break;
    case WIRE_LENGTH_DELIMITED: {
      // Read the length first: `cursor.pos += readVarint(…)` would add to the old position.
      const length = readVarint(bytes, cursor, end);
      cursor.pos += length;
      break;
    }
    case WIRE_FIXED32:
      cursor.pos += 4;
      break;
    default:
      throw new Error(`unsupported wire type ${wireType}`);
  }
  if (cursor.pos > end) throw new Error('field runs past the end');
}

/** The key and value of a StringStringEntryProto payload. */
function readEntry(bytes: Uint8Array, start: number, end: number): [string, string] {
  const cursor = { pos: start };
  let key = '';
  let value = '';
  while (cursor.pos < end) {
    const tag = readVarint(bytes, cursor, end);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === WIRE_LENGTH_DELIMITED && (field === 1 || field === 2)) {
      const length = readVarint(bytes, cursor, end);
      const text = utf8.decode(bytes.subarray(cursor.pos, cursor.pos + length));
      cursor.pos += length;
      if (cursor.pos > end) throw new Error('entry runs past the end');
      if (field === 1) key = text;
      else value = text;
    } else {
      skipField(bytes, cursor, wireType, end);
    }
  }
  return [key, value];
}

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const head = [...varintBytes(field * 8 + WIRE_LENGTH_DELIMITED), ...varintBytes(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

function encodeEntry(key: string, value: string): Uint8Array {
  const keyField = lengthDelimited(1, encoder.encode(key));
  const valueField = lengthDelimited(2, encoder.encode(value));
  const payload = new Uint8Array(keyField.length + valueField.length);
  payload.set(keyField, 0);
  payload.set(valueField, keyField.length);
  return lengthDelimited(FIELD_METADATA_PROPS, payload);
}

/**
 * Returns the model with each of `entries` set in its `metadata_props` (replacing any entry
 * with the same key). Returns `bytes` itself when nothing changes.
 */
export function setOnnxMetadata(
  bytes: Uint8Array,
  entries: Readonly<Record<string, string>>,
): Uint8Array {
  const wanted = new Map(Object.entries(entries));
  const kept: [number, number][] = [];
  const current = new Map<string, string>();
  let replaced = 0;
  try {
    const cursor = { pos: 0 };
    while (cursor.pos < bytes.length) {
      const fieldStart = cursor.pos;
      const tag = readVarint(bytes, cursor, bytes.length);
      const field = Math.floor(tag / 8);
      const wireType = tag & 7;
      if (field === 0) throw new Error('field number 0');
      if (field === FIELD_METADATA_PROPS && wireType === WIRE_LENGTH_DELIMITED) {
        const length = readVarint(bytes, cursor, bytes.length);
        const payloadStart = cursor.pos;
        cursor.pos += length;
        if (cursor.pos > bytes.length) throw new Error('metadata entry runs past the end');
        const [key, value] = readEntry(bytes, payloadStart, cursor.pos);
        if (wanted.has(key)) {
          current.set(key, value);
          replaced++;
          continue;
        }
      } else {
        skipField(bytes, cursor, wireType, bytes.length);
      }
      kept.push([fieldStart, cursor.pos]);
    }
  } catch (error) {
    throw new VisionLoopError(
      'MODEL_NOT_ONNX',
      `the model is not an ONNX model (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  const unchanged =
    replaced === wanted.size && [...wanted].every(([key, value]) => current.get(key) === value);
  if (unchanged) return bytes;
  const additions = [...wanted].map(([key, value]) => encodeEntry(key, value));
  let size = additions.reduce((sum, part) => sum + part.length, 0);
  for (const [start, end] of kept) size += end - start;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const [start, end] of kept) {
    out.set(bytes.subarray(start, end), offset);
    offset += end - start;
  }
  for (const part of additions) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
