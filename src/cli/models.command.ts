/**
 * `visionloop models list|show|upload|promote|rollback|history|download`: the model registry
 * through a server's HTTP API.
 *
 * The server is `--server URL`, else $VISIONLOOP_SERVER_URL, else http://127.0.0.1:8080. The
 * token is `--token`, else `--token-file`, else $VISIONLOOP_TOKEN, else the admin-token file
 * the local server wrote on its first start ($VISIONLOOP_ADMIN_TOKEN_FILE or
 * <data dir>/admin-token). Reading needs a viewer token; upload, promote and rollback an
 * admin one. `--json` prints the server's answer as JSON.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import {
  aliasHistoryResponseSchema,
  aliasMoveResponseSchema,
  modelDetailResponseSchema,
  modelListResponseSchema,
  uploadModelResponseSchema,
  type AliasMoveResponse,
  type ModelDetailResponse,
  type ModelSummary,
} from '../shared/api/models.js';
import { VisionLoopError } from '../shared/errors.js';
import { answerPrinter, formatTable } from './output.js';
import { parseIntegerInRange } from './parse-options.js';
import {
  addConnectionOptions,
  callServer,
  connect,
  requestServer,
  type ConnectionFlags,
  type ServerCommandDeps,
} from './server-connection.js';

/** The injectable process pieces (kept as its own name for callers). */
export type ModelsCommandDeps = ServerCommandDeps;

