/**
 * Dataset archives: gzip-compressed tar streams, written and read with tar-stream.
 *
 * - `packTarGz(entries)` streams entries into a .tar.gz one at a time (a file's bytes are
 *   piped from its source as the archive is read), so an export never holds a data set in
 *   memory. Entries are regular files with a fixed mtime, mode 0644 and owner 0: the same
 *   entries give the same bytes.
 * - `extractArchive(stream, dir)` unpacks a .tar or .tar.gz (detected from its first bytes)
 *   into `dir`, refusing — before anything of that entry is written — any entry whose path is
 *   absolute or climbs out with `..`, links, devices and FIFOs, duplicate paths, and archives
 *   over the entry or byte limits. macOS metadata (`__MACOSX/`, `._*`) is skipped.
 *
 * A thin adapter: it never interprets what it packs or unpacks.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { VisionLoopError } from '../shared/errors.js';

export type ArchiveEntry =
  | { name: string; data: Buffer | string }
  | { name: string; size: number; open: () => Promise<NodeJS.ReadableStream> };

export interface PackOptions {
  /** Modification time of every entry (default: the epoch, for reproducible archives). */
  mtime?: Date;
}

function addEntry(pack: tar.Pack, entry: ArchiveEntry, mtime: Date): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    const header = { name: entry.name, mtime, mode: 0o644, uid: 0, gid: 0 };
    if ('data' in entry) {
      pack.entry(
        header,
        typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data,
        done,
      );
      return;
    }
    const sink = pack.entry({ ...header, size: entry.size }, done);
    entry
      .open()
      .then((source) => pipeline(source, sink))
      .catch((error: unknown) => {
        sink.destroy(error instanceof Error ? error : new Error(String(error)));
        reject(error instanceof Error ? error : new Error(String(error)));
      });
  });
}

/**
 * A .tar.gz stream of `entries`, produced as it is read. An error from an entry's source
 * destroys the returned stream with that error.
 */
export function packTarGz(
  entries: AsyncIterable<ArchiveEntry> | Iterable<ArchiveEntry>,
  options: PackOptions = {},
): Readable {
  const mtime = options.mtime ?? new Date(0);
  const pack = tar.pack();
  const output = new PassThrough();
  pipeline(pack, createGzip(), output).catch((error: unknown) => {
    output.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  void (async () => {
    for await (const entry of entries) await addEntry(pack, entry, mtime);
    pack.finalize();
  })().catch((error: unknown) => {
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  return output;
}

/** Every regular file under `dir` (symbolic links are not followed), as archive entries. */
export async function directoryEntries(dir: string, prefix = ''): Promise<ArchiveEntry[]> {
  const root = path.resolve(dir);
  const entries: ArchiveEntry[] = [];
  const walk = async (current: string): Promise<void> => {
    const children = await readdir(current, { withFileTypes: true });
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      const full = path.join(current, child.name);
      if (child.isDirectory()) {
        await walk(full);
      } else if (child.isFile()) {
        const info = await lstat(full);
        const name = prefix + path.relative(root, full).split(path.sep).join('/');
        entries.push({
          name,
          size: info.size,
          open: () => Promise.resolve(createReadStream(full)),
        });
      }
    }
  };
  await walk(root);
  return entries;
}

export interface ExtractLimits {
  /** Most entries (files and directories). Default 500,000. */
  maxEntries?: number;
  /** Most bytes of file content, uncompressed. Default 16 GiB. */
  maxBytes?: number;
}

export interface ExtractSummary {
  files: number;
  bytes: number;
}

function refuse(message: string): never {
  throw new VisionLoopError('DATASET_INVALID', message);
}

/**
 * The safe relative path of an archive entry, or null for entries to skip (macOS metadata,
 * the root itself). Refuses absolute paths, `..` segments, backslashes and NUL.
 */
export function safeEntryPath(name: string): string | null {
  const shown = JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
  if (name.includes('\0')) refuse(`archive entry ${shown} has a NUL in its name`);
  if (name.includes('\\')) refuse(`archive entry ${shown}: backslashes are not allowed in paths`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    refuse(`archive entry ${shown} has an absolute path`);
  }
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) refuse(`archive entry ${shown} climbs out of the archive (..)`);
  if (segments.length === 0) return null;
  if (segments.some((segment) => segment === '__MACOSX' || segment.startsWith('._'))) return null;
  return segments.join('/');
}

/** Passes bytes through while the running total stays within `limit`. */
function byteLimiter(state: { bytes: number }, limit: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      state.bytes += chunk.length;
      if (state.bytes > limit) {
        callback(
          new VisionLoopError(
            'PAYLOAD_TOO_LARGE',
            `the archive unpacks to more than ${limit} bytes`,
          ),
        );
        return;
      }
      callback(null, chunk);
    },
  });
}

