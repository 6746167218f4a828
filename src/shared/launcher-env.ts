/**
 * The environment bin/visionloop adds before node starts (bin/malloc-env.sh): glibc malloc
 * settings that keep a server's RSS flat across model swaps. They suit node and ONNX Runtime
 * but not PyTorch: with the fixed mmap threshold every large tensor is mmap'd and unmapped
 * again, and a training step costs about twice the CPU time (docs/architecture.md, "Memory
 * across swaps"). Processes that run PyTorch are started without what the launcher added; a
 * value the user set themselves is theirs and stays.
 */

/** Names the variables bin/visionloop set itself, space-separated. */
export const LAUNCHER_ADDED_ENV = 'VISIONLOOP_MALLOC_ADDED';

/** A copy of `env` without the variables bin/visionloop added (and without its list of them). */
export function withoutLauncherMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of (env[LAUNCHER_ADDED_ENV] ?? '').split(' ')) {
    if (name.startsWith('MALLOC_')) delete copy[name];
  }
  delete copy[LAUNCHER_ADDED_ENV];
  return copy;
}
