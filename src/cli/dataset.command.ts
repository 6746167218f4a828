/**
 * `visionloop dataset list|snapshot|export|import`: dataset snapshots.
 *
 * Without `--server`, works directly on the configured database and blob directory (like
 * `visionloop token`: having the data directory is the credential). With `--server URL` and a
 * token (`--token`, `--token-file` or $VISIONLOOP_TOKEN; admin for snapshot and import, any
 * reader for list and export), goes through the HTTP API of a running server instead.
 *
 * - `export [--dataset ID] [--format yolo|coco] --out PATH`: PATH ending in .tar.gz or .tgz
 *   gets the archive as the server streams it; any other PATH becomes a directory holding
 *   data.yaml (or annotations/), images/ and labels/, ready for `visionloop train --data`.
 *   Without --dataset: every approved label now.
 * - `import PATH [--name N] [--add-classes]`: PATH is a YOLO data set directory (or holds one
 *   folder that is), or a .tar/.tar.gz of one. Everything is checked before anything is stored;
 *   a malformed label row is reported with its file and line.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { z } from 'zod';
import { loadServerConfig } from '../config/server.config.js';
import { datasetArchives, openLocalDatasets } from '../main/labeling.main.js';
import { errorBodySchema } from '../shared/api/common.js';
import type { CreateSnapshotRequest, DatasetInfo, SnapshotResult } from '../shared/api/datasets.js';
import {
  DATASET_ID_PATTERN,
  datasetListResponseSchema,
  snapshotResultSchema,
} from '../shared/api/datasets.js';
import type { ExportFormat } from '../shared/api/labeling.js';
import { EXPORT_FORMATS } from '../shared/api/labeling.js';
import { VisionLoopError } from '../shared/errors.js';
import { formatTable } from './output.js';
import { explicitToken, isErrorCode } from './server-connection.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';
import { addDatabaseOptions, overridesFrom } from './server.command.js';
import type { DatabaseFlags } from './server.command.js';

interface RemoteFlags extends DatabaseFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

interface ExportFlags extends RemoteFlags {
  dataset?: string;
  format: ExportFormat;
  out: string;
}

interface ImportFlags extends RemoteFlags {
  name?: string;
  addClasses?: boolean;
}

interface SnapshotFlags extends RemoteFlags {
  name?: string;
  since?: number;
  parent?: string;
  replayFrom?: string[];
  replayCount?: number;
  replayFraction?: number;
  seed?: number;
}

export interface DatasetCommandDeps {
  env?: Record<string, string | undefined>;
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  fetch?: typeof fetch;
}

/** An import's answer (the HTTP route's body, or the service's result). */
interface ImportOutcome extends SnapshotResult {
  images: number;
  warnings: string[];
}

/** What the dataset commands do, locally or over HTTP. */
interface DatasetClient {
  list(): Promise<DatasetInfo[]>;
  snapshot(request: CreateSnapshotRequest): Promise<SnapshotResult>;
  /** The archive stream of a snapshot (or of every approved label now). */
  exportArchive(format: ExportFormat, id: string | undefined): Promise<NodeJS.ReadableStream>;
  importDirectory(
    dir: string,
    name: string | undefined,
    addClasses: boolean,
  ): Promise<ImportOutcome>;
  importArchive(
    file: string,
    name: string | undefined,
    addClasses: boolean,
  ): Promise<ImportOutcome>;
  close(): Promise<void>;
}

const ARCHIVE_SUFFIXES = ['.tar.gz', '.tgz', '.tar'];

function isArchivePath(file: string): boolean {
  return ARCHIVE_SUFFIXES.some((suffix) => file.toLowerCase().endsWith(suffix));
}

function tokenFrom(flags: RemoteFlags, env: Record<string, string | undefined>): string {
  const token = explicitToken(flags, env);
  if (token !== null) return token;
  throw new VisionLoopError(
    'INVALID_ARGUMENT',
    '--server needs a token: --token, --token-file or $VISIONLOOP_TOKEN',
  );
}

async function failure(response: Response, base: string): Promise<VisionLoopError> {
  const payload: unknown = await response.json().catch(() => null);
  const parsed = errorBodySchema.safeParse(payload);
  if (parsed.success && isErrorCode(parsed.data.error.code)) {
    return new VisionLoopError(parsed.data.error.code, parsed.data.error.message);
  }
  return new VisionLoopError('INTERNAL', `${base} answered HTTP ${response.status}`);
}