function date(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

function describeMove(move: AliasMoveResponse): string {
  if (!move.changed) return `${move.alias} already points at ${move.toVersion}; nothing changed`;
  const lines = [`${move.alias}: ${move.fromVersion ?? '(unset)'} → ${move.toVersion}`];
  if (move.entry?.reason?.startsWith('gate override:') === true) {
    lines.push(`overrode the promotion gate; kept in the alias history: ${move.entry.reason}`);
  }
  const serving = move.serving;
  if (serving !== null) {
    if (serving.error !== null) {
      lines.push(
        `this server could not swap to it: ${serving.error.message}; ${serving.version ?? 'nothing'} keeps serving /api/predict`,
      );
    } else if (serving.swapped) {
      lines.push(
        `this server now serves ${serving.version} (loaded and warmed up in ${Math.round(serving.loadMs ?? 0)} ms); agents follow within seconds`,
      );
    }
  }
  return lines.join('\n');
}

function listTable(models: readonly ModelSummary[]): string {
  return formatTable(
    ['VERSION', 'SOURCE', 'ALIASES', 'PARENT', 'LAYOUT', 'SHA256', 'CREATED', 'BY'],
    models.map((model) => [
      model.version,
      model.source,
      model.aliases.join(',') || '-',
      model.parentVersion ?? '-',
      model.layout,
      shortSha(model.sha256),
      date(model.createdAt),
      model.createdBy ?? '-',
    ]),
  );
}

/** What `visionloop models show` prints for one version. */
export function detailText(detail: ModelDetailResponse): string {
  const { model } = detail;
  const lines = [
    `version       ${model.version}${model.aliases.length > 0 ? `  (${model.aliases.join(', ')})` : ''}`,
    `source        ${model.source}`,
    `sha256        ${model.sha256}`,
    `size          ${model.bytes} bytes${model.hasWeights ? ', weights.pt stored' : ''}`,
    `layout        ${model.layout}, imgsz ${model.imgsz ?? '?'}`,
    `classes       ${model.classNames.join(', ')}`,
    `parent        ${model.parentVersion ?? '-'}`,
    `dataset       ${model.datasetId ?? '-'}`,
    `created       ${date(model.createdAt)} by ${model.createdBy ?? '-'}`,
  ];
  if (model.producer !== null) lines.push(`producer      ${model.producer}`);
  if (model.notes !== null) lines.push(`notes         ${model.notes}`);
  if (model.trainerParams !== null) {
    // The device the trainer reported (docs/retraining.md "Training on a GPU").
    const { device, deviceName } = model.trainerParams;
    if (typeof device === 'string')
      lines.push(
        `trained on    ${device}${typeof deviceName === 'string' && deviceName !== '' ? ` (${deviceName})` : ''}`,
      );
    lines.push(`trainer       ${JSON.stringify(model.trainerParams)}`);
  }
  if (detail.comparison.length > 0) {
    const against = detail.production?.version ?? 'production';
    const number = (value: number | null): string => (value === null ? '-' : value.toFixed(4));
    lines.push(
      '',
      formatTable(
        ['METRIC', model.version, against, 'DELTA'],
        detail.comparison.map((row) => [
          row.metric,
          number(row.value),
          number(row.production),
          row.delta === null ? '-' : `${row.delta >= 0 ? '+' : ''}${row.delta.toFixed(4)}`,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/** Registers `visionloop models …`. */
export function registerModelsCommands(program: Command, deps: ModelsCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const print = answerPrinter(out);
  const models = program
    .command('models')
    .description('The model registry: versions, aliases (production, staging), rollbacks.');

  addConnectionOptions(
    models
      .command('list')
      .description('Registered versions, newest first, and where each alias points.')
      .option('--limit <n>', 'most versions to list', parseIntegerInRange(1, 500), 100),
  ).action(async (flags: ConnectionFlags & { limit: number }) => {
    const answer = await callServer(
      connect(flags, deps),
      'GET',
      `/api/models?limit=${flags.limit}`,
      modelListResponseSchema,
    );
    print(flags, answer, () =>
      answer.models.length === 0
        ? 'no model is registered yet (upload one with `visionloop models upload model.onnx`)'
        : `${listTable(answer.models)}\n\n${answer.total} versions; ` +
          (answer.aliases.map((a) => `${a.alias} → ${a.version}`).join(', ') || 'no aliases'),
    );
  });

  addConnectionOptions(
    models
      .command('show')
      .description("One version's lineage, and its metrics beside production's.")
      .argument('<version>'),
  ).action(async (version: string, flags: ConnectionFlags) => {
    const answer = await callServer(
      connect(flags, deps),
      'GET',
      `/api/models/${encodeURIComponent(version)}`,
      modelDetailResponseSchema,
    );
    print(flags, answer, () => detailText(answer));
  });

  addConnectionOptions(
    models
      .command('upload')
      .description(
        'Register an ONNX model exported elsewhere (Ultralytics or VisionLoop); it is checked first.',
      )
      .argument('<file>', 'the model.onnx')
      .option(
        '--version <version>',
        'the version (default: its visionloop_version, else model-<sha>)',
      )
      .option('--notes <text>', 'what it is'),
  ).action(async (file: string, flags: ConnectionFlags & { version?: string; notes?: string }) => {
    const bytes = await readFile(file).catch((error: unknown) => {
      throw new VisionLoopError('INVALID_ARGUMENT', `cannot read ${file}`, { cause: error });
    });
    const query = new URLSearchParams();
    if (flags.version !== undefined) query.set('version', flags.version);
    if (flags.notes !== undefined) query.set('notes', flags.notes);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const answer = await callServer(
      connect(flags, deps),
      'POST',
      `/api/models${suffix}`,
      uploadModelResponseSchema,
      { data: new Uint8Array(bytes), type: 'application/octet-stream' },
    );
    print(flags, answer, () =>
      answer.created
        ? `registered ${answer.model.version} from ${basename(file)} (sha256 ${shortSha(answer.model.sha256)}, ${answer.model.layout}, classes ${answer.model.classNames.join(', ')}); promote it with \`visionloop models promote ${answer.model.version} --alias staging\``
        : `${answer.model.version} was already registered with this artifact; nothing changed`,
    );
  });

  addConnectionOptions(
    models
      .command('promote')
      .description('Point an alias at a version (production moves every server and agent).')
      .argument('<version>')
      .option('--alias <alias>', 'production, staging or any name', 'production')
      .option('--reason <text>', 'why (kept in the alias history)')
      .option(
        '--force',
        'promote a version the promotion gate rejected (needs --reason; kept in the alias history)',
      ),
  ).action(
    async (
      version: string,
      flags: ConnectionFlags & { alias: string; reason?: string; force?: boolean },
    ) => {
      if (flags.force === true && (flags.reason === undefined || flags.reason.trim() === '')) {
        throw new VisionLoopError(
          'INVALID_ARGUMENT',
          '--force overrides the promotion gate and needs --reason "why" (kept in the alias history)',
        );
      }
      const answer = await callServer(
        connect(flags, deps),
        'POST',
        `/api/models/${encodeURIComponent(version)}/promote`,
        aliasMoveResponseSchema,
        {
          json: {
            alias: flags.alias,
            ...(flags.reason === undefined ? {} : { reason: flags.reason }),
            ...(flags.force === true ? { force: true } : {}),
          },
        },
      );
      print(flags, answer, () => describeMove(answer));
    },
  );

  addConnectionOptions(
    models
      .command('rollback')
      .description('Move an alias back to the version it pointed at before its latest move.')
      .argument('[alias]', 'the alias', 'production')
      .option('--reason <text>', 'why (kept in the alias history)'),
  ).action(async (alias: string, flags: ConnectionFlags & { reason?: string }) => {
    const answer = await callServer(
      connect(flags, deps),
      'POST',
      `/api/models/aliases/${encodeURIComponent(alias)}/rollback`,
      aliasMoveResponseSchema,
      { json: flags.reason === undefined ? {} : { reason: flags.reason } },
    );
    print(flags, answer, () => describeMove(answer));
  });

  addConnectionOptions(
    models
      .command('history')
      .description('Every move of an alias: when, who, from which version to which, and why.')
      .argument('[alias]', 'the alias', 'production')
      .option('--limit <n>', 'most entries', parseIntegerInRange(1, 1000), 50),
  ).action(async (alias: string, flags: ConnectionFlags & { limit: number }) => {
    const answer = await callServer(
      connect(flags, deps),
      'GET',
      `/api/models/aliases/${encodeURIComponent(alias)}/history?limit=${flags.limit}`,
      aliasHistoryResponseSchema,
    );
    print(flags, answer, () =>
      answer.history.length === 0
        ? `alias ${answer.alias} has never been set`
        : `${answer.alias} → ${answer.current ?? '(unset)'}\n\n${formatTable(
            ['WHEN', 'ACTION', 'FROM', 'TO', 'BY', 'REASON'],
            answer.history.map((entry) => [
              date(entry.at),
              entry.action,
              entry.fromVersion ?? '-',
              entry.toVersion ?? '-',
              entry.actor ?? '-',
              entry.reason ?? '',
            ]),
          )}`,
    );
  });

  addConnectionOptions(
    models
      .command('download')
      .description("Download a version's model.onnx (or weights.pt), checking its sha256.")
      .argument('<version>')
      .option('--out <file>', 'where to write it (default <version>.onnx or <version>.pt)')
      .option('--weights', 'download weights.pt instead of model.onnx'),
  ).action(
    async (version: string, flags: ConnectionFlags & { out?: string; weights?: boolean }) => {
      const what = flags.weights === true ? 'weights' : 'artifact';
      const destination = flags.out ?? `${version}.${flags.weights === true ? 'pt' : 'onnx'}`;
      const response = await requestServer(
        connect(flags, deps),
        'GET',
        `/api/models/${encodeURIComponent(version)}/${what}`,
      );
      if (response.body === null) {
        throw new VisionLoopError(
          'INTERNAL',
          `the server answered HTTP ${response.status} with no body`,
        );
      }
      const expected = response.headers.get('x-visionloop-sha256');
      const hash = createHash('sha256');
      const tmp = `${destination}.${process.pid}.tmp`;
      try {
        await pipeline(
          Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
          new Transform({
            transform(chunk: Buffer, _encoding, done) {
              hash.update(chunk);
              done(null, chunk);
            },
          }),
          createWriteStream(tmp),
        );
        const actual = hash.digest('hex');
        if (expected !== null && actual !== expected) {
          throw new VisionLoopError(
            'INTERNAL',
            `the download's sha256 ${shortSha(actual)}… is not the server's ${shortSha(expected)}…`,
          );
        }
        await rename(tmp, destination);
        const result = { version, file: destination, sha256: actual };
        print(flags, result, () => `wrote ${destination} (sha256 ${actual})`);
      } catch (error) {
        await rm(tmp, { force: true });
        throw error;
      }
    },
  );
}
