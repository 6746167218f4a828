/**
 * Who may do what, as the dashboard shows it (the server enforces the same rules in
 * src/http/route-access.ts; hiding a button is a courtesy, the API refusal is the rule).
 */
import type { Scope } from '../../../src/shared/api/common';

/** Reading anything. */
export const READERS: readonly Scope[] = ['viewer', 'labeler', 'admin'];
/** Working the labeling queue. */
export const LABELERS: readonly Scope[] = ['labeler', 'admin'];
/** Changing the system (promote, retrain, settings, tokens). */
export const ADMINS: readonly Scope[] = ['admin'];

export function allows(scope: Scope | null | undefined, allowed: readonly Scope[]): boolean {
  return scope !== null && scope !== undefined && allowed.includes(scope);
}
