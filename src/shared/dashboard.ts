/**
 * The dashboard's page paths, shared by the server (which answers them with the app's
 * index.html) and the dashboard's page table (web/src/app/paths.ts; a test holds the two
 * together). Any other path outside the API is a 404, not the app: `/etc/passwd` or a
 * mistyped API path must not come back as a 200 HTML page. Browser-safe, no imports.
 */

/** First path segments of the dashboard's pages (`/` is the overview). */
export const DASHBOARD_PAGE_ROOTS = [
  'inspections',
  'labeling',
  'drift',
  'retraining',
  'models',
  'settings',
] as const;

/** Whether `path` (decoded, without the query) is one of the dashboard's pages. */
export function isDashboardPagePath(path: string): boolean {
  const first = path.replace(/^\/+/, '').split('/')[0] ?? '';
  return first === '' || (DASHBOARD_PAGE_ROOTS as readonly string[]).includes(first);
}
