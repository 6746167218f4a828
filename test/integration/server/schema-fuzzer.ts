/**
 * A seeded request generator driven by the app's OpenAPI document: for each operation it makes
 * valid-looking params, queries and bodies from the JSON schemas, then often mutates them
 * (wrong types, missing and unknown fields, extreme numbers, path-like and huge strings,
 * garbage bodies, wrong content types). Test-only.
 */
/** A generated request, in the shape `app.inject` takes. */
export interface FuzzRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The parts of a JSON schema the generator understands. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  format?: string;
  default?: Json;
}

interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export interface FuzzOperation {
  method: FuzzRequest['method'];
  /** OpenAPI path, `{id}` placeholders. */
  path: string;
  parameters: Parameter[];
  bodyType: 'json' | 'jpeg' | null;
  bodySchema: JsonSchema | null;
}

const HTTP_METHODS: Record<string, FuzzRequest['method']> = {
  get: 'GET',
  post: 'POST',
  put: 'PUT',
  delete: 'DELETE',
  patch: 'PATCH',
};

/** Operations of `document`, minus those whose answer is a never-ending stream. */
export function fuzzOperations(document: OpenApiDocument): FuzzOperation[] {
  const operations: FuzzOperation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const httpMethod = HTTP_METHODS[method];
      if (httpMethod === undefined) continue;
      const streams = Object.values(operation.responses ?? {}).some(
        (response) => response.content?.['text/event-stream'] !== undefined,
      );
      if (streams) continue;
      const content = operation.requestBody?.content ?? {};
      const jsonBody = content['application/json']?.schema;
      const jpegBody = content['image/jpeg']?.schema;
      operations.push({
        method: httpMethod,
        path,
        parameters: operation.parameters ?? [],
        bodyType: jsonBody !== undefined ? 'json' : jpegBody !== undefined ? 'jpeg' : null,
        bodySchema: jsonBody ?? jpegBody ?? null,
      });
    }
  }
  return operations;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ID_TAIL = `${ID_ALPHABET}._:-`;

const NASTY_STRINGS: string[] = [
  '',
  ' ',
  '../../etc/passwd',
  '..',
  'a/b',
  '%2e%2e',
  '%00',
  '\u0000',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  "'; drop table prediction_logs; --",
  '<script>alert(1)</script>',
  '🦀'.repeat(40),
  'é'.repeat(300),
  'x'.repeat(5000),
  '-1',
  'NaN',
  '1e309',
];

const NASTY_VALUES: Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  -1e308,
  1e308,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [null],
  { a: 1 },
  ...NASTY_STRINGS,
];

export class SchemaFuzzer {
  constructor(
    private readonly document: OpenApiDocument,
    private readonly random: () => number,
  ) {}

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.random() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** A valid id (letters, digits, then ._:-). */
  id(): string {
    let text = this.pick([...ID_ALPHABET]);
    const length = this.int(0, 20);
    for (let i = 0; i < length; i++) text += this.pick([...ID_TAIL]);
    return text;
  }

  nasty(): Json {
    return this.pick(NASTY_VALUES);
  }

  private resolve(schema: JsonSchema): JsonSchema {
    if (schema.$ref === undefined) return schema;
    const name = schema.$ref.split('/').at(-1) ?? '';
    const target = this.document.components?.schemas?.[name];
    if (target === undefined) throw new Error(`unresolvable $ref ${schema.$ref}`);
    return target;
  }

  /** A value that is valid for `schema` as far as this generator can tell. */
  valid(schemaOrRef: JsonSchema, depth = 0): Json {
    const schema = this.resolve(schemaOrRef);
    if (schema.const !== undefined) return schema.const;
    if (schema.enum !== undefined) return this.pick(schema.enum);
    const union = schema.anyOf ?? schema.oneOf;
    if (union !== undefined) return this.valid(this.pick(union), depth + 1);
    if (schema.allOf !== undefined) return this.valid(schema.allOf[0] ?? {}, depth + 1);
    const types = Array.isArray(schema.type)
      ? schema.type
      : schema.type === undefined
        ? []
        : [schema.type];
    const type =
      types.length === 0
        ? schema.properties !== undefined
          ? 'object'
          : 'string'
        : this.pick(types);
    switch (type) {
      case 'null':
        return null;
      case 'boolean':
        return this.chance(0.5);
      case 'integer':
      case 'number': {
        const low =
          schema.minimum ??
          (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1000);
        const high = Math.min(
          schema.maximum ??
            (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1e6),
          low + 1e7,
        );
        const value = low + this.random() * (high - low);
        return type === 'integer' ? Math.min(high, Math.max(low, Math.round(value))) : value;
      }
      case 'string': {
        if (schema.pattern?.startsWith('^[A-Za-z0-9][A-Za-z0-9._:-]') === true) {
          return this.id().slice(0, schema.maxLength ?? 128);
        }
        if (schema.pattern === '^[0-9a-f]{64}$') {
          return Array.from({ length: 64 }, () => this.pick([...'0123456789abcdef'])).join('');
        }
        const min = schema.minLength ?? 0;
        const max = Math.min(schema.maxLength ?? 24, min + 24);
        return Array.from({ length: this.int(Math.max(1, min), Math.max(1, max)) }, () =>
          this.pick([...ID_ALPHABET, ' ', '-']),
        ).join('');
      }
      case 'array': {
        const min = schema.minItems ?? 0;
        const max = Math.min(schema.maxItems ?? 4, min + (depth > 2 ? 1 : 4));
        const items = schema.items ?? {};
        return Array.from({ length: this.int(min, Math.max(min, max)) }, () =>
          this.valid(items, depth + 1),
        );
      }
      default: {
        const out: Record<string, Json> = {};
        const required = new Set(schema.required ?? []);
        for (const [name, property] of Object.entries(schema.properties ?? {})) {
          if (required.has(name) || this.chance(0.6)) out[name] = this.valid(property, depth + 1);
        }
        return out;
      }
    }
  }

