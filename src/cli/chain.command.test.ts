import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChainConfig, InspectionChainsResponse } from '../shared/api/inspection-chain.js';
import { DEFAULT_CHAIN } from '../shared/api/inspection-chain.js';
import { describeChain, registerChainCommands } from './chain.command.js';

const SEGMENT_CHAIN: ChainConfig = {
  stages: [
    { stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.3 },
    { stage: 'segment', alias: 'segment-production', padding: 0, minConfidence: 0.25 },
  ],
  vetoClass: null,
  mmPerPixel: 0.2,
  maxCrops: 16,
  rules: [
    { id: 'big', when: 'area-mm2', gt: 25 },
    { id: 'severe', when: 'severity', gte: 2 },
    { id: 'any', when: 'any-defect', minConfidence: 0.9 },
  ],
};

interface Sent {
  method: string;
  url: string;
  body: unknown;
}

function harness(answer: { status: number; body: unknown }) {
  const sent: Sent[] = [];
  let out = '';
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    sent.push({
      method: init?.method ?? 'GET',
      url: input instanceof Request ? input.url : input.toString(),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    });
    return Promise.resolve(
      new Response(JSON.stringify(answer.body), {
        status: answer.status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }) as typeof fetch;
  const program = new Command().name('visionloop').exitOverride();
  registerChainCommands(program, {
    env: { VISIONLOOP_SERVER_URL: 'http://127.0.0.1:9', VISIONLOOP_TOKEN: 'vl_test' },
    stdout: { write: (text: string) => (out += text) },
    fetch: fetchImpl,
  });
  return {
    sent,
    output: () => out,
    run: (args: string[]) => program.parseAsync(['node', 'visionloop', 'chain', ...args]),
  };
}

const CHAINS: InspectionChainsResponse = {
  default: DEFAULT_CHAIN,
  cameras: { 'line-2': SEGMENT_CHAIN },
  updatedAt: 1_767_225_600_000,
};

describe('visionloop chain', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-chain-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('describes every rule kind and the calibration', () => {
    expect(describeChain(SEGMENT_CHAIN)).toBe(
      [
        'stages     detect → classify (classify-production, padding 0.1, min confidence 0.3) → segment (segment-production, padding 0, min confidence 0.25)',
        'veto       -',
        'mm/pixel   0.2',
        'max crops  16',
        'rules      big: FAIL when the defect area exceeds 25 mm²',
        '           severe: FAIL when the severity is ≥ 2',
        '           any: FAIL when any defect is found at confidence ≥ 0.9',
      ].join('\n'),
    );
  });

  it("shows the chain a camera runs: its own, or the default's", async () => {
    const own = harness({ status: 200, body: CHAINS });
    await own.run(['show', '--camera', 'line-2']);
    expect(own.sent).toEqual([
      { method: 'GET', url: 'http://127.0.0.1:9/api/inspection-chain', body: undefined },
    ]);
    expect(own.output()).toMatch(/^camera line-2 runs its own chain\nstages {5}detect → classify/);
    const other = harness({ status: 200, body: CHAINS });
    await other.run(['show', '--camera', 'line-9', '--json']);
    expect(JSON.parse(other.output())).toEqual(DEFAULT_CHAIN);
  });

  it('sends a checked file as the default chain or one camera’s', async () => {
    const file = join(dir, 'chain.json');
    writeFileSync(file, JSON.stringify(SEGMENT_CHAIN));
    const set = harness({ status: 200, body: { ...CHAINS, default: SEGMENT_CHAIN } });
    await set.run(['set', '--file', file]);
    expect(set.sent).toEqual([
      {
        method: 'PUT',
        url: 'http://127.0.0.1:9/api/inspection-chain',
        body: { camera: null, chain: SEGMENT_CHAIN },
      },
    ]);
    expect(set.output()).toMatch(/^set the default chain; agents follow within seconds\n/);
    const unset = harness({ status: 200, body: { ...CHAINS, cameras: {} } });
    await unset.run(['unset', '--camera', 'line-2']);
    expect(unset.sent[0]?.body).toEqual({ camera: 'line-2', chain: null });
    expect(unset.output()).toBe('camera line-2 runs the default chain again\n');
  });

  it('names the file and the field of a bad chain, sending nothing', async () => {
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"stages": [');
    const first = harness({ status: 200, body: CHAINS });
    await expect(first.run(['set', '--file', broken])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(first.run(['set', '--file', broken])).rejects.toThrow(`${broken} is not JSON: `);
    const uncalibrated = join(dir, 'uncalibrated.json');
    writeFileSync(uncalibrated, JSON.stringify({ ...SEGMENT_CHAIN, mmPerPixel: null }));
    await expect(first.run(['set', '--file', uncalibrated])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `${uncalibrated}: rules.0.when: 'area-mm2' needs the camera's mmPerPixel calibration`,
    });
    await expect(first.run(['set', '--file', join(dir, 'missing.json')])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `cannot read ${join(dir, 'missing.json')}`,
    });
    expect(first.sent).toEqual([]);
  });

  it("passes the server's refusal on with its code", async () => {
    const file = join(dir, 'chain.json');
    writeFileSync(file, JSON.stringify(SEGMENT_CHAIN));
    const refused = harness({
      status: 422,
      body: {
        error: {
          code: 'MODEL_TASK_MISMATCH',
          message: "chain.stages.1.alias: alias 'segment-production' points at v1, a detect model",
        },
      },
    });
    await expect(refused.run(['set', '--file', file, '--camera', 'line-1'])).rejects.toMatchObject({
      code: 'MODEL_TASK_MISMATCH',
      message: "chain.stages.1.alias: alias 'segment-production' points at v1, a detect model",
    });
  });
});
