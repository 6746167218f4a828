/**
 * `visionloop label` against a real server on 127.0.0.1 (SQLite): queue items made the way
 * agents make them (a result with a sampling mark, then its JPEG), worked through the CLI by
 * two labelers, and every bad input ending in a VisionLoopError that names the problem.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LabelingItem, StatsResponse } from '../shared/api/labeling.js';
import type { FrameResult } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { databaseTargets } from '../../test/helpers/database.js';
import { frameJpeg } from '../../test/integration/labeling/fixtures.js';
import { frameResult, openTestServer } from '../../test/integration/server/fixtures.js';
import type { TestServer } from '../../test/integration/server/fixtures.js';
import { registerLabelCommands } from './label.command.js';

const work = mkdtempSync(join(tmpdir(), 'vl-label-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sqlite = databaseTargets().find((target) => target.dialect === 'sqlite');

describe.skipIf(sqlite === undefined)('visionloop label', () => {
  let server: TestServer;
  let url: string;
  /** Two labelers (the second review needs another reviewer than the one who labelled). */
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    if (sqlite === undefined) return;
    server = await openTestServer(sqlite);
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    alice = (await server.services.auth.createToken({ name: 'alice', scope: 'labeler' }, null))
      .token;
    bob = (await server.services.auth.createToken({ name: 'bob', scope: 'labeler' }, null)).token;
  });
  afterAll(() => server.close());

  beforeEach(async () => {
    await server.database.db.deleteFrom('reviewed_labels').execute();
    await server.database.db.deleteFrom('labeling_queue').execute();
  });

  /** Runs `visionloop label …args` with `token`; resolves to what it printed. */
  async function label(token: string, ...args: string[]): Promise<string> {
    let out = '';
    const program = new Command().exitOverride();
    registerLabelCommands(program, {
      env: {},
      fetch,
      stdout: { write: (text: string) => (out += text) },
    });
    await program.parseAsync(['label', ...args, '--server', url, '--token', token], {
      from: 'user',
    });
    return out;
  }

  async function labelJson<T>(token: string, ...args: string[]): Promise<T> {
    return JSON.parse(await label(token, ...args, '--json')) as T;
  }

  /** The failure of a command that must fail. */
  async function failure(token: string, ...args: string[]): Promise<VisionLoopError> {
    const error = await label(token, ...args).then(
      () => new Error(`label ${args.join(' ')} succeeded`),
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(VisionLoopError);
    return error as VisionLoopError;
  }

  /**
   * A sampled frame as an agent sends it: the result with its sampling mark, then its JPEG
   * (640×480, the result's size, so the pre-labels are the detections as they are).
   */
  async function sampledFrame(
    index: number,
    priority: number,
    classes: string[] = ['crack'],
  ): Promise<{ result: FrameResult; jpeg: Buffer }> {
    const result: FrameResult = {
      ...frameResult(index, { classes }),
      sampling: {
        reasons: ['low_confidence'],
        priority,
        phash: index.toString(16).padStart(16, '0'),
      },
    };
    const agent = server.auth('agent');
    const ingest = await server.app.inject({
      method: 'POST',
      url: '/api/ingest',
      headers: agent,
      payload: { results: [result] },
    });
    expect(ingest.statusCode).toBe(200);
    const jpeg = await frameJpeg(index);
    const upload = await server.app.inject({
      method: 'PUT',
      url: `/api/frames/${result.id}`,
      headers: { ...agent, 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    expect(upload.statusCode).toBe(200);
    return { result, jpeg };
  }

  async function itemOf(result: FrameResult): Promise<LabelingItem> {
    const page = await labelJson<{ items: LabelingItem[] }>(alice, 'list', '--status', 'all');
    const item = page.items.find((candidate) => candidate.predictionId === result.id);
    if (item === undefined) throw new Error(`no queue item for ${result.id}`);
    return item;
  }

  function boxesFile(name: string, content: string): string {
    const file = join(work, name);
    writeFileSync(file, content);
    return file;
  }

  it('says nothing waits when the queue is empty', async () => {
    expect(await label(alice, 'next')).toBe('Nothing waits: the labeling queue is empty.\n');
    expect(await labelJson(alice, 'next')).toEqual({ item: null });
  });

  it('shows the counts and lists the queue by priority', async () => {
    await sampledFrame(1, 1);
    await sampledFrame(2, 3);
    await sampledFrame(3, 2);
    const stats = await label(alice, 'stats');
    expect(stats).toMatch(/^STATUS +ITEMS\n-+ +-+\npending +3\nclaimed +0\n/);
    expect(stats).toMatch(/^total +3$/m);
    expect(stats).toContain('\n0 reviewed labels ready for training\n');
    const counts = (await labelJson<StatsResponse>(alice, 'stats')).counts;
    expect(counts).toMatchObject({ pending: 3, approved: 0, total: 3 });

    const page = await labelJson<{ items: LabelingItem[]; total: number }>(alice, 'list');
    expect(page.items.map((item) => item.priority)).toEqual([3, 2, 1]);
    expect(page.items.map((item) => item.predictionId)).toEqual([
      'res-cam-1-0000002',
      'res-cam-1-0000003',
      'res-cam-1-0000001',
    ]);
    const rows = (await label(alice, 'list')).split('\n');
    expect(rows[0]).toMatch(/^ID +STATUS +PRIORITY +CAMERA +REASON +MODEL +PRE-LABELS +CREATED$/);
    expect(rows.slice(2, 5).map((row) => row.split(/ +/).slice(0, 7))).toEqual(
      page.items.map((item) => [
        item.id,
        'pending',
        item.priority.toFixed(2),
        'cam-1',
        'low_confidence',
        'seed-1',
        '1',
      ]),
    );
    expect(rows.at(-2)).toBe('1–3 of 3 pending items');
    expect(await label(alice, 'list', '--status', 'all', '--limit', '2')).toMatch(
      /\n\n1–2 of 3 items\n$/,
    );
    expect(await label(alice, 'list', '--status', 'approved')).toBe('no approved items\n');
  });

  it('claims the next item with its frame, labels it, and a second labeler approves it', async () => {
    const top = await sampledFrame(10, 5, ['crack']);
    await sampledFrame(11, 1, ['dent']);
    const frame = join(work, 'next.jpg');
    const shown = await label(alice, 'next', '--frame-out', frame);
    const item = await itemOf(top.result);
    expect(shown).toContain(`item        ${item.id}\n`);
    expect(shown).toMatch(/\nstatus {6}claimed by alice until \d{4}-\d\d-\d\dT[\d:]+Z\n/);
    expect(shown).toContain('\ncamera      cam-1, captured 2026-01-01T00:00:00Z\n');
    expect(shown).toContain('\nreason      low_confidence (priority 5.00)\n');
    expect(shown).toContain('\nmodel       seed-1\n');
    expect(shown).toContain(`\nframe       640×480 /api/frames/${top.result.id}\n`);
    // frameResult(10): confidence 0.5 + (10 % 5) / 10, box 10,20 → 110,90.
    expect(shown).toMatch(/\ncrack +0\.500 +10,20 → 110,90\n/);
    expect(shown).toContain(
      `\n\nframe written to ${frame} (${top.jpeg.length} bytes)\n` +
        `label it: visionloop label submit ${item.id} --boxes FILE | --accept-prelabels | --no-defects\n`,
    );
    expect(readFileSync(frame).equals(top.jpeg)).toBe(true);

    const boxes = [
      { className: 'crack', box: { x1: 12, y1: 22, x2: 108, y2: 88 } },
      { className: 'stain', box: { x1: 300, y1: 200, x2: 340.5, y2: 260 } },
    ];
    const file = boxesFile('boxes.json', JSON.stringify(boxes));
    expect(await label(alice, 'submit', item.id, '--boxes', file, '--notes', 'a stain too')).toBe(
      `labelled ${item.id} with 2 boxes; it waits for a second reviewer (\`visionloop label approve ${item.id}\` with another token)\n`,
    );
    const own = await failure(alice, 'approve', item.id);
    expect(own.code).toBe('FORBIDDEN');
    expect(await label(bob, 'approve', item.id, '--notes', 'looks right')).toBe(
      `approved ${item.id}; it is now a reviewed label, ready for training\n`,
    );

    const approved = await labelJson<LabelingItem>(bob, 'show', item.id);
    expect(approved).toMatchObject({
      status: 'approved',
      labels: boxes,
      notes: 'a stain too',
      labeledBy: { name: 'alice' },
      reviewedBy: { name: 'bob' },
      reviewNotes: 'looks right',
    });
    const text = await label(bob, 'show', item.id);
    expect(text).toMatch(
      /\nlabels by alice \(2\):\nCLASS +BOX.*\n-+ +-+\ncrack +12,22 → 108,88\nstain +300,200 → 340\.5,260\n/,
    );
    expect(text).toMatch(/\nreviewed {4}by bob at [\dT:Z-]+: looks right$/m);
    expect((await labelJson<StatsResponse>(bob, 'stats')).reviewedLabels).toBe(1);

    // The second item, with the API's object form; bob sends it back to the queue.
    const second = (await labelJson<{ item: LabelingItem }>(alice, 'next')).item;
    expect(second?.preLabels.map((d) => d.className)).toEqual(['dent']);
    const objectForm = boxesFile(
      'object.json',
      JSON.stringify({ boxes: [{ className: 'dent', box: { x1: 5, y1: 5, x2: 50, y2: 40 } }] }),
    );
    await label(alice, 'submit', second?.id ?? '', '--boxes', objectForm);
    expect(await label(bob, 'reject', second?.id ?? '', '--requeue')).toBe(
      `rejected ${second?.id}; it is back in the queue\n`,
    );
    expect((await labelJson<LabelingItem>(bob, 'show', second?.id ?? '')).status).toBe('pending');
  });

  it('accepts the pre-labels as they are, and says "no defects" explicitly', async () => {
    const two = await sampledFrame(20, 2, ['crack', 'dent']);
    const none = await sampledFrame(21, 1, []);
    const withBoxes = await itemOf(two.result);
    const empty = await itemOf(none.result);

    await label(alice, 'claim', withBoxes.id);
    expect(await label(alice, 'submit', withBoxes.id, '--accept-prelabels')).toBe(
      `labelled ${withBoxes.id} with 2 boxes; it waits for a second reviewer (\`visionloop label approve ${withBoxes.id}\` with another token)\n`,
    );
    const accepted = await labelJson<LabelingItem>(alice, 'show', withBoxes.id);
    expect(accepted.status).toBe('labeled');
    expect(accepted.labels).toEqual([
      { className: 'crack', box: { x1: 10, y1: 20, x2: 110, y2: 90 } },
      { className: 'dent', box: { x1: 11, y1: 20, x2: 111, y2: 90 } },
    ]);

    expect(await label(alice, 'claim', empty.id)).toContain(
      'pre-labels: none (the model found nothing)',
    );
    const noPrelabels = await failure(alice, 'submit', empty.id, '--accept-prelabels');
    expect(noPrelabels.code).toBe('INVALID_ARGUMENT');
    expect(noPrelabels.message).toBe(
      `item ${empty.id} has no pre-labels to accept; if the frame shows no defect, use --no-defects`,
    );
    expect(await label(alice, 'submit', empty.id, '--no-defects')).toMatch(
      /^labelled lq-[0-9a-f-]+: no defects; it waits for a second reviewer/,
    );
    const noDefects = await labelJson<LabelingItem>(bob, 'show', empty.id);
    expect(noDefects).toMatchObject({ status: 'labeled', labels: [] });
    expect(await label(bob, 'show', empty.id)).toContain('\nlabels by alice: no defects');
  });

  it('skips and flags claimed items', async () => {
    const a = await itemOf((await sampledFrame(30, 2)).result);
    const b = await itemOf((await sampledFrame(31, 1)).result);
    await label(alice, 'claim', a.id);
    await label(alice, 'claim', b.id);
    expect(await label(alice, 'skip', a.id, '--notes', 'motion blur')).toBe(
      `skipped ${a.id}; it has left the queue\n`,
    );
    expect(await label(alice, 'flag', b.id, '--reason', 'glare called a crack')).toBe(
      `flagged ${b.id}; it has left the queue\n`,
    );
    expect(await labelJson<LabelingItem>(alice, 'show', a.id)).toMatchObject({
      status: 'skipped',
      notes: 'motion blur',
    });
    expect(await label(alice, 'show', b.id)).toContain('\nflagged     glare called a crack');
    expect((await labelJson<StatsResponse>(alice, 'stats')).counts).toMatchObject({
      pending: 0,
      skipped: 1,
      flagged: 1,
    });
  });

  it('names every bad input and changes nothing', async () => {
    const item = await itemOf((await sampledFrame(40, 1)).result);
    const unclaimed = await failure(alice, 'submit', item.id, '--no-defects');
    expect(unclaimed.code).toBe('CONFLICT');
    expect(unclaimed.message).toMatch(new RegExp(`^claim item ${item.id} before you label it`));
    await label(alice, 'claim', item.id);

    const missing = join(work, 'missing.json');
    const cases: [string[], string, string | RegExp][] = [
      [
        [],
        'INVALID_ARGUMENT',
        'give exactly one of --boxes FILE, --accept-prelabels or --no-defects',
      ],
      [
        ['--boxes', boxesFile('two.json', '[]'), '--no-defects'],
        'INVALID_ARGUMENT',
        'give exactly one of --boxes FILE, --accept-prelabels or --no-defects (got --boxes and --no-defects)',
      ],
      [['--boxes', missing], 'INVALID_ARGUMENT', `cannot read --boxes ${missing} (ENOENT)`],
      [
        ['--boxes', boxesFile('broken.json', '[{"className": "crack",')],
        'VALIDATION_FAILED',
        /^--boxes .*broken\.json is not valid JSON: /,
      ],
      [
        [
          '--boxes',
          boxesFile(
            'string.json',
            '[{"className": "crack", "box": {"x1": 1, "y1": 2, "x2": "30", "y2": 40}}]',
          ),
        ],
        'VALIDATION_FAILED',
        /^--boxes .*string\.json is not a label .*: boxes\[0\]\.box\.x2: .*number/,
      ],
      [
        [
          '--boxes',
          boxesFile(
            'key.json',
            '[{"class": "crack", "box": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}}]',
          ),
        ],
        'VALIDATION_FAILED',
        /: boxes\[0\]\.className: .*; boxes\[0\]: .*"class"/,
      ],
      [
        ['--boxes', boxesFile('empty.json', '[]')],
        'VALIDATION_FAILED',
        /empty\.json holds no boxes; for a frame without defects use --no-defects$/,
      ],
      [
        [
          '--boxes',
          boxesFile(
            'burr.json',
            '[{"className": "burr", "box": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}}]',
          ),
        ],
        'INVALID_ARGUMENT',
        "boxes[0]: 'burr' is not a class of this deployment (scratch, crack, dent, stain)",
      ],
    ];
    for (const [flags, code, message] of cases) {
      const error = await failure(alice, 'submit', item.id, ...flags);
      expect(error.code, flags.join(' ')).toBe(code);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
    }

    const unknown = await failure(alice, 'show', 'lq-nope', '--frame-out', join(work, 'x.jpg'));
    expect(unknown).toMatchObject({
      code: 'NOT_FOUND',
      message: 'no labeling-queue item with id lq-nope',
    });
    expect((await failure(alice, 'approve', 'lq-nope')).code).toBe('NOT_FOUND');
    const unwritable = await failure(
      alice,
      'show',
      item.id,
      '--frame-out',
      join(work, 'no', 'x.jpg'),
    );
    expect(unwritable.message).toBe(`cannot write --frame-out ${join(work, 'no', 'x.jpg')}`);
    const wrongToken = await failure('vl_wrong', 'stats');
    expect(wrongToken.code).toBe('UNAUTHENTICATED');

    // Nothing above reached the item: alice still holds it, unlabelled.
    expect(await labelJson<LabelingItem>(alice, 'show', item.id)).toMatchObject({
      status: 'claimed',
      labels: null,
      claim: { reviewer: { name: 'alice' } },
    });
  });
});