  /** `value` with one random thing wrong somewhere inside it. */
  mutate(value: Json, depth = 0): Json {
    if (Array.isArray(value) && value.length > 0 && depth < 6 && this.chance(0.7)) {
      const copy = [...value];
      const index = this.int(0, copy.length - 1);
      copy[index] = this.mutate(copy[index] ?? null, depth + 1);
      return copy;
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const copy: Record<string, Json> = { ...value };
      const roll = this.random();
      if (keys.length > 0 && roll < 0.5 && depth < 6) {
        const key = this.pick(keys);
        copy[key] = this.mutate(copy[key] ?? null, depth + 1);
      } else if (keys.length > 0 && roll < 0.7) {
        delete copy[this.pick(keys)];
      } else if (roll < 0.85) {
        copy[this.pick(['extra', '__proto__', 'constructor', 'id', 'admin'])] = this.nasty();
      } else {
        return this.nasty();
      }
      return copy;
    }
    return this.nasty();
  }

  /** One request for `operation`, valid-looking or (often) mutated. */
  request(operation: FuzzOperation, jpegs: readonly Buffer[]): FuzzRequest {
    const headers: Record<string, string> = {};
    let url = operation.path;
    const query: string[] = [];
    for (const parameter of operation.parameters) {
      const mutated = this.chance(0.25);
      let value: Json = mutated ? this.nasty() : this.valid(parameter.schema);
      if (parameter.in === 'path') {
        if (!mutated && this.chance(0.3))
          value = this.pick(['res-cam-1-0000001', 'agt-x', 'tok_missing']);
        url = url.replace(`{${parameter.name}}`, encodeURIComponent(this.stringify(value)));
      } else if (parameter.in === 'query') {
        if (parameter.required === true || this.chance(0.5) || mutated) {
          query.push(
            `${encodeURIComponent(parameter.name)}=${encodeURIComponent(this.stringify(value))}`,
          );
        }
      }
    }
    if (this.chance(0.1))
      query.push(
        `${this.pick(['unknown', 'limit', 'cursor', '__proto__'])}=${encodeURIComponent(this.stringify(this.nasty()))}`,
      );
    url = url.replace(/\{[^}]+\}/g, 'x');
    if (query.length > 0) url += `?${query.join('&')}`;

    let payload: string | Buffer | undefined;
    if (operation.bodyType === 'json' && operation.bodySchema !== null) {
      const roll = this.random();
      if (roll < 0.05) {
        payload = this.pick([
          '{',
          '{"results":[}',
          'null',
          '[]',
          '"text"',
          '{"a":1}'.repeat(3),
          '',
        ]);
        headers['content-type'] = 'application/json';
      } else if (roll < 0.08) {
        payload = 'plain text';
        headers['content-type'] = this.pick(['text/plain', 'application/xml', 'image/jpeg']);
      } else {
        const body = this.valid(operation.bodySchema);
        payload = JSON.stringify(this.chance(0.6) ? this.mutate(body) : body);
        headers['content-type'] = 'application/json';
      }
    } else if (operation.bodyType === 'jpeg') {
      const jpeg = this.pick(jpegs);
      const roll = this.random();
      payload =
        roll < 0.4
          ? jpeg
          : roll < 0.6
            ? jpeg.subarray(0, this.int(0, jpeg.length - 1))
            : roll < 0.8
              ? Buffer.from(Array.from({ length: this.int(0, 300) }, () => this.int(0, 255)))
              : Buffer.concat([
                  jpeg.subarray(0, 2),
                  Buffer.from(Array.from({ length: 64 }, () => this.int(0, 255))),
                ]);
      headers['content-type'] = this.chance(0.9) ? 'image/jpeg' : 'application/octet-stream';
    }
    return { method: operation.method, url, headers, payload };
  }

  private stringify(value: Json): string {
    return typeof value === 'string' ? value : JSON.stringify(value);
  }
}
