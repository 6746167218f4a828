/**
 * The message of a 400 VALIDATION_FAILED: `body.results.0.id: message; …`, at most five
 * problems, then how many more there were. One wording for the route validators (app.ts) and
 * the ingest body decoder (json-decode-pool.ts).
 */

/** One schema violation: the dotted path into the part ('' = the part itself) and why. */
export interface ValidationIssue {
  path: string;
  message: string;
}

export function describeIssues(
  context: string,
  issues: readonly ValidationIssue[],
  total = issues.length,
): string {
  const shown = issues.slice(0, 5).map((issue) => {
    return `${context}${issue.path === '' ? '' : `.${issue.path}`}: ${issue.message}`;
  });
  const more = total > shown.length ? ` (and ${total - shown.length} more)` : '';
  return `${shown.join('; ')}${more}`;
}