/** `input` with gzip undone when its first bytes are the gzip magic. */
async function decompressed(input: NodeJS.ReadableStream): Promise<Readable> {
  const iterator = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head =
    first.done === true
      ? Buffer.alloc(0)
      : Buffer.isBuffer(first.value)
        ? first.value
        : Buffer.from(first.value);
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  };
  const raw = Readable.from(rest());
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    pipeline(raw, gunzip).catch((error: unknown) => {
      gunzip.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    return gunzip;
  }
  return raw;
}

/**
 * Unpacks a .tar or .tar.gz stream into `dir` (created if missing). Throws DATASET_INVALID
 * for an unsafe or malformed archive and PAYLOAD_TOO_LARGE over the limits; what was written
 * before the failure stays in `dir` for the caller to remove (callers extract into a fresh
 * temporary directory).
 */
export async function extractArchive(
  input: NodeJS.ReadableStream,
  dir: string,
  limits: ExtractLimits = {},
): Promise<ExtractSummary> {
  const maxEntries = limits.maxEntries ?? 500_000;
  const maxBytes = limits.maxBytes ?? 16 * 1024 ** 3;
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const extract = tar.extract();
  const source = await decompressed(input);
  let feedError: unknown;
  const feeding = pipeline(source, extract).catch((error: unknown) => {
    feedError = error;
  });
  const state = { bytes: 0 };
  const seen = new Set<string>();
  let entries = 0;
  let files = 0;
  try {
    for await (const entry of extract) {
      entries++;
      if (entries > maxEntries) {
        throw new VisionLoopError(
          'PAYLOAD_TOO_LARGE',
          `the archive has more than ${maxEntries} entries`,
        );
      }
      const header = entry.header;
      const relative = safeEntryPath(header.name);
      const type = header.type ?? 'file';
      if (relative === null) {
        entry.resume();
        continue;
      }
      const target = path.resolve(root, ...relative.split('/'));
      if (target !== root && !target.startsWith(root + path.sep)) {
        refuse(`archive entry ${JSON.stringify(header.name)} climbs out of the archive`);
      }
      if (type === 'directory') {
        await mkdir(target, { recursive: true });
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        refuse(
          `archive entry ${JSON.stringify(header.name)} is a ${type}; only files and directories are accepted`,
        );
      }
      if (seen.has(relative)) refuse(`archive entry ${JSON.stringify(header.name)} appears twice`);
      seen.add(relative);
      await mkdir(path.dirname(target), { recursive: true });
      // 'wx': never follow or replace something already there (a directory entry's symlink).
      await pipeline(
        entry,
        byteLimiter(state, maxBytes),
        createWriteStream(target, { flags: 'wx' }),
      );
      files++;
    }
  } catch (error) {
    extract.destroy();
    await feeding;
    if (error instanceof VisionLoopError) throw error;
    throw new VisionLoopError(
      'DATASET_INVALID',
      `the archive cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  await feeding;
  if (feedError !== undefined) {
    const reason = feedError instanceof Error ? feedError.message : 'unreadable input';
    throw new VisionLoopError(
      'DATASET_INVALID',
      `the archive cannot be read (not a .tar or .tar.gz?): ${reason}`,
      { cause: feedError },
    );
  }
  return { files, bytes: state.bytes };
}
