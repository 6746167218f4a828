/**
 * The dashboard's pages as data: path, title, who sees them, which module under web/src/pages
 * is the page, and which API answers its first render needs. No React and no page imports:
 * pages import `PageProps` from here (never routes.tsx, which imports the pages), and the build
 * (web/vite.config.ts) reads this table to write the first-load map into index.html
 * (docs/dashboard.md#speed). routes.tsx pairs every module named here with its lazy import.
 *
 * Paths are matched in order; put `/x/:id` after `/x`.
 */
import type { Scope } from '../../../src/shared/api/common.js';

export interface PageProps {
  /** The `:params` of the matched path, decoded. */
  params: Record<string, string>;
}

/** The page modules, relative to web/src/pages, without extension (routes.tsx loads each). */
export type PageModuleName =
  | 'overview/OverviewPage'
  | 'inspections/InspectionsPage'
  | 'inspections/InspectionPage'
  | 'labeling/LabelingPage'
  | 'labeling/ReviewPage'
  | 'drift/DriftPage'
  | 'retraining/RetrainingPage'
  | 'models/ModelsPage'
  | 'settings/SettingsPage';

export interface PagePath {
  /** With `:params` (passed to the page as `params`). */
  path: string;
  /** Nav text and document title. */
  title: string;
  /** Shown in the navigation. */
  nav: boolean;
  /** Who sees it; default readers (scopes.ts). */
  scopes?: readonly Scope[];
  module: PageModuleName;
  /**
   * GET URLs (path and query, exactly as the page's first `api.get` builds them) that
   * index.html's inline script sends for a signed-in first load of this page, before the
   * app's code runs; the page's first request of each URL takes the answer (lib/api.ts).
   */
  prefetch?: readonly string[];
}

/**
 * The overview's metrics window, seconds (OverviewPage asks for it; its first request is
 * prefetched, so both must use this constant).
 */
export const OVERVIEW_WINDOW_SECONDS = 60;

/**
 * The params of `pattern` (`/inspections/:id`) in `path`, or null when it does not match.
 * Params are decoded; a trailing slash is ignored. (router.tsx exports it; app/boot.ts matches
 * the same way before the app loads.)
 */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const split = (value: string) => value.replace(/\/+$/, '').split('/').filter(Boolean);
  const want = split(pattern);
  const have = split(path);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let index = 0; index < want.length; index += 1) {
    const segment = want[index] ?? '';
    const actual = have[index] ?? '';
    if (segment.startsWith(':')) {
      try {
        params[segment.slice(1)] = decodeURIComponent(actual);
      } catch {
        return null;
      }
    } else if (segment !== actual) {
      return null;
    }
  }
  return params;
}

export const PAGES: readonly PagePath[] = [
  {
    path: '/',
    title: 'Overview',
    nav: true,
    module: 'overview/OverviewPage',
    prefetch: [`/api/metrics?window=${OVERVIEW_WINDOW_SECONDS}`, '/api/agents'],
  },
  { path: '/inspections', title: 'Inspections', nav: true, module: 'inspections/InspectionsPage' },
  {
    path: '/inspections/:id',
    title: 'Inspection',
    nav: false,
    module: 'inspections/InspectionPage',
  },
  { path: '/labeling', title: 'Labeling', nav: true, module: 'labeling/LabelingPage' },
  { path: '/labeling/review', title: 'Review labels', nav: false, module: 'labeling/ReviewPage' },
  { path: '/drift', title: 'Drift', nav: true, module: 'drift/DriftPage' },
  { path: '/retraining', title: 'Retraining', nav: true, module: 'retraining/RetrainingPage' },
  { path: '/models', title: 'Models', nav: true, module: 'models/ModelsPage' },
  { path: '/models/:version', title: 'Model', nav: false, module: 'models/ModelsPage' },
  { path: '/settings', title: 'Settings', nav: true, module: 'settings/SettingsPage' },
];
