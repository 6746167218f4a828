/**
 * `visionloop rollout start|list|show|promote|rollback`: shadow and canary rollouts
 * (docs/rollouts.md) through a server's HTTP API. Server and token as for `visionloop models`
 * (`--server`, `--token`, $VISIONLOOP_SERVER_URL, $VISIONLOOP_TOKEN, the local admin-token
 * file). Reading needs a viewer token, starting and ending an admin one. `--json` prints the
 * server's answer.
 */
import type { Command } from 'commander';
import {
  rolloutDetailSchema,
  rolloutListResponseSchema,
  rolloutSchema,
  type Rollout,
  type RolloutDetail,
  type RolloutGroupMetrics,
  type RolloutRules,
  type StartRolloutRequest,
} from '../shared/api/rollouts.js';
import { VisionLoopError } from '../shared/errors.js';
import { answerPrinter, formatTable } from './output.js';
import { parseIntegerInRange, parseNumberInRange } from './parse-options.js';
import {
  addConnectionOptions,
  callServer,
  connect,
  type ConnectionFlags,
  type ServerCommandDeps,
} from './server-connection.js';

export type RolloutCommandDeps = ServerCommandDeps;

interface StartFlags extends ConnectionFlags {
  kind: string;
  stage: string;
  candidate: string;
  cameras?: string;
  share?: number;
  minFrames?: number;
  maxDefectRateDelta?: number;
  maxUncertainRateDelta?: number;
  maxDisagreement?: number;
  maxLatencyRatio?: number;
  promoteAfterFrames?: number;
  reason?: string;
}

