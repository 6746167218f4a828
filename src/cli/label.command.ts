/**
 * `visionloop label stats|list|next|show|claim|submit|skip|flag|approve|reject`: the labeling
 * queue from the command line, as a thin client of a running server's HTTP API
 * (docs/labeling.md, `/api/labeling-queue…`). `--server`, default $VISIONLOOP_SERVER_URL or
 * http://127.0.0.1:8080; a token from `--token`, `--token-file`, $VISIONLOOP_TOKEN or the
 * admin-token file. `--json` prints the server's answer as it is.
 *
 * Over 500 lines on purpose: ten subcommands of one thin HTTP client, each a few lines of
 * parsing and its text output.
 *
 * The queue's rules (claims, leases, the second review, what a box may be) are the server's:
 * this file never decides them, it only checks a boxes file against the shared schema before
 * sending it, so a typo is named before anything reaches the server.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { z } from 'zod';
import {
  LABELING_MAX_LIMIT,
  LABELING_STATUSES,
  labelingItemSchema,
  labelRequestSchema,
  nextItemResponseSchema,
  queueListResponseSchema,
  statsResponseSchema,
  type LabelingItem,
  type LabelRequest,
  type QueueListResponse,
  type StatsResponse,
} from '../shared/api/labeling.js';
import { VisionLoopError } from '../shared/errors.js';
import { answerPrinter, formatTable } from './output.js';
import { parseIntegerInRange } from './parse-options.js';
import {
  addConnectionOptions,
  callServer,
  connect,
  fetchServerBytes,
  type Connection,
  type ConnectionFlags,
  type ServerCommandDeps,
} from './server-connection.js';

/** The injectable process pieces (kept as its own name for callers). */
export type LabelCommandDeps = ServerCommandDeps;

const QUEUE = '/api/labeling-queue';

function itemPath(id: string, action?: string): string {
  return `${QUEUE}/${encodeURIComponent(id)}${action === undefined ? '' : `/${action}`}`;
}

