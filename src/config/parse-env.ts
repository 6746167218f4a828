/**
 * Parses environment variables against a schema once, lists every problem at once, and
 * returns a frozen object. Empty values count as unset. The config modules are the only readers of process.env.
 */
import { z } from 'zod';
import { VisionLoopError } from '../shared/errors.js';

export function parseEnv<Schema extends z.ZodType>(
  schema: Schema,
  env: Record<string, string | undefined>,
): Readonly<z.output<Schema>> {
  // An empty variable (`VISIONLOOP_MODEL=`) means "not set", as in shells and compose files.
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(set);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new VisionLoopError('CONFIG_INVALID', `invalid configuration:\n${problems.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

/** A boolean from an environment string: 1/true/yes/on or 0/false/no/off. */
export const envBoolean = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', 'TRUE', 'FALSE'])
  .transform((value) => ['1', 'true', 'yes', 'on', 'TRUE'].includes(value));
