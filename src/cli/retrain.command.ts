/**
 * `visionloop retrain status|conditions|history|trigger|cancel`: the retraining loop through a
 * running server's HTTP API (`--server`, default $VISIONLOOP_SERVER_URL or
 * http://127.0.0.1:8080; a token from `--token`, `--token-file`, $VISIONLOOP_TOKEN or the
 * admin-token file). `--json` prints the server's answer as it is.
 */
import { Option, type Command } from 'commander';
import {
  RETRAINING_STAGES,
  retrainingCancelResponseSchema,
  retrainingConditionsResponseSchema,
  retrainingHistoryResponseSchema,
  retrainingStatusSchema,
  retrainingTriggerResponseSchema,
  type RetrainingConditionsResponse,
  type RetrainingDecision,
  type RetrainingEvent,
  type RetrainingStage,
  type RetrainingStatus,
} from '../shared/api/retraining.js';
import { answerPrinter, formatTable } from './output.js';
import { parseIntegerInRange } from './parse-options.js';
import {
  addConnectionOptions,
  callServer,
  connect,
  type ConnectionFlags,
  type ServerCommandDeps,
} from './server-connection.js';

/** The injectable process pieces (kept as its own name for callers). */
export type RetrainCommandDeps = ServerCommandDeps;

function date(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The status as people read it. */
export function formatRetrainingStatus(status: RetrainingStatus): string {
  if (status.job === null) return 'retraining: idle (no training has run yet)';
  const job = status.job;
  const parts = [`retraining: ${status.state}`, `job ${job.id}`];
  if (status.trigger !== null) parts.push(`trigger ${status.trigger}`);
  const chainStage = (job.payload as { stage?: unknown } | null)?.stage;
  if (chainStage === 'classify' || chainStage === 'segment') parts.push(`${chainStage} stage`);
  const lines = [parts.join(' · ')];
  if (status.state === 'running' && status.epoch !== null) {
    lines.push(
      `epoch ${status.epoch}/${status.epochs ?? '?'}` +
        (status.loss === null ? '' : `, loss ${status.loss.toFixed(4)}`) +
        (status.valMap50 === null ? '' : `, val mAP@0.5 ${status.valMap50.toFixed(4)}`) +
        (status.etaSeconds === null ? '' : `, about ${duration(status.etaSeconds)} left`),
    );
  } else if (status.stage !== null && status.state !== 'completed' && status.state !== 'rejected') {
    lines.push(`stage: ${status.stage}`);
  }
  if (status.device !== undefined && status.device !== null) {
    lines.push(`training on ${status.device}`);
  }
  if (status.replay !== null) lines.push(`replay: ${status.replay}`);
  if (status.candidateVersion !== null) {
    lines.push(
      `candidate ${status.candidateVersion}` +
        (status.decision === null
          ? ''
          : status.decision === 'rejected'
            ? ' → rejected by the promotion gate (production unchanged; its labels stay available)'
            : ` → ${status.decision}`),
    );
  }
  if (status.gateReasons !== null && status.gateReasons.length > 0) {
    lines.push('gate:', ...status.gateReasons.map((reason) => `  - ${reason}`));
  }
  if (status.error !== null && status.state !== 'completed') lines.push(`error: ${status.error}`);
  lines.push(
    `queued ${date(job.createdAt)}` +
      (job.startedAt === null ? '' : `, started ${date(job.startedAt)}`) +
      (job.finishedAt === null ? '' : `, finished ${date(job.finishedAt)}`),
  );
  return lines.join('\n');
}

function decisionText(title: string, decision: RetrainingDecision): string {
  return `${title}: ${decision.shouldRun ? `would start (${decision.trigger ?? '?'})` : 'would not start'}\n${decision.reasons.map((reason) => `  - ${reason}`).join('\n')}`;
}

/** The conditions as people read them: each condition, then both decisions. */
export function formatConditions(conditions: RetrainingConditionsResponse): string {
  return [
    formatTable(
      ['CONDITION', 'HOLDS', 'DETAIL'],
      conditions.automatic.conditions.map((c) => [c.name, c.holds ? 'yes' : 'no', c.detail]),
    ),
    '',
    decisionText('automatic', conditions.automatic),
    decisionText('manual trigger', conditions.manual),
  ].join('\n');
}

/** "trained on cpu" / "trained on cuda:0 (NVIDIA …)" for an event that records the device. */
function trainedOn(event: RetrainingEvent): string | null {
  const { device, deviceName } = event.details;
  if (typeof device !== 'string' || device === '') return null;
  return typeof deviceName === 'string' && deviceName !== ''
    ? `trained on ${device} (${deviceName})`
    : `trained on ${device}`;
}

/**
 * The history as people read it: one row per event, and its reason in full on the lines below
 * (a gate's reasons one per line), never cut; a registered candidate's device after them.
 */
export function eventsTable(events: readonly RetrainingEvent[]): string {
  const table = formatTable(
    ['TIME', 'JOB', 'EVENT', 'TRIGGER', 'VERSION'],
    events.map((e) => [
      date(e.at),
      e.jobId ?? '-',
      e.kind === 'promoted' && typeof e.details.alias === 'string'
        ? `promoted:${e.details.alias}`
        : e.kind,
      e.trigger ?? '-',
      e.modelVersion ?? '-',
    ]),
  );
  const [header, rule, ...rows] = table.split('\n');
  const out = [header ?? '', rule ?? ''];
  rows.forEach((row, i) => {
    out.push(row.trimEnd());
    const reason = events[i]?.reason;
    if (reason !== null && reason !== undefined && reason.length > 0) {
      for (const part of reason.split('; ')) out.push(`    ${part}`);
    }
    const event = events[i];
    const device = event === undefined ? null : trainedOn(event);
    if (device !== null) out.push(`    ${device}`);
  });
  return out.join('\n');
}

/** Registers `visionloop retrain …`. */
export function registerRetrainCommands(program: Command, deps: RetrainCommandDeps = {}): void {
  const print = answerPrinter(deps.stdout ?? process.stdout);
  const retrain = program
    .command('retrain')
    .description('The retraining loop: conditions, status, history, manual trigger, cancel.');

  addConnectionOptions(
    retrain
      .command('status')
      .description('The current or last training: state, epoch, ETA, candidate and decision.'),
  ).action(async (flags: ConnectionFlags) => {
    const status = await callServer(
      connect(flags, deps),
      'GET',
      '/api/retraining/status',
      retrainingStatusSchema,
    );
    print(flags, status, () => formatRetrainingStatus(status));
  });

  addConnectionOptions(
    retrain
      .command('conditions')
      .description('What holds now, and why a training would or would not start.'),
  ).action(async (flags: ConnectionFlags) => {
    const conditions = await callServer(
      connect(flags, deps),
      'GET',
      '/api/retraining/conditions',
      retrainingConditionsResponseSchema,
    );
    print(flags, conditions, () => formatConditions(conditions));
  });

  addConnectionOptions(
    retrain
      .command('history')
      .description('Retraining events, newest first.')
      .option('--job <id>', 'only the events of this training job')
      .option('--limit <n>', 'most events to list', parseIntegerInRange(1, 500), 50),
  ).action(async (flags: ConnectionFlags & { job?: string; limit: number }) => {
    const query = new URLSearchParams({ limit: String(flags.limit) });
    if (flags.job !== undefined) query.set('jobId', flags.job);
    const history = await callServer(
      connect(flags, deps),
      'GET',
      `/api/retraining/history?${query.toString()}`,
      retrainingHistoryResponseSchema,
    );
    print(flags, history, () =>
      history.events.length === 0 ? 'no retraining events yet' : eventsTable(history.events),
    );
  });

  addConnectionOptions(
    retrain
      .command('trigger')
      .description('Queue a training now (admin; skips thresholds and cooldown).')
      .option('--reason <text>', 'why (kept in the history)')
      .addOption(
        new Option(
          '--stage <stage>',
          'the chain stage to retrain: detect (default), or classify / segment from the ' +
            "reviewed boxes' crop classes / mask polygons (registered, never promoted)",
        ).choices([...RETRAINING_STAGES]),
      ),
  ).action(async (flags: ConnectionFlags & { reason?: string; stage?: RetrainingStage }) => {
    const answer = await callServer(
      connect(flags, deps),
      'POST',
      '/api/retraining/trigger',
      retrainingTriggerResponseSchema,
      {
        json: {
          ...(flags.reason === undefined ? {} : { reason: flags.reason }),
          ...(flags.stage === undefined ? {} : { stage: flags.stage }),
        },
      },
    );
    const what =
      flags.stage === undefined || flags.stage === 'detect'
        ? 'training job'
        : `${flags.stage} stage training job`;
    print(
      flags,
      answer,
      () => `queued ${what} ${answer.job.id}; follow it with \`visionloop retrain status\``,
    );
  });

  addConnectionOptions(
    retrain
      .command('cancel')
      .description('Cancel the queued or running training (admin).')
      .option('--job <id>', 'the training job (default: the active one)'),
  ).action(async (flags: ConnectionFlags & { job?: string }) => {
    const answer = await callServer(
      connect(flags, deps),
      'POST',
      '/api/retraining/cancel',
      retrainingCancelResponseSchema,
      { json: flags.job === undefined ? {} : { jobId: flags.job } },
    );
    print(flags, answer, () =>
      answer.job.status === 'cancelled'
        ? `cancelled training job ${answer.job.id}`
        : `asked training job ${answer.job.id} to stop; its trainer is being cancelled`,
    );
  });
}