function date(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function boxText(box: { x1: number; y1: number; x2: number; y2: number }): string {
  return `${round(box.x1)},${round(box.y1)} → ${round(box.x2)},${round(box.y2)}`;
}

/** One item as a reviewer reads it: where it came from, why, and the boxes to correct. */
export function formatLabelingItem(item: LabelingItem): string {
  const lines = [
    `item        ${item.id}`,
    `status      ${item.status}` +
      (item.claim === null
        ? ''
        : ` by ${item.claim.reviewer.name ?? item.claim.reviewer.id} until ${date(item.claim.expiresAt)}`),
    `camera      ${item.camera}` +
      (item.capturedAt === null ? '' : `, captured ${date(item.capturedAt)}`),
    `reason      ${item.reason} (priority ${item.priority.toFixed(2)})`,
    `model       ${item.modelVersion ?? '-'}`,
    `frame       ` +
      (item.frameUrl === null
        ? '(not uploaded)'
        : `${item.width ?? '?'}×${item.height ?? '?'} ${item.frameUrl}`),
  ];
  lines.push(
    '',
    item.preLabels.length === 0
      ? 'pre-labels: none (the model found nothing)'
      : `pre-labels (${item.preLabels.length}):\n` +
          formatTable(
            ['CLASS', 'CONFIDENCE', 'BOX (x1,y1 → x2,y2)'],
            item.preLabels.map((d) => [d.className, d.confidence.toFixed(3), boxText(d.box)]),
          ),
  );
  if (item.labels !== null) {
    const by = item.labeledBy === null ? '' : ` by ${item.labeledBy.name ?? item.labeledBy.id}`;
    lines.push(
      '',
      item.labels.length === 0
        ? `labels${by}: no defects`
        : `labels${by} (${item.labels.length}):\n` +
            formatTable(
              ['CLASS', 'BOX (x1,y1 → x2,y2)'],
              item.labels.map((l) => [l.className, boxText(l.box)]),
            ),
    );
  }
  const trailer: string[] = [];
  if (item.notes !== null) trailer.push(`notes       ${item.notes}`);
  if (item.flaggedReason !== null) trailer.push(`flagged     ${item.flaggedReason}`);
  if (item.reviewedBy !== null) {
    trailer.push(
      `reviewed    by ${item.reviewedBy.name ?? item.reviewedBy.id}` +
        (item.reviewedAt === null ? '' : ` at ${date(item.reviewedAt)}`) +
        (item.reviewNotes === null ? '' : `: ${item.reviewNotes}`),
    );
  }
  if (trailer.length > 0) lines.push('', ...trailer);
  return lines.join('\n');
}

/** The counts per status, then the reviewers of the window. */
export function formatLabelingStats(stats: StatsResponse): string {
  const lines = [
    formatTable(
      ['STATUS', 'ITEMS'],
      [
        ...LABELING_STATUSES.map((status) => [status, stats.counts[status]]),
        ['total', stats.counts.total],
      ],
    ),
    '',
    `${stats.reviewedLabels} reviewed label${stats.reviewedLabels === 1 ? '' : 's'} ready for training`,
    `${stats.actions} actions from ${date(stats.window.since)} to ${date(stats.window.until)} ` +
      `(${stats.actionsPerHour.toFixed(1)}/h)`,
  ];
  if (stats.reviewers.length > 0) {
    lines.push(
      '',
      formatTable(
        ['REVIEWER', 'LABELED', 'SKIPPED', 'FLAGGED', 'APPROVED', 'REJECTED', 'REVIEWED', 'LEAD'],
        stats.reviewers.map((r) => [
          r.reviewer.name ?? r.reviewer.id,
          r.labeled,
          r.skipped,
          r.flagged,
          r.approvedOfTheirs,
          r.rejectedOfTheirs,
          r.reviewed,
          r.meanLeadTimeMs === null ? '-' : `${(r.meanLeadTimeMs / 1000).toFixed(1)} s`,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

function listText(page: QueueListResponse, status: string): string {
  if (page.items.length === 0) return `no ${status === 'all' ? '' : `${status} `}items`;
  const table = formatTable(
    ['ID', 'STATUS', 'PRIORITY', 'CAMERA', 'REASON', 'MODEL', 'PRE-LABELS', 'CREATED'],
    page.items.map((item) => [
      item.id,
      item.status,
      item.priority.toFixed(2),
      item.camera,
      item.reason,
      item.modelVersion ?? '-',
      item.preLabels.length,
      date(item.createdAt),
    ]),
  );
  const shown = `${page.offset + 1}–${page.offset + page.items.length}`;
  return `${table}\n\n${shown} of ${page.total} ${status === 'all' ? '' : `${status} `}items`;
}

/** A zod issue path as the server writes it: `boxes[2].box.x1`. */
function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`,
    )
    .join('');
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) =>
      issue.path.length === 0 ? issue.message : `${issuePath(issue.path)}: ${issue.message}`,
    )
    .join('; ');
}

/**
 * The label request a `--boxes` file holds: a list of `{className, box}` or the API's
 * `{"boxes": [...]}` object, checked against the shared schema. Every problem (unreadable
 * file, bad JSON, a box the schema refuses, no boxes at all) is a VisionLoopError naming the
 * file and, for a box, its position.
 */
export async function readBoxesFile(file: string): Promise<LabelRequest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? ` (${String(error.code)})` : '';
    throw new VisionLoopError('INVALID_ARGUMENT', `cannot read --boxes ${file}${reason}`, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? `: ${error.message}` : '';
    throw new VisionLoopError('VALIDATION_FAILED', `--boxes ${file} is not valid JSON${detail}`, {
      cause: error,
    });
  }
  const request: unknown = Array.isArray(value) ? { boxes: value } : value;
  if (
    typeof request === 'object' &&
    request !== null &&
    'boxes' in request &&
    Array.isArray(request.boxes) &&
    request.boxes.length === 0 &&
    !('noDefects' in request)
  ) {
    throw new VisionLoopError(
      'VALIDATION_FAILED',
      `--boxes ${file} holds no boxes; for a frame without defects use --no-defects`,
    );
  }
  const parsed = labelRequestSchema.safeParse(request);
  if (!parsed.success) {
    throw new VisionLoopError(
      'VALIDATION_FAILED',
      `--boxes ${file} is not a label (a list of {"className", "box": {"x1", "y1", "x2", "y2"}}, ` +
        `or {"boxes": [...]}): ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

interface SubmitFlags extends ConnectionFlags {
  boxes?: string;
  acceptPrelabels?: boolean;
  /** Commander's reading of `--no-defects`: false when it is given. */
  defects?: boolean;
  notes?: string;
}

/** The label request of `label submit`: exactly one of --boxes, --accept-prelabels, --no-defects. */
async function labelRequestFrom(
  id: string,
  flags: SubmitFlags,
  connection: Connection,
): Promise<LabelRequest> {
  const given = [
    flags.boxes === undefined ? null : '--boxes',
    flags.acceptPrelabels === true ? '--accept-prelabels' : null,
    flags.defects === false ? '--no-defects' : null,
  ].filter((flag) => flag !== null);
  if (given.length !== 1) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      'give exactly one of --boxes FILE, --accept-prelabels or --no-defects' +
        (given.length === 0 ? '' : ` (got ${given.join(' and ')})`),
    );
  }
  let request: LabelRequest;
  if (flags.boxes !== undefined) {
    request = await readBoxesFile(flags.boxes);
  } else if (flags.defects === false) {
    request = { boxes: [], noDefects: true };
  } else {
    const item = await callServer(connection, 'GET', itemPath(id), labelingItemSchema);
    if (item.preLabels.length === 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `item ${id} has no pre-labels to accept; if the frame shows no defect, use --no-defects`,
      );
    }
    request = { boxes: item.preLabels.map(({ className, box }) => ({ className, box })) };
  }
  return flags.notes === undefined ? request : { ...request, notes: flags.notes };
}

/** Writes the item's frame JPEG to `file`; returns its size. */
async function saveFrame(
  connection: Connection,
  item: LabelingItem,
  file: string,
): Promise<number> {
  if (item.frameUrl === null) {
    throw new VisionLoopError('CONFLICT', `item ${item.id} has no frame (it was never uploaded)`);
  }
  // The server gives a path on itself; a token is never sent anywhere else.
  if (!item.frameUrl.startsWith('/')) {
    throw new VisionLoopError('INTERNAL', `unexpected frame URL ${item.frameUrl}`);
  }
  const bytes = await fetchServerBytes(connection, item.frameUrl);
  try {
    await writeFile(file, bytes);
  } catch (error) {
    throw new VisionLoopError('INVALID_ARGUMENT', `cannot write --frame-out ${file}`, {
      cause: error,
    });
  }
  return bytes.length;
}

/** What happened to the item after an action, e.g. `labelled lq-1 with 2 boxes; it waits …`. */
function afterAction(item: LabelingItem, done: string, detail = ''): string {
  const head = `${done} ${item.id}${detail}`;
  switch (item.status) {
    case 'labeled':
      return `${head}; it waits for a second reviewer (\`visionloop label approve ${item.id}\` with another token)`;
    case 'approved':
      return `${head}; it is now a reviewed label, ready for training`;
    case 'pending':
      return `${head}; it is back in the queue`;
    case 'claimed':
      return `${head}; it is claimed`;
    case 'rejected':
    case 'skipped':
    case 'flagged':
      return `${head}; it has left the queue`;
  }
}

/** An item just claimed (by `next` or `claim`), with what to do next. */
function claimedText(item: LabelingItem, frame: string | null): string {
  return [
    formatLabelingItem(item),
    '',
    ...(frame === null ? [] : [frame]),
    `label it: visionloop label submit ${item.id} --boxes FILE | --accept-prelabels | --no-defects`,
  ].join('\n');
}

function frameLine(file: string | undefined, bytes: number | null): string | null {
  return file === undefined || bytes === null ? null : `frame written to ${file} (${bytes} bytes)`;
}

/** Registers `visionloop label …`. */
export function registerLabelCommands(program: Command, deps: LabelCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const print = answerPrinter(out);
  const label = program
    .command('label')
    .description('The labeling queue: claim uncertain frames, correct the boxes, review labels.');

  addConnectionOptions(
    label
      .command('stats')
      .description('Items per status, reviewed labels, and each reviewer of the last 24 h.'),
  ).action(async (flags: ConnectionFlags) => {
    const stats = await callServer(
      connect(flags, deps),
      'GET',
      `${QUEUE}/stats`,
      statsResponseSchema,
    );
    print(flags, stats, () => formatLabelingStats(stats));
  });

  addConnectionOptions(
    label
      .command('list')
      .description('Queue items, highest priority first.')
      .option('--status <status>', `${LABELING_STATUSES.join(', ')} or all`, 'pending')
      .option('--camera <name>', 'only this camera')
      .option('--reason <reason>', 'only items sampled for this reason')
      .option('--limit <n>', 'most items', parseIntegerInRange(1, LABELING_MAX_LIMIT), 50)
      .option('--offset <n>', 'skip this many', parseIntegerInRange(0, 1_000_000), 0),
  ).action(
    async (
      flags: ConnectionFlags & {
        status: string;
        camera?: string;
        reason?: string;
        limit: number;
        offset: number;
      },
    ) => {
      const query = new URLSearchParams({
        status: flags.status,
        limit: String(flags.limit),
        offset: String(flags.offset),
      });
      if (flags.camera !== undefined) query.set('camera', flags.camera);
      if (flags.reason !== undefined) query.set('reason', flags.reason);
      const page = await callServer(
        connect(flags, deps),
        'GET',
        `${QUEUE}?${query.toString()}`,
        queueListResponseSchema,
      );
      print(flags, page, () => listText(page, flags.status));
    },
  );

  addConnectionOptions(
    label
      .command('next')
      .description('Claim the highest-priority waiting item (or get back the one you hold).')
      .option('--frame-out <file>', "write the item's frame JPEG to this file"),
  ).action(async (flags: ConnectionFlags & { frameOut?: string }) => {
    const connection = connect(flags, deps);
    const { item } = await callServer(connection, 'GET', `${QUEUE}/next`, nextItemResponseSchema);
    const saved =
      item === null || flags.frameOut === undefined
        ? null
        : await saveFrame(connection, item, flags.frameOut);
    print(flags, { item }, () =>
      item === null
        ? 'Nothing waits: the labeling queue is empty.'
        : claimedText(item, frameLine(flags.frameOut, saved)),
    );
  });

  addConnectionOptions(
    label
      .command('show')
      .description('One item: its pre-labels, labels, claim and review.')
      .argument('<id>')
      .option('--frame-out <file>', "write the item's frame JPEG to this file"),
  ).action(async (id: string, flags: ConnectionFlags & { frameOut?: string }) => {
    const connection = connect(flags, deps);
    const item = await callServer(connection, 'GET', itemPath(id), labelingItemSchema);
    const saved =
      flags.frameOut === undefined ? null : await saveFrame(connection, item, flags.frameOut);
    const frame = frameLine(flags.frameOut, saved);
    print(flags, item, () => formatLabelingItem(item) + (frame === null ? '' : `\n\n${frame}`));
  });

  addConnectionOptions(
    label
      .command('claim')
      .description('Claim an item (a lease); claiming it again renews your lease.')
      .argument('<id>'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    const item = await callServer(
      connect(flags, deps),
      'POST',
      itemPath(id, 'claim'),
      labelingItemSchema,
    );
    print(flags, item, () => claimedText(item, null));
  });

  addConnectionOptions(
    label
      .command('submit')
      .description('Submit the label of an item you claimed: exactly one of the three forms.')
      .argument('<id>')
      .option('--boxes <file>', 'JSON: [{"className", "box": {"x1","y1","x2","y2"}}, …]')
      .option('--accept-prelabels', "the model's pre-labels, as they are")
      .option('--no-defects', 'the frame shows no defect')
      .option('--notes <text>', 'notes for the second reviewer'),
  ).action(async (id: string, flags: SubmitFlags) => {
    const connection = connect(flags, deps);
    const request = await labelRequestFrom(id, flags, connection);
    const item = await callServer(connection, 'POST', itemPath(id, 'label'), labelingItemSchema, {
      json: request,
    });
    const count = request.boxes.length;
    const detail = count === 0 ? ': no defects' : ` with ${count} box${count === 1 ? '' : 'es'}`;
    print(flags, item, () => afterAction(item, 'labelled', detail));
  });

  addConnectionOptions(
    label
      .command('skip')
      .description('Skip an item you claimed (an unusable frame); it leaves the queue.')
      .argument('<id>')
      .option('--notes <text>', 'why'),
  ).action(async (id: string, flags: ConnectionFlags & { notes?: string }) => {
    const item = await callServer(
      connect(flags, deps),
      'POST',
      itemPath(id, 'skip'),
      labelingItemSchema,
      {
        json: flags.notes === undefined ? {} : { notes: flags.notes },
      },
    );
    print(flags, item, () => afterAction(item, 'skipped'));
  });

  addConnectionOptions(
    label
      .command('flag')
      .description('Flag an item you claimed as a model mistake; it leaves the queue.')
      .argument('<id>')
      .requiredOption('--reason <text>', 'what the model got wrong, e.g. "glare called a scratch"')
      .option('--notes <text>', 'more detail'),
  ).action(async (id: string, flags: ConnectionFlags & { reason: string; notes?: string }) => {
    const item = await callServer(
      connect(flags, deps),
      'POST',
      itemPath(id, 'flag'),
      labelingItemSchema,
      {
        json: {
          reason: flags.reason,
          ...(flags.notes === undefined ? {} : { notes: flags.notes }),
        },
      },
    );
    print(flags, item, () => afterAction(item, 'flagged'));
  });

  addConnectionOptions(
    label
      .command('approve')
      .description("Approve another reviewer's label: it becomes training data.")
      .argument('<id>')
      .option('--notes <text>', 'review notes'),
  ).action(async (id: string, flags: ConnectionFlags & { notes?: string }) => {
    const item = await callServer(
      connect(flags, deps),
      'POST',
      itemPath(id, 'approve'),
      labelingItemSchema,
      {
        json: flags.notes === undefined ? {} : { notes: flags.notes },
      },
    );
    print(flags, item, () => afterAction(item, 'approved'));
  });

  addConnectionOptions(
    label
      .command('reject')
      .description("Reject another reviewer's label (with --requeue, back into the queue).")
      .argument('<id>')
      .option('--requeue', 'put the item back in the queue to be labelled again')
      .option('--notes <text>', 'review notes'),
  ).action(async (id: string, flags: ConnectionFlags & { requeue?: boolean; notes?: string }) => {
    const item = await callServer(
      connect(flags, deps),
      'POST',
      itemPath(id, 'reject'),
      labelingItemSchema,
      {
        json: {
          ...(flags.requeue === true ? { requeue: true } : {}),
          ...(flags.notes === undefined ? {} : { notes: flags.notes }),
        },
      },
    );
    print(flags, item, () => afterAction(item, 'rejected'));
  });
}