function remoteClient(server: string, token: string, fetchImpl: typeof fetch): DatasetClient {
  const base = server.replace(/\/+$/, '');
  async function send(pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${pathAndQuery}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
      });
    } catch (error) {
      throw new VisionLoopError('INVALID_ARGUMENT', `cannot reach the server at ${base}`, {
        cause: error,
      });
    }
    if (!response.ok) throw await failure(response, base);
    return response;
  }
  async function json<T>(schema: z.ZodType<T>, response: Response): Promise<T> {
    const parsed = schema.safeParse(await response.json().catch(() => null));
    if (!parsed.success) throw new VisionLoopError('INTERNAL', `unexpected answer from ${base}`);
    return parsed.data;
  }
  const importSchema = snapshotResultSchema.extend({
    images: z.number().int().min(0),
    warnings: z.array(z.string()),
  });
  async function upload(
    body: Readable,
    contentType: string,
    name: string | undefined,
    addClasses: boolean,
  ): Promise<ImportOutcome> {
    const query = new URLSearchParams();
    if (name !== undefined) query.set('name', name);
    if (addClasses) query.set('addClasses', 'true');
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const response = await send(`/api/datasets/import${suffix}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: Readable.toWeb(body) as unknown as BodyInit,
      // Node's fetch streams a request body only in half-duplex mode.
      ...({ duplex: 'half' } as Record<string, string>),
    });
    return json(importSchema, response);
  }
  return {
    list: async () => (await json(datasetListResponseSchema, await send('/api/datasets'))).datasets,
    snapshot: async (request) =>
      json(
        snapshotResultSchema,
        await send('/api/datasets', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
        }),
      ),
    exportArchive: async (format, id) => {
      const query = new URLSearchParams({ format });
      if (id !== undefined) query.set('dataset', id);
      const response = await send(`/api/labeling-queue/export?${query.toString()}`);
      if (response.body === null)
        throw new VisionLoopError('INTERNAL', `empty answer from ${base}`);
      return Readable.fromWeb(response.body as unknown as NodeReadableStream);
    },
    importDirectory: async (dir, name, addClasses) =>
      upload(
        datasetArchives.packTarGz(await datasetArchives.directoryEntries(dir, 'dataset/')),
        'application/gzip',
        name ?? path.basename(path.resolve(dir)),
        addClasses,
      ),
    importArchive: async (file, name, addClasses) =>
      upload(
        createReadStream(file),
        file.toLowerCase().endsWith('.tar') ? 'application/x-tar' : 'application/gzip',
        name ?? path.basename(file).replace(/\.(tar\.gz|tgz|tar)$/i, ''),
        addClasses,
      ),
    close: () => Promise.resolve(),
  };
}

async function openClient(flags: RemoteFlags, deps: DatasetCommandDeps): Promise<DatasetClient> {
  const env = deps.env ?? process.env;
  if (flags.server !== undefined) {
    return remoteClient(flags.server, tokenFrom(flags, env), deps.fetch ?? fetch);
  }
  const local = await openLocalDatasets(loadServerConfig(env, overridesFrom(flags)));
  const actor = { tokenId: 'cli', name: 'cli', scope: 'admin' };
  return {
    list: async () => (await local.datasets.list()).datasets,
    snapshot: (request) => local.datasets.createSnapshot(request, actor),
    exportArchive: async (format, id) => (await local.datasets.exportArchive(format, id)).stream,
    importDirectory: (dir, name, addClasses) =>
      local.datasets.importYolo(
        dir,
        { name: name ?? path.basename(path.resolve(dir)), addClasses },
        actor,
      ),
    importArchive: (file, name, addClasses) =>
      local.datasets.importArchive(
        createReadStream(file),
        { name: name ?? path.basename(file).replace(/\.(tar\.gz|tgz|tar)$/i, ''), addClasses },
        actor,
      ),
    close: () => local.close(),
  };
}

/** The snapshot request of `dataset snapshot`'s flags, with the ids resolved. */
function snapshotRequest(
  flags: SnapshotFlags,
  parent: string | undefined,
  replayFrom: string[] | undefined,
): CreateSnapshotRequest {
  const replayWanted =
    replayFrom !== undefined ||
    flags.replayCount !== undefined ||
    flags.replayFraction !== undefined;
  return {
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.since === undefined ? {} : { reviewedSince: flags.since }),
    ...(parent === undefined ? {} : { parentId: parent }),
    ...(replayWanted
      ? {
          replay: {
            ...(replayFrom === undefined ? {} : { datasetIds: replayFrom }),
            ...(flags.replayCount === undefined ? {} : { count: flags.replayCount }),
            ...(flags.replayFraction === undefined ? {} : { fraction: flags.replayFraction }),
            ...(flags.seed === undefined ? {} : { seed: flags.seed }),
          },
        }
      : {}),
  };
}

async function withClient<T>(
  flags: RemoteFlags,
  deps: DatasetCommandDeps,
  run: (client: DatasetClient) => Promise<T>,
): Promise<T> {
  const client = await openClient(flags, deps);
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

function date(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function short(id: string | null): string {
  return id === null ? '-' : id.slice(0, 12);
}

function describeResult(result: SnapshotResult): string {
  const { dataset } = result;
  const counts = dataset.counts;
  return (
    `${result.created ? 'created' : 'already existed:'} dataset ${dataset.id}` +
    `${dataset.name === null ? '' : ` "${dataset.name}"`} — ${counts.images} images ` +
    `(${counts.train} train / ${counts.val} val), ${counts.boxes} boxes`
  );
}

/**
 * Writes the archive into directory `out` (absent or empty): unpacked next to it, then the
 * archive's single top folder is renamed into place, so `out` never holds half a data set.
 */
async function extractInto(archive: NodeJS.ReadableStream, out: string): Promise<void> {
  const target = path.resolve(out);
  const existing = await stat(target).catch(() => null);
  if (existing !== null) {
    if (!existing.isDirectory() || (await readdir(target)).length > 0) {
      throw new VisionLoopError('CONFLICT', `${out} exists and is not an empty directory`);
    }
  }
  await mkdir(path.dirname(target), { recursive: true });
  const staging = await mkdtemp(`${target}.partial-`);
  try {
    await datasetArchives.extractArchive(archive, staging);
    const [folder, ...others] = await readdir(staging);
    if (folder === undefined || others.length > 0) {
      throw new VisionLoopError('INTERNAL', 'the archive does not hold one dataset folder');
    }
    if (existing !== null) await rmdir(target);
    await rename(path.join(staging, folder), target);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function parseSince(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `--since takes epoch milliseconds or an ISO date, not '${value}'`,
    );
  }
  return ms;
}

/** A dataset id, or a unique prefix of one (at least 6 hex digits, as `list` shows 12). */
const DATASET_ID_OR_PREFIX = /^[0-9a-f]{6,64}$/;

function parseDatasetId(id: string): string {
  if (!DATASET_ID_OR_PREFIX.test(id)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `'${id}' is not a dataset id (64 hex digits, or the first 6 or more of them)`,
    );
  }
  return id;
}

function parseDatasetIds(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((id) => parseDatasetId(id.trim()))];
}

/** The full ids of `given` ids or id prefixes: NOT_FOUND when none matches, an error when several do. */
async function resolveDatasetIds(client: DatasetClient, given: string[]): Promise<string[]> {
  if (given.every((id) => DATASET_ID_PATTERN.test(id))) return given;
  const known = (await client.list()).map((dataset) => dataset.id);
  return given.map((id) => {
    if (DATASET_ID_PATTERN.test(id)) return id;
    const matches = known.filter((candidate) => candidate.startsWith(id));
    if (matches.length === 0) {
      throw new VisionLoopError(
        'NOT_FOUND',
        `no dataset id starts with ${id} (visionloop dataset list shows them)`,
      );
    }
    if (matches.length > 1) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${id} is the start of ${matches.length} dataset ids (${matches.map((m) => m.slice(0, 16)).join(', ')}): give more of it`,
      );
    }
    return matches[0]!;
  });
}

