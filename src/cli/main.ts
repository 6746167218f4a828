/**
 * The `visionloop` command. Each command area lives in its own `*.command.ts` file and
 * registers itself on the program; this file wires them and turns errors into exit codes:
 * 0 success, 1 a failure the message names, 2 bad usage, 130 interrupted, or the code a
 * command chose (CommandExit, e.g. 3 for `drift compare --fail-on-drift`).
 */
import { Command, CommanderError } from 'commander';
import { loadRuntimeConfig } from '../config/runtime.config.js';
import { createEvaluation } from '../main/evaluation.main.js';
import { registerAgentCommands } from './agent.command.js';
import { registerChainCommands } from './chain.command.js';
import { registerDatasetCommands } from './dataset.command.js';
import { registerDbCommands } from './db.command.js';
import { registerDetectCommands } from './detect.command.js';
import { registerDriftCommands } from './drift.command.js';
import { registerEvalCommands } from './eval.command.js';
import { registerServerCommands } from './server.command.js';
import { registerSynthCommands } from './synth.command.js';
import { registerTokenCommands } from './token.command.js';
import { registerTrainCommands } from './train.command.js';
import { registerModelsCommands } from './models.command.js';
import { registerLabelCommands } from './label.command.js';
import { registerRetrainCommands } from './retrain.command.js';
import { registerRolloutCommands } from './rollout.command.js';
import { CommandExit, formatError } from './output.js';
import { registerUpCommands } from './up.command.js';
import { registerWorkerCommands } from './worker.command.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('visionloop')
    .description('Self-correcting real-time object detection for visual inspection.')
    .version('0.1.0', '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerUpCommands(program);
  registerServerCommands(program);
  registerAgentCommands(program);
  registerWorkerCommands(program);
  registerDetectCommands(program);
  registerEvalCommands(program, createEvaluation(loadRuntimeConfig()));
  registerSynthCommands(program);
  registerTrainCommands(program);
  registerModelsCommands(program);
  registerChainCommands(program);
  registerRolloutCommands(program);
  registerRetrainCommands(program);
  registerLabelCommands(program);
  registerDatasetCommands(program);
  registerDriftCommands(program);
  registerTokenCommands(program);
  registerDbCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    // Inside the try: building reads the configuration, whose errors print like any other.
    const program = buildProgram();
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommandExit) {
      process.stderr.write(`${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CommanderError) {
      // Commander already printed help or the usage problem.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${formatError(error)}\n`);
    return 1;
  }
}
