import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { JobView } from '../shared/api/jobs.js';
import type { RetrainingStatus } from '../shared/api/retraining.js';
import { VisionLoopError } from '../shared/errors.js';
import { eventsTable, formatRetrainingStatus, registerRetrainCommands } from './retrain.command.js';

const T = Date.UTC(2026, 0, 1, 12, 0, 0);

function job(overrides: Partial<JobView> = {}): JobView {
  return {
    id: 'job_1',
    name: 'training.run',
    status: 'running',
    priority: 0,
    dedupeKey: 'training.run',
    attempts: 1,
    maxAttempts: 2,
    runAt: T,
    leaseOwner: 'w',
    leaseExpiresAt: T + 30_000,
    cancelRequested: false,
    payload: { trigger: 'labels' },
    progress: null,
    result: null,
    error: null,
    createdAt: T,
    updatedAt: T,
    startedAt: T + 1000,
    finishedAt: null,
    ...overrides,
  };
}

function status(overrides: Partial<RetrainingStatus> = {}): RetrainingStatus {
  return {
    state: 'running',
    job: job(),
    trigger: 'labels',
    stage: 'training',
    epoch: 7,
    epochs: 20,
    loss: 3.912,
    valMap50: 0.41,
    etaSeconds: 312,
    candidateVersion: 'retrain-1',
    decision: null,
    gateReasons: null,
    replay: null,
    error: null,
    ...overrides,
  };
}

interface Sent {
  method: string;
  url: string;
  body: unknown;
  authorization: string | null;
}

