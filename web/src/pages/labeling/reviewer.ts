/**
 * How the labeling pages name a reviewer. Import-free, so it runs under Node in test/web.
 */

/**
 * A reviewer as people read it; the demo's simulated reviewer (`visionloop up`) is always
 * marked, so nobody takes its ground-truth labels for a person's.
 */
export function reviewerName(
  reviewer: { id: string; name: string | null; simulated?: boolean | undefined } | null,
): string {
  if (reviewer === null) return '—';
  const name = reviewer.name ?? reviewer.id;
  return reviewer.simulated === true ? `${name} (simulated)` : name;
}
