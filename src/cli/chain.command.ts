/**
 * `visionloop chain show|set|unset`: the inspection chains (docs/inspection-chain.md) through a
 * server's HTTP API — the default chain and the cameras' overrides.
 *
 * The server and token are found as for `visionloop models` (src/cli/server-connection.ts).
 * Reading needs a viewer token, `set` and `unset` an admin one. `set` checks the file against
 * the chain schema before sending it, so a mistake is named by its field without a round trip;
 * the server still checks the stage aliases against the registry.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  DEFAULT_RULE_ID,
  chainConfigSchema,
  inspectionChainsResponseSchema,
  type ChainConfig,
  type DecisionRule,
  type InspectionChainsResponse,
} from '../shared/api/inspection-chain.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  addConnectionOptions,
  callServer,
  connect,
  type ConnectionFlags,
  type ServerCommandDeps,
} from './server-connection.js';

export type ChainCommandDeps = ServerCommandDeps;

function describeRule(rule: DecisionRule): string {
  switch (rule.when) {
    case 'class':
      return `${rule.id}: FAIL when ${rule.classes.join(' or ')} is found at confidence ≥ ${rule.minConfidence}`;
    case 'any-defect':
      return `${rule.id}: FAIL when any defect is found at confidence ≥ ${rule.minConfidence}`;
    case 'area-mm2':
      return `${rule.id}: FAIL when the defect area exceeds ${rule.gt} mm²`;
    case 'area-px':
      return `${rule.id}: FAIL when the defect area exceeds ${rule.gt} px`;
    case 'severity':
      return `${rule.id}: FAIL when the severity is ≥ ${rule.gte}`;
  }
}

/** A chain as people read it: stages, veto, calibration, crops and rules, one per line. */
export function describeChain(chain: ChainConfig): string {
  const stages = [
    'detect',
    ...chain.stages.map(
      (stage) =>
        `${stage.stage} (${stage.alias}, padding ${stage.padding}, min confidence ${stage.minConfidence})`,
    ),
  ];
  const rules =
    chain.rules.length === 0
      ? [`${DEFAULT_RULE_ID}: FAIL when a detection reaches the camera's failThreshold`]
      : chain.rules.map(describeRule);
  return [
    `stages     ${stages.join(' → ')}`,
    `veto       ${chain.vetoClass ?? '-'}`,
    `mm/pixel   ${chain.mmPerPixel ?? 'uncalibrated'}`,
    `max crops  ${chain.maxCrops}`,
    `rules      ${rules.join('\n           ')}`,
  ].join('\n');
}

/** The chains as `chain show` prints them without --camera. */
export function describeChains(chains: InspectionChainsResponse): string {
  const cameras = Object.keys(chains.cameras).sort();
  const lines = ['default chain', describeChain(chains.default)];
  for (const camera of cameras) {
    const chain = chains.cameras[camera];
    if (chain !== undefined) lines.push('', `camera ${camera}`, describeChain(chain));
  }
  lines.push(
    '',
    cameras.length === 0
      ? 'every camera runs the default chain'
      : `${cameras.length === 1 ? '1 camera with a chain of its own' : `${cameras.length} cameras with chains of their own`}: ${cameras.join(', ')}`,
  );
  return lines.join('\n');
}

/** Reads and checks a chain file; INVALID_ARGUMENT naming the file and each bad field. */
export async function readChainFile(file: string): Promise<ChainConfig> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new VisionLoopError('INVALID_ARGUMENT', `cannot read ${file}`, { cause: error });
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = chainConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path === '' ? '(the chain)' : path}: ${issue.message}`;
  });
  throw new VisionLoopError('INVALID_ARGUMENT', `${file}: ${problems.join('; ')}`);
}

/** Registers `visionloop chain …`. */
export function registerChainCommands(program: Command, deps: ChainCommandDeps = {}): void {
  const out = deps.stdout ?? process.stdout;
  const chain = program
    .command('chain')
    .description(
      'Inspection chains: the stages after detect, their aliases and the decision rules.',
    );

  const put = (flags: ConnectionFlags, camera: string | null, config: ChainConfig | null) =>
    callServer(
      connect(flags, deps),
      'PUT',
      '/api/inspection-chain',
      inspectionChainsResponseSchema,
      {
        json: { camera, chain: config },
      },
    );

  addConnectionOptions(
    chain
      .command('show')
      .description('The default chain and the overrides, or the chain one camera runs.')
      .option('--camera <camera>', 'the chain this camera runs'),
  ).action(async (flags: ConnectionFlags & { camera?: string }) => {
    const chains = await callServer(
      connect(flags, deps),
      'GET',
      '/api/inspection-chain',
      inspectionChainsResponseSchema,
    );
    if (flags.camera === undefined) {
      out.write(
        flags.json === true
          ? `${JSON.stringify(chains, null, 2)}\n`
          : `${describeChains(chains)}\n`,
      );
      return;
    }
    const own = chains.cameras[flags.camera];
    const config = own ?? chains.default;
    out.write(
      flags.json === true
        ? `${JSON.stringify(config, null, 2)}\n`
        : `camera ${flags.camera} runs ${own === undefined ? 'the default chain' : 'its own chain'}\n${describeChain(config)}\n`,
    );
  });

  addConnectionOptions(
    chain
      .command('set')
      .description("Set the default chain, or a camera's with --camera, from a JSON file.")
      .requiredOption(
        '--file <path>',
        'the chain as JSON (what `chain show --camera C --json` prints)',
      )
      .option('--camera <camera>', 'set only this camera’s chain'),
  ).action(async (flags: ConnectionFlags & { file: string; camera?: string }) => {
    const config = await readChainFile(flags.file);
    const answer = await put(flags, flags.camera ?? null, config);
    const target = flags.camera === undefined ? 'the default chain' : `camera ${flags.camera}`;
    out.write(
      flags.json === true
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `set ${target}; agents follow within seconds\n${describeChain(config)}\n`,
    );
  });

  addConnectionOptions(
    chain
      .command('unset')
      .description("Remove a camera's own chain: it runs the default chain again.")
      .requiredOption('--camera <camera>', 'the camera'),
  ).action(async (flags: ConnectionFlags & { camera: string }) => {
    const answer = await put(flags, flags.camera, null);
    out.write(
      flags.json === true
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `camera ${flags.camera} runs the default chain again\n`,
    );
  });
}
