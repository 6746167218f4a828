import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { directoryEntries, extractArchive, packTarGz, safeEntryPath } from './dataset-archive.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'vl-archive-test-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A raw tar with arbitrary headers (what a hostile client could send). */
type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

async function rawTar(entries: EntryHeader[], gzip = true): Promise<Buffer> {
  const pack = tar.pack();
  for (const header of entries) {
    if (header.type === 'file' || header.type === undefined) pack.entry(header, 'x');
    else pack.entry(header);
  }
  pack.finalize();
  const bytes = await buffer(pack);
  return gzip ? gzipSync(bytes) : bytes;
}

describe('packTarGz / extractArchive', () => {
  it('round-trips files byte for byte, streaming sources as they are read', async () => {
    const big = Buffer.alloc(300_000, 7);
    const archive = await buffer(
      packTarGz([
        { name: 'ds/data.yaml', data: 'train: images/train\n' },
        {
          name: 'ds/images/train/a.jpg',
          size: big.length,
          open: () => Promise.resolve(Readable.from([big])),
        },
        { name: 'ds/labels/train/a.txt', data: '' },
      ]),
    );
    expect(archive[0]).toBe(0x1f);
    const out = tempDir();
    const summary = await extractArchive(Readable.from([archive]), out);
    expect(summary).toEqual({ files: 3, bytes: big.length + 20 });
    expect(readFileSync(path.join(out, 'ds/images/train/a.jpg')).equals(big)).toBe(true);
    expect(readFileSync(path.join(out, 'ds/labels/train/a.txt'), 'utf8')).toBe('');
  });

  it('makes the same bytes from the same entries', async () => {
    const make = () => buffer(packTarGz([{ name: 'a.txt', data: 'hello' }]));
    expect((await make()).equals(await make())).toBe(true);
  });

  it('packs a directory and reads plain (uncompressed) tar too', async () => {
    const source = tempDir();
    mkdirSync(path.join(source, 'images', 'val'), { recursive: true });
    writeFileSync(path.join(source, 'data.yaml'), 'names: [a]\n');
    writeFileSync(path.join(source, 'images', 'val', 'x.png'), 'png');
    const entries = await directoryEntries(source, 'root/');
    expect(entries.map((e) => e.name)).toEqual(['root/data.yaml', 'root/images/val/x.png']);
    const out = tempDir();
    await extractArchive(packTarGz(entries), out);
    expect(readFileSync(path.join(out, 'root/images/val/x.png'), 'utf8')).toBe('png');
    const plain = await rawTar([{ name: 'p.txt', type: 'file', size: 1 }], false);
    const out2 = tempDir();
    await extractArchive(Readable.from([plain]), out2);
    expect(readFileSync(path.join(out2, 'p.txt'), 'utf8')).toBe('x');
  });

  it('refuses ../ entries before writing them, and nothing lands outside', async () => {
    const parent = tempDir();
    const out = path.join(parent, 'inside');
    const archive = await rawTar([
      { name: 'ok.txt', type: 'file', size: 1 },
      { name: '../escaped.txt', type: 'file', size: 1 },
    ]);
    await expect(extractArchive(Readable.from([archive]), out)).rejects.toMatchObject({
      code: 'DATASET_INVALID',
      message: expect.stringMatching(/"\.\.\/escaped\.txt" climbs out/) as unknown,
    });
    expect(existsSync(path.join(parent, 'escaped.txt'))).toBe(false);
  });

  it('refuses absolute paths, nested ../, symlinks and hard links', async () => {
    const cases: EntryHeader[] = [
      { name: '/etc/passwd', type: 'file', size: 1 },
      { name: 'a/../../b.txt', type: 'file', size: 1 },
      { name: 'link', type: 'symlink', linkname: '/etc' },
      { name: 'hard', type: 'link', linkname: 'other' },
    ];
    for (const header of cases) {
      const out = tempDir();
      await expect(
        extractArchive(Readable.from([await rawTar([header])]), out),
        header.name,
      ).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    }
  });

  it('refuses a duplicate path, and archives over the limits', async () => {
    const dup = await rawTar([
      { name: 'a.txt', type: 'file', size: 1 },
      { name: './a.txt', type: 'file', size: 1 },
    ]);
    await expect(extractArchive(Readable.from([dup]), tempDir())).rejects.toThrow(/appears twice/);
    const three = await rawTar([
      { name: 'a', type: 'file', size: 1 },
      { name: 'b', type: 'file', size: 1 },
      { name: 'c', type: 'file', size: 1 },
    ]);
    await expect(
      extractArchive(Readable.from([three]), tempDir(), { maxEntries: 2 }),
    ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(
      extractArchive(Readable.from([three]), tempDir(), { maxBytes: 2 }),
    ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('says so when the bytes are not an archive', async () => {
    await expect(
      extractArchive(
        Readable.from([Buffer.from('definitely not a tar file '.repeat(40))]),
        tempDir(),
      ),
    ).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    await expect(
      extractArchive(Readable.from([Buffer.from([0x1f, 0x8b, 1, 2, 3])]), tempDir()),
    ).rejects.toMatchObject({ code: 'DATASET_INVALID' });
  });
});

describe('safeEntryPath', () => {
  it('normalizes ./ and skips macOS metadata', () => {
    expect(safeEntryPath('./a/./b.txt')).toBe('a/b.txt');
    expect(safeEntryPath('__MACOSX/a/._b.jpg')).toBeNull();
    expect(safeEntryPath('a/._b.jpg')).toBeNull();
    expect(safeEntryPath('./')).toBeNull();
    expect(() => safeEntryPath('a\\..\\b')).toThrow(/backslashes/);
    expect(() => safeEntryPath('C:/x')).toThrow(/absolute/);
  });
});