function harness(answer: { status: number; body: unknown }) {
  const sent: Sent[] = [];
  let out = '';
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    sent.push({
      method: init?.method ?? 'GET',
      url: input instanceof Request ? input.url : input.toString(),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
      authorization: headers.get('authorization'),
    });
    return Promise.resolve(
      new Response(JSON.stringify(answer.body), {
        status: answer.status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }) as typeof fetch;
  const program = new Command().name('visionloop').exitOverride();
  registerRetrainCommands(program, {
    env: {},
    fetch: fetchImpl,
    stdout: { write: (text: string) => (out += text) },
  });
  const run = (...args: string[]) =>
    program.parseAsync(['retrain', ...args, '--server', 'http://h:1/', '--token', 't0k'], {
      from: 'user',
    });
  return { sent, run, output: () => out };
}

describe('visionloop retrain', () => {
  it('prints a running training with its epoch and ETA', async () => {
    const { sent, run, output } = harness({ status: 200, body: status() });
    await run('status');
    expect(sent).toEqual([
      {
        method: 'GET',
        url: 'http://h:1/api/retraining/status',
        body: undefined,
        authorization: 'Bearer t0k',
      },
    ]);
    expect(output()).toBe(
      [
        'retraining: running · job job_1 · trigger labels',
        'epoch 7/20, loss 3.9120, val mAP@0.5 0.4100, about 5 min left',
        'candidate retrain-1',
        'queued 2026-01-01T12:00:00Z, started 2026-01-01T12:00:01Z',
        '',
      ].join('\n'),
    );
  });

  it('says idle before the first training, and shows a finished decision', () => {
    expect(formatRetrainingStatus(status({ state: 'idle', job: null }))).toBe(
      'retraining: idle (no training has run yet)',
    );
    const done = formatRetrainingStatus(
      status({
        state: 'completed',
        stage: 'done',
        decision: 'staging',
        job: job({ status: 'succeeded', finishedAt: T + 60_000 }),
      }),
    );
    expect(done).toContain('candidate retrain-1 → staging');
    expect(done).toContain('finished 2026-01-01T12:01:00Z');
  });

  it('shows a rejection as a rejection, with the gate reasons in full and the replay', () => {
    const reasons = [
      'recent holdout mAP@0.5: candidate 0.8436 (20 images) vs production seed-v1 0.0000 (20 images): +84.36 pts (better)',
      'nominal holdout mAP@0.5: candidate 0.0016 (100 images) vs production 0.8928 (100 images): loses 89.12 pts (at most 2.00 pts may be lost: too much)',
      'rejected: production stays as it is',
    ];
    const text = formatRetrainingStatus(
      status({
        state: 'rejected',
        stage: 'rejected',
        decision: 'rejected',
        gateReasons: reasons,
        replay: 'no replay: production m1 was uploaded without a dataset snapshot',
        job: job({ status: 'succeeded', finishedAt: T + 60_000 }),
      }),
    );
    expect(text.split('\n')[0]).toBe('retraining: rejected · job job_1 · trigger labels');
    expect(text).toContain(
      'candidate retrain-1 → rejected by the promotion gate (production unchanged; its labels stay available)',
    );
    for (const reason of reasons) expect(text).toContain(`  - ${reason}`);
    expect(text).toContain(
      'replay: no replay: production m1 was uploaded without a dataset snapshot',
    );
  });

  it('shows the device a running training reports, and the device of a registered candidate', () => {
    const running = formatRetrainingStatus(status({ device: 'cuda:0 (NVIDIA A100-SXM4-40GB)' }));
    expect(running.split('\n').slice(1, 3)).toEqual([
      'epoch 7/20, loss 3.9120, val mAP@0.5 0.4100, about 5 min left',
      'training on cuda:0 (NVIDIA A100-SXM4-40GB)',
    ]);
    expect(formatRetrainingStatus(status({ device: null }))).not.toContain('training on');

    const registered = (details: Record<string, unknown>, id: string) => ({
      id,
      jobId: 'job_1',
      kind: 'registered',
      trigger: 'manual' as const,
      reason: null,
      modelVersion: 'retrain-1',
      details,
      actor: 'retraining',
      at: T,
    });
    const lines = eventsTable([
      registered({ device: 'cuda:1', deviceName: 'NVIDIA L4' }, 'rte_2'),
      registered({ device: 'cpu', deviceName: null }, 'rte_1'),
      registered({ device: null, deviceName: null }, 'rte_0'),
    ]).split('\n');
    expect(lines.filter((line) => line.startsWith('    '))).toEqual([
      '    trained on cuda:1 (NVIDIA L4)',
      '    trained on cpu',
    ]);
    expect(lines[3]).toBe('    trained on cuda:1 (NVIDIA L4)');
  });

  it('prints the history with every reason in full', () => {
    const long = `nominal holdout mAP@0.5: candidate 0.0016 (100 images) vs production 0.8928 (100 images): ${'x'.repeat(150)} end`;
    const text = eventsTable([
      {
        id: 'rte_1',
        jobId: 'job_1',
        kind: 'rejected',
        trigger: 'drift',
        reason: `first part; ${long}`,
        modelVersion: 'retrain-1',
        details: {},
        actor: 'retraining',
        at: T,
      },
    ]);
    expect(text).toContain('rejected');
    expect(text).toContain('    first part');
    expect(text).toContain(`    ${long}`);
  });

  it('sends the trigger reason and surfaces a 409 as the catalogue error', async () => {
    const { sent, run } = harness({
      status: 409,
      body: {
        error: {
          code: 'RETRAINING_IN_PROGRESS',
          message: 'a training is already running (job job_1)',
        },
      },
    });
    const failure = await run('trigger', '--reason', 'night labels').catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(VisionLoopError);
    expect(failure).toMatchObject({ code: 'RETRAINING_IN_PROGRESS', httpStatus: 409 });
    expect(sent[0]).toMatchObject({
      method: 'POST',
      url: 'http://h:1/api/retraining/trigger',
      body: { reason: 'night labels' },
    });
  });

  it('queues a stage training with --stage and refuses an unknown stage', async () => {
    const queued = job({
      status: 'queued',
      startedAt: null,
      leaseOwner: null,
      leaseExpiresAt: null,
    });
    const { sent, run, output } = harness({
      status: 202,
      body: {
        job: { ...queued, payload: { trigger: 'manual', stage: 'classify' } },
        decision: {
          shouldRun: true,
          trigger: 'manual',
          reasons: ['24 reviewed boxes can train the classify stage'],
          conditions: [],
          cooldownUntil: null,
        },
      },
    });
    await run('trigger', '--stage', 'classify', '--reason', 'severity labels');
    expect(sent[0]).toMatchObject({
      method: 'POST',
      url: 'http://h:1/api/retraining/trigger',
      body: { reason: 'severity labels', stage: 'classify' },
    });
    expect(output()).toBe(
      'queued classify stage training job job_1; follow it with `visionloop retrain status`\n',
    );
    expect(
      formatRetrainingStatus(
        status({
          state: 'completed',
          decision: 'registered',
          job: job({ status: 'succeeded', payload: { trigger: 'manual', stage: 'classify' } }),
        }),
      ).split('\n')[0],
    ).toBe('retraining: completed · job job_1 · trigger labels · classify stage');
    const failure = await run('trigger', '--stage', 'track').catch((error: unknown) => error);
    expect(String(failure)).toMatch(/argument 'track' is invalid.*detect, classify, segment/);
    expect(sent).toHaveLength(1);
  });

  it('cancels a named job', async () => {
    const { sent, run, output } = harness({
      status: 200,
      body: { job: job({ cancelRequested: true }) },
    });
    await run('cancel', '--job', 'job_1');
    expect(sent[0]).toMatchObject({ method: 'POST', body: { jobId: 'job_1' } });
    expect(output()).toBe('asked training job job_1 to stop; its trainer is being cancelled\n');
  });
});
