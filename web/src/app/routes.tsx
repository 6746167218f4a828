/**
 * The page table: paths.ts's pages (path, title, nav, scopes) paired with their code. A page is
 * a folder under web/src/pages with a module whose DEFAULT export is the page component; it is
 * loaded lazily (its code is fetched the first time it is opened), so adding a page does not
 * slow the first paint. To add one: a line in paths.ts (PAGES and PageModuleName) and its
 * import in PAGE_LOADERS below (the type makes both agree).
 *
 * Pages never import this module (it imports them): their props type is paths.ts's PageProps.
 */
import type { ComponentType } from 'react';
import { lazy, useState } from 'react';
import type { PageModuleName, PagePath, PageProps } from './paths';
import { PAGES, matchPath } from './paths';

export type { PageProps } from './paths';

export interface PageRoute extends Omit<PagePath, 'module' | 'prefetch'> {
  component: ComponentType<PageProps>;
  /** Starts loading the page's code (main.tsx calls it for the first page, before React). */
  preload: () => Promise<unknown>;
}

type PageModule = Promise<{ default: ComponentType<PageProps> }>;

/** Each page module's lazy import (literal specifiers, so the bundler splits one chunk each). */
const PAGE_LOADERS: Record<PageModuleName, () => PageModule> = {
  'overview/OverviewPage': () => import('../pages/overview/OverviewPage'),
  'inspections/InspectionsPage': () => import('../pages/inspections/InspectionsPage'),
  'inspections/InspectionPage': () => import('../pages/inspections/InspectionPage'),
  'labeling/LabelingPage': () => import('../pages/labeling/LabelingPage'),
  'labeling/ReviewPage': () => import('../pages/labeling/ReviewPage'),
  'drift/DriftPage': () => import('../pages/drift/DriftPage'),
  'retraining/RetrainingPage': () => import('../pages/retraining/RetrainingPage'),
  'models/ModelsPage': () => import('../pages/models/ModelsPage'),
  'settings/SettingsPage': () => import('../pages/settings/SettingsPage'),
};

/**
 * A page's component and its preload, sharing one import. When the code has already arrived
 * (main.tsx preloads the first page while React starts and the session is checked), the page
 * renders at once; only otherwise does it go through React.lazy and <Suspense>. A suspended
 * first render costs more than the wait: React shows the fallback and then holds the page
 * back for up to 300 ms after it (its Suspense reveal throttle), measured as an idle gap of
 * ~200 ms before the overview's first numbers (docs/dashboard.md#speed).
 */
function lazyPage(load: () => PageModule): Pick<PageRoute, 'component' | 'preload'> {
  let loaded: ComponentType<PageProps> | null = null;
  let pending: PageModule | null = null;
  const preload = () => {
    pending ??= load().then((module) => {
      loaded = module.default;
      return module;
    });
    return pending;
  };
  const Lazy = lazy(preload);
  function Page(props: PageProps) {
    // Chosen once per mount: switching between the two would remount the page.
    const [Direct] = useState(() => loaded);
    return Direct === null ? <Lazy {...props} /> : <Direct {...props} />;
  }
  return { component: Page, preload };
}

export const ROUTES: readonly PageRoute[] = PAGES.map(
  ({ module, prefetch: _prefetch, ...route }) => ({
    ...route,
    // One component per route, as before: /models → /models/:version remounts the page.
    ...lazyPage(PAGE_LOADERS[module]),
  }),
);

/** The route of `pathname` (first match), or undefined. */
export function routeOf(pathname: string): PageRoute | undefined {
  return ROUTES.find((route) => matchPath(route.path, pathname) !== null);
}
