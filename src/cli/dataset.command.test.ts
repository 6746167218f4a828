import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset } from '../synth/dataset-export.js';
import { databaseTargets } from '../../test/helpers/database.js';
import { openTestServer } from '../../test/integration/server/fixtures.js';
import type { TestServer } from '../../test/integration/server/fixtures.js';
import { registerDatasetCommands } from './dataset.command.js';

const work = mkdtempSync(path.join(tmpdir(), 'vl-dataset-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function visionloop(args: string[]): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const program = new Command().exitOverride();
  registerDatasetCommands(program, {
    env: {},
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  await program.parseAsync(['node', 'visionloop', 'dataset', ...args]);
  return { stdout, stderr };
}

async function synth(name: string): Promise<string> {
  const dir = path.join(work, name);
  await exportDataset({
    outDir: dir,
    presets: 'nominal',
    count: 5,
    seed: 3,
    valFraction: 0.2,
    width: 128,
    height: 96,
  });
  return dir;
}

function createdId(stdout: string): string {
  const id = /dataset ([0-9a-f]{64})/.exec(stdout)?.[1];
  if (id === undefined) throw new Error(`no dataset id in: ${stdout}`);
  return id;
}

describe('visionloop dataset (local database)', () => {
  let source: string;
  let id: string;
  const data = (name: string) => ['--data-dir', path.join(work, name)];

  beforeAll(async () => {
    source = await synth('source');
  }, 60_000);

  it('imports a YOLO directory and lists it with its counts', async () => {
    const imported = await visionloop(['import', source, '--name', 'line-1', ...data('d1')]);
    expect(imported.stdout).toMatch(/^created dataset [0-9a-f]{64} "line-1" — 5 images/);
    id = createdId(imported.stdout);
    const table = await visionloop(['list', ...data('d1')]);
    expect(table.stdout).toMatch(/id\s+name\s+source\s+images/);
    expect(table.stdout).toContain(id.slice(0, 12));
    const json = JSON.parse((await visionloop(['list', '--json', ...data('d1')])).stdout) as {
      id: string;
      counts: { images: number };
    }[];
    expect(json.map((d) => [d.id, d.counts.images])).toEqual([[id, 5]]);
  });

  it('exports to a directory and to an archive, both importing to the same hash', async () => {
    const dir = path.join(work, 'out', 'ds');
    await visionloop(['export', '--dataset', id, '--out', dir, ...data('d1')]);
    expect(readdirSync(dir).sort()).toEqual(['data.yaml', 'images', 'labels', 'manifest.json']);
    const archive = path.join(work, 'out', 'ds.tar.gz');
    await visionloop(['export', '--dataset', id, '--out', archive, ...data('d1')]);
    expect(readFileSync(archive)[0]).toBe(0x1f);
    expect(createdId((await visionloop(['import', archive, ...data('d2')])).stdout)).toBe(id);
    expect(createdId((await visionloop(['import', dir, ...data('d3')])).stdout)).toBe(id);
    const again = await visionloop(['import', dir, ...data('d3')]);
    expect(again.stdout).toMatch(/^already existed: dataset/);
    await expect(
      visionloop(['export', '--dataset', id, '--out', dir, ...data('d1')]),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('takes the 12-digit id `list` shows, and names an unknown or malformed one', async () => {
    const dir = path.join(work, 'out', 'by-prefix');
    await visionloop(['export', '--dataset', id.slice(0, 12), '--out', dir, ...data('d1')]);
    expect(createdId((await visionloop(['import', dir, ...data('d4')])).stdout)).toBe(id);
    const unknown = id.startsWith('000000') ? 'ffffff' : '000000';
    await expect(
      visionloop([
        'export',
        '--dataset',
        unknown,
        '--out',
        path.join(work, 'out', 'x'),
        ...data('d1'),
      ]),
    ).rejects.toThrow(`no dataset id starts with ${unknown}`);
    await expect(
      visionloop([
        'export',
        '--dataset',
        'abc',
        '--out',
        path.join(work, 'out', 'y'),
        ...data('d1'),
      ]),
    ).rejects.toThrow(
      /'abc' is not a dataset id \(64 hex digits, or the first 6 or more of them\)/,
    );
    expect(readdirSync(path.join(work, 'out')).sort()).not.toContain('x');
  });

  it('reports a malformed row with its file and line and stores nothing', async () => {
    const bad = await synth('bad');
    const labels = path.join(bad, 'labels', 'train');
    const file = readdirSync(labels).sort()[0] ?? '';
    writeFileSync(path.join(labels, file), '0 0.5 0.5 0.2 0.2\n\n9 0.5 0.5 0.2 0.2\n');
    await expect(visionloop(['import', bad, ...data('d1')])).rejects.toMatchObject({
      code: 'DATASET_INVALID',
      message: expect.stringContaining(
        `labels/train/${file} line 3: class id 9 out of range`,
      ) as unknown,
    });
    const json = JSON.parse(
      (await visionloop(['list', '--json', ...data('d1')])).stdout,
    ) as unknown[];
    expect(json).toHaveLength(1);
  });

  it('snapshots the reviewed labels, with a replay sample', async () => {
    const snapshot = await visionloop(['snapshot', '--name', 'all', ...data('d1')]);
    // The imported labels are the only reviewed labels: the same content, the same snapshot.
    expect(snapshot.stdout).toMatch(new RegExp(`^already existed: dataset ${id}`));
    await expect(
      visionloop(['snapshot', '--since', String(Date.now() + 60_000), ...data('d1')]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const replay = await visionloop([
      'snapshot',
      '--since',
      String(Date.now() + 60_000),
      '--replay-from',
      id,
      '--replay-count',
      '2',
      '--seed',
      '1',
      ...data('d1'),
    ]);
    expect(replay.stdout).toMatch(/^created dataset [0-9a-f]{64} — 2 images/);
    await expect(visionloop(['snapshot', '--replay-from', 'nope', ...data('d1')])).rejects.toThrow(
      /not a dataset id/,
    );
  });
});

const sqlite = databaseTargets().find((t) => t.dialect === 'sqlite');

describe.skipIf(sqlite === undefined)('visionloop dataset --server', () => {
  let server: TestServer;
  let url: string;
  let source: string;

  beforeAll(async () => {
    source = await synth('remote-source');
    server = await openTestServer(sqlite ?? databaseTargets()[0]!);
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  }, 60_000);
  afterAll(() => server.close());

  it('imports, lists and exports through the HTTP API', async () => {
    const remote = (scope: 'admin' | 'viewer') => [
      '--server',
      url,
      '--token',
      server.tokens[scope],
    ];
    const imported = await visionloop(['import', source, ...remote('admin')]);
    const id = createdId(imported.stdout);
    const listed = JSON.parse(
      (await visionloop(['list', '--json', ...remote('viewer')])).stdout,
    ) as {
      id: string;
      name: string;
    }[];
    expect(listed.map((d) => [d.id, d.name])).toEqual([[id, 'remote-source']]);
    const out = path.join(work, 'remote-export');
    await visionloop(['export', '--dataset', id, '--out', out, ...remote('viewer')]);
    expect(existsSync(path.join(out, 'data.yaml'))).toBe(true);
    const archive = path.join(work, 'remote-export.tgz');
    await visionloop(['export', '--dataset', id, '--out', archive, ...remote('viewer')]);
    expect(createdId((await visionloop(['import', archive, ...remote('admin')])).stdout)).toBe(id);
    await expect(visionloop(['import', source, ...remote('viewer')])).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(
      visionloop(['list', '--server', url, '--token', 'vl_wrong']),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
