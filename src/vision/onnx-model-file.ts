/**
 * Reads what the runtime needs from an ONNX file without a protobuf library: whether it is an
 * ONNX ModelProto at all, its IR version, producer, and `metadata_props` (where Ultralytics and
 * the VisionLoop trainer write class names, imgsz and stride). ONNX Runtime's JS API does not
 * expose custom metadata, so the file is read here.
 *
 * Only the top level of ModelProto is walked; the graph (the bulk of the file) is skipped by
 * its length. Pure: takes bytes, never touches the file system.
 */
import { VisionLoopError } from '../shared/errors.js';

export interface OnnxModelHeader {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetVersion: number | null;
  metadata: Record<string, string>;
}

// ModelProto field numbers (onnx.proto3).
const FIELD_IR_VERSION = 1;
const FIELD_PRODUCER_NAME = 2;
const FIELD_PRODUCER_VERSION = 3;
const FIELD_OPSET_IMPORT = 8;
const FIELD_GRAPH = 7;
const FIELD_METADATA_PROPS = 14;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

class ProtoReader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.bytes[this.pos++] ?? 0;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** Returns [start, end) of a length-delimited field's payload and moves past it. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw new Error('length-delimited field runs past the end');
    this.pos = end;
    return [start, end];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LENGTH_DELIMITED:
        this.span();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('fixed-width field runs past the end');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readStringPair(bytes: Uint8Array, start: number, end: number): [string, string] {
  const reader = new ProtoReader(bytes, start, end);
  let key = '';
  let value = '';
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === WIRE_LENGTH_DELIMITED && (field === 1 || field === 2)) {
      const [s, e] = reader.span();
      const text = utf8.decode(bytes.subarray(s, e));
      if (field === 1) key = text;
      else value = text;
    } else {
      reader.skip(wireType);
    }
  }
  return [key, value];
}

function readOpsetVersion(
  bytes: Uint8Array,
  start: number,
  end: number,
): { domain: string; version: number } {
  const reader = new ProtoReader(bytes, start, end);
  let domain = '';
  let version = 0;
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === WIRE_LENGTH_DELIMITED) {
      const [s, e] = reader.span();
      domain = utf8.decode(bytes.subarray(s, e));
    } else if (field === 2 && wireType === WIRE_VARINT) {
      version = reader.varint();
    } else {
      reader.skip(wireType);
    }
  }
  return { domain, version };
}

/**
 * Parses the top level of an ONNX ModelProto. Throws MODEL_NOT_ONNX when the bytes are not one
 * (wrong wire format, no graph, no IR version). `source` names the file in messages.
 */
export function readOnnxModelHeader(bytes: Uint8Array, source = 'the model'): OnnxModelHeader {
  const header: OnnxModelHeader = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    opsetVersion: null,
    metadata: {},
  };
  let hasGraph = false;
  try {
    const reader = new ProtoReader(bytes);
    while (!reader.done) {
      const tag = reader.varint();
      const field = Math.floor(tag / 8);
      const wireType = tag & 7;
      if (field === 0) throw new Error('field number 0');
      if (field === FIELD_IR_VERSION && wireType === WIRE_VARINT) {
        header.irVersion = reader.varint();
      } else if (wireType === WIRE_LENGTH_DELIMITED) {
        const [start, end] = reader.span();
        if (field === FIELD_PRODUCER_NAME)
          header.producerName = utf8.decode(bytes.subarray(start, end));
        else if (field === FIELD_PRODUCER_VERSION)
          header.producerVersion = utf8.decode(bytes.subarray(start, end));
        else if (field === FIELD_GRAPH) hasGraph = true;
        else if (field === FIELD_METADATA_PROPS) {
          const [key, value] = readStringPair(bytes, start, end);
          header.metadata[key] = value;
        } else if (field === FIELD_OPSET_IMPORT) {
          const opset = readOpsetVersion(bytes, start, end);
          if (opset.domain === '' || opset.domain === 'ai.onnx')
            header.opsetVersion = opset.version;
        }
      } else {
        reader.skip(wireType);
      }
    }
  } catch (error) {
    throw new VisionLoopError(
      'MODEL_NOT_ONNX',
      `${source} is not an ONNX model (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  if (!hasGraph || header.irVersion === 0) {
    throw new VisionLoopError(
      'MODEL_NOT_ONNX',
      `${source} is not an ONNX model (no ${hasGraph ? 'IR version' : 'graph'} in it)`,
    );
  }
  return header;
}