function date(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function rate(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(1)} %`;
}

function scope(rollout: Rollout): string {
  if (rollout.cameras !== null) return rollout.cameras.join(',');
  if (rollout.share === null) return 'all cameras';
  return rollout.kind === 'canary'
    ? `${rate(rollout.share)} of cameras`
    : `all cameras, ${rate(rollout.share)} of frames`;
}

/** The `start` flags as a request; INVALID_ARGUMENT names a bad combination. */
export function startRequestOf(flags: StartFlags): StartRolloutRequest {
  if (flags.kind !== 'canary' && flags.kind !== 'shadow') {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `--kind is canary or shadow, not '${flags.kind}'`,
    );
  }
  if (flags.stage !== 'detect' && flags.stage !== 'classify' && flags.stage !== 'segment') {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `--stage is detect, classify or segment, not '${flags.stage}'`,
    );
  }
  const cameras =
    flags.cameras === undefined
      ? undefined
      : flags.cameras
          .split(',')
          .map((camera) => camera.trim())
          .filter((camera) => camera !== '');
  if (cameras !== undefined && cameras.length === 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', '--cameras names no camera');
  }
  if (flags.kind === 'canary' && (cameras === undefined) === (flags.share === undefined)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      'a canary needs either --cameras a,b or --share 0.5 (one of the two)',
    );
  }
  const rules: Partial<RolloutRules> = {};
  if (flags.minFrames !== undefined) rules.minFrames = flags.minFrames;
  if (flags.maxDefectRateDelta !== undefined) rules.maxDefectRateDelta = flags.maxDefectRateDelta;
  if (flags.maxUncertainRateDelta !== undefined) {
    rules.maxUncertainRateDelta = flags.maxUncertainRateDelta;
  }
  if (flags.maxDisagreement !== undefined) rules.maxDisagreement = flags.maxDisagreement;
  if (flags.maxLatencyRatio !== undefined) rules.maxLatencyRatio = flags.maxLatencyRatio;
  if (flags.promoteAfterFrames !== undefined) rules.promoteAfterFrames = flags.promoteAfterFrames;
  return {
    kind: flags.kind,
    stage: flags.stage,
    candidateVersion: flags.candidate,
    ...(cameras === undefined ? {} : { cameras }),
    ...(flags.share === undefined ? {} : { share: flags.share }),
    ...(Object.keys(rules).length === 0 ? {} : { rules }),
    ...(flags.reason === undefined ? {} : { reason: flags.reason }),
  };
}

function rolloutText(rollout: Rollout): string {
  const r = rollout.rules;
  const lines = [
    `rollout       ${rollout.id}`,
    `kind          ${rollout.kind} of ${rollout.stage}: ${rollout.candidateVersion} (baseline ${rollout.baselineVersion})`,
    `scope         ${scope(rollout)}`,
    `state         ${rollout.state}${rollout.endedAt === null ? '' : ` at ${date(rollout.endedAt)}`}`,
    `started       ${date(rollout.startedAt)} by ${rollout.createdBy ?? '-'}`,
    `rules         min ${r.minFrames} frames; defect rate +${r.maxDefectRateDelta}, uncertain rate ` +
      `+${r.maxUncertainRateDelta}, disagreement ${r.maxDisagreement}, latency ×${r.maxLatencyRatio}; ` +
      `promote after ${r.promoteAfterFrames ?? 'hand only'}`,
  ];
  if (rollout.reason !== null) lines.push(`reason        ${rollout.reason}`);
  if (rollout.endReason !== null) lines.push(`ended because ${rollout.endReason}`);
  return lines.join('\n');
}

function groupRow(name: string, group: Omit<RolloutGroupMetrics, 'cameras'>): string[] {
  return [
    name,
    String(group.frames),
    rate(group.defectRate),
    rate(group.uncertainRate),
    group.disagreement === null ? '-' : group.disagreement.toFixed(3),
    String(group.shadowFrames),
    group.inferenceMsP50 === null ? '-' : group.inferenceMsP50.toFixed(1),
  ];
}

function detailText(detail: RolloutDetail): string {
  const { metrics } = detail;
  const header = ['SIDE', 'FRAMES', 'DEFECT', 'UNCERTAIN', 'DISAGREE', 'SHADOWED', 'P50 MS'];
  const breaches = metrics.breaches.map(
    (b) => `  ${b.metric} ${b.value.toFixed(3)} > ${b.threshold}`,
  );
  return [
    rolloutText(detail.rollout),
    '',
    formatTable(header, [
      groupRow(`candidate (${metrics.candidate.cameras.join(',') || '-'})`, metrics.candidate),
      groupRow(`baseline (${metrics.baseline.cameras.join(',') || '-'})`, metrics.baseline),
    ]),
    '',
    formatTable(
      header,
      metrics.perCamera.map((camera) => groupRow(`${camera.camera} ${camera.role}`, camera)),
    ),
    '',
    `verdict       ${metrics.verdict}`,
    ...breaches,
  ].join('\n');
}

/** Registers `visionloop rollout …`. */
export function registerRolloutCommands(program: Command, deps: RolloutCommandDeps = {}): void {
  const print = answerPrinter(deps.stdout ?? process.stdout);
  const rollout = program
    .command('rollout')
    .description('Shadow and canary rollouts of a candidate model (docs/rollouts.md).');

  addConnectionOptions(
    rollout
      .command('start')
      .description('Start a shadow or canary rollout of a candidate version.')
      .requiredOption('--kind <kind>', 'canary or shadow')
      .option('--stage <stage>', 'detect, classify or segment', 'detect')
      .requiredOption('--candidate <version>', 'the candidate version')
      .option('--cameras <list>', 'comma-separated cameras (canary: the canary cameras)')
      .option(
        '--share <share>',
        'canary: share of the cameras; shadow: share of the frames (0..1)',
        parseNumberInRange(0.000001, 1),
      )
      .option('--min-frames <n>', 'canary frames before any verdict', parseIntegerInRange(1, 1e7))
      .option('--max-defect-rate-delta <x>', 'roll back above it', parseNumberInRange(0, 1))
      .option('--max-uncertain-rate-delta <x>', 'roll back above it', parseNumberInRange(0, 1))
      .option('--max-disagreement <x>', 'roll back above it', parseNumberInRange(0, 1))
      .option('--max-latency-ratio <x>', 'roll back above it', parseNumberInRange(1, 100))
      .option(
        '--promote-after-frames <n>',
        'promote after this many clean canary frames (default: by hand only)',
        parseIntegerInRange(1, 1e7),
      )
      .option('--reason <text>', 'why (kept in the rollout and the alias history)'),
  ).action(async (flags: StartFlags) => {
    const answer = await callServer(connect(flags, deps), 'POST', '/api/rollouts', rolloutSchema, {
      json: startRequestOf(flags),
    });
    print(flags, answer, () => `started\n${rolloutText(answer)}`);
  });

  addConnectionOptions(rollout.command('list').description('Rollouts, newest first.')).action(
    async (flags: ConnectionFlags) => {
      const answer = await callServer(
        connect(flags, deps),
        'GET',
        '/api/rollouts',
        rolloutListResponseSchema,
      );
      print(flags, answer, () =>
        answer.rollouts.length === 0
          ? 'no rollout has been started (visionloop rollout start --kind canary …)'
          : formatTable(
              ['ID', 'KIND', 'STAGE', 'CANDIDATE', 'BASELINE', 'SCOPE', 'STATE', 'STARTED'],
              answer.rollouts.map((r) => [
                r.id,
                r.kind,
                r.stage,
                r.candidateVersion,
                r.baselineVersion,
                scope(r),
                r.state,
                date(r.startedAt),
              ]),
            ),
      );
    },
  );

  addConnectionOptions(
    rollout
      .command('show')
      .description('One rollout with its live metrics, per camera, and its verdict.')
      .argument('<id>'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    const answer = await callServer(
      connect(flags, deps),
      'GET',
      `/api/rollouts/${encodeURIComponent(id)}`,
      rolloutDetailSchema,
    );
    print(flags, answer, () => detailText(answer));
  });

  for (const [action, description] of [
    ['promote', "Promote a running rollout's candidate for every camera."],
    ['rollback', 'Roll a running rollout back (canary cameras return to the baseline).'],
  ] as const) {
    addConnectionOptions(
      rollout
        .command(action)
        .description(description)
        .argument('<id>')
        .option('--reason <text>', 'why (kept in the rollout and the alias history)'),
    ).action(async (id: string, flags: ConnectionFlags & { reason?: string }) => {
      const answer = await callServer(
        connect(flags, deps),
        'POST',
        `/api/rollouts/${encodeURIComponent(id)}/${action}`,
        rolloutSchema,
        { json: flags.reason === undefined ? {} : { reason: flags.reason } },
      );
      print(flags, answer, () => rolloutText(answer));
    });
  }
}