function addRemoteOptions(command: Command): Command {
  return addDatabaseOptions(
    command
      .option('--server <url>', 'work through this server instead of the local database')
      .option(
        '--token <token>',
        'API token for --server (prefer --token-file or $VISIONLOOP_TOKEN)',
      )
      .option('--token-file <path>', 'file holding the API token for --server')
      .option('--json', 'print JSON'),
  );
}

export function registerDatasetCommands(program: Command, deps: DatasetCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const dataset = program
    .command('dataset')
    .description('Dataset snapshots of reviewed labels: list, snapshot, export, import.');

  addRemoteOptions(dataset.command('list').description('List snapshots with their counts.')).action(
    async (flags: RemoteFlags) => {
      const datasets = await withClient(flags, deps, (client) => client.list());
      if (flags.json === true) {
        out.write(`${JSON.stringify(datasets, null, 2)}\n`);
        return;
      }
      const rows = datasets.map((d) => [
        short(d.id),
        d.name ?? '-',
        d.source,
        String(d.counts.images),
        String(d.counts.train),
        String(d.counts.val),
        String(d.counts.boxes),
        short(d.parentId),
        date(d.createdAt),
      ]);
      out.write(
        `${formatTable(['id', 'name', 'source', 'images', 'train', 'val', 'boxes', 'parent', 'created'], rows)}\n`,
      );
    },
  );

  addRemoteOptions(
    dataset
      .command('snapshot')
      .description('Snapshot the reviewed labels (plus a replay sample of earlier snapshots).')
      .option('--name <name>', 'a name to show in lists')
      .option('--since <time>', 'only labels reviewed since (epoch ms or ISO date)', parseSince)
      .option(
        '--parent <id>',
        'the snapshot this one follows (also the default replay source)',
        parseDatasetId,
      )
      .option('--replay-from <ids>', 'comma-separated snapshots to replay from', parseDatasetIds)
      .option(
        '--replay-count <n>',
        'how many earlier images to replay',
        parseIntegerInRange(0, 10_000_000),
      )
      .option('--replay-fraction <f>', 'or which share of them', parseNumberInRange(0, 1))
      .option('--seed <n>', 'replay sample seed (default 0)', parseIntegerInRange(0, 0xffffffff)),
  ).action(async (flags: SnapshotFlags) => {
    const result = await withClient(flags, deps, async (client) => {
      // The parent and the replay sources in one lookup (one list at most).
      const ids = await resolveDatasetIds(client, [
        ...(flags.parent === undefined ? [] : [flags.parent]),
        ...(flags.replayFrom ?? []),
      ]);
      const parent = flags.parent === undefined ? undefined : ids.shift();
      const replayFrom = flags.replayFrom === undefined ? undefined : ids;
      return client.snapshot(snapshotRequest(flags, parent, replayFrom));
    });
    out.write(
      flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${describeResult(result)}\n`,
    );
  });

  addRemoteOptions(
    dataset
      .command('export')
      .description('Write a snapshot (default: every approved label) as a directory or .tar.gz.')
      .option(
        '--dataset <id>',
        'the snapshot to export (its id or first 6+ digits; default: every approved label now)',
        parseDatasetId,
      )
      .addOption(new Option('--format <format>', 'layout').choices(EXPORT_FORMATS).default('yolo'))
      .requiredOption('--out <path>', 'a .tar.gz/.tgz file, or a directory (absent or empty)'),
  ).action(async (flags: ExportFlags) => {
    await withClient(flags, deps, async (client) => {
      const [id] =
        flags.dataset === undefined ? [] : await resolveDatasetIds(client, [flags.dataset]);
      const archive = await client.exportArchive(flags.format, id);
      if (isArchivePath(flags.out)) {
        await mkdir(path.dirname(path.resolve(flags.out)), { recursive: true });
        await pipeline(archive, createWriteStream(flags.out));
      } else {
        await extractInto(archive, flags.out);
      }
    });
    err.write(`wrote ${flags.format} data set to ${flags.out}\n`);
  });

  addRemoteOptions(
    dataset
      .command('import')
      .description(
        'Import a YOLO data set (directory, .tar or .tar.gz) as reviewed labels + snapshot.',
      )
      .argument('<path>', 'the data set directory or archive')
      .option('--name <name>', 'a name to show in lists (default: the directory or file name)')
      .option('--add-classes', "append the data set's class names the deployment does not know"),
  ).action(async (source: string, flags: ImportFlags) => {
    const info = await stat(source).catch(() => null);
    if (info === null)
      throw new VisionLoopError('NOT_FOUND', `no such file or directory: ${source}`);
    const addClasses = flags.addClasses === true;
    const result = await withClient(flags, deps, (client) =>
      info.isDirectory()
        ? client.importDirectory(source, flags.name, addClasses)
        : client.importArchive(source, flags.name, addClasses),
    );
    if (flags.json === true) {
      out.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    out.write(`${describeResult(result)}\n`);
    for (const warning of result.warnings) err.write(`warning: ${warning}\n`);
  });
}
