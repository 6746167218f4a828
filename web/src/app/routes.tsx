/**
 * The page table: one line per page. A page is a folder under web/src/pages with a module
 * whose DEFAULT export is the page component; it is loaded lazily (its code is fetched the
 * first time it is opened), so adding a page does not slow the first paint.
 *
 * Fields: `path` (with `:params`, passed to the page as `params`), `title` (nav text and
 * document title), `nav` (shown in the navigation), `scopes` (who sees it; default readers).
 * Paths are matched in order; put `/x/:id` after `/x`.
 */
import type { ComponentType, LazyExoticComponent } from 'react';
import { lazy } from 'react';
import type { Scope } from '../../../src/shared/api/common';
import { matchPath } from './router';

export interface PageProps {
  /** The `:params` of the matched path, decoded. */
  params: Record<string, string>;
}

export interface PageRoute {
  path: string;
  title: string;
  nav: boolean;
  scopes?: readonly Scope[];
  component: LazyExoticComponent<ComponentType<PageProps>>;
  /** Starts loading the page's code (main.tsx calls it for the first page, before React). */
  preload: () => Promise<unknown>;
}

type PageModule = Promise<{ default: ComponentType<PageProps> }>;

/** A lazily loaded page and the function that starts loading it (the same import). */
function page(load: () => PageModule): Pick<PageRoute, 'component' | 'preload'> {
  return { component: lazy(load), preload: load };
}

/** The route of `pathname` (first match), or undefined. */
export function routeOf(pathname: string): PageRoute | undefined {
  return ROUTES.find((route) => matchPath(route.path, pathname) !== null);
}

export const ROUTES: readonly PageRoute[] = [
  {
    path: '/',
    title: 'Overview',
    nav: true,
    ...page(() => import('../pages/overview/OverviewPage')),
  },
  {
    path: '/inspections',
    title: 'Inspections',
    nav: true,
    ...page(() => import('../pages/inspections/InspectionsPage')),
  },
  {
    path: '/inspections/:id',
    title: 'Inspection',
    nav: false,
    ...page(() => import('../pages/inspections/InspectionPage')),
  },
  {
    path: '/labeling',
    title: 'Labeling',
    nav: true,
    ...page(() => import('../pages/labeling/LabelingPage')),
  },
  {
    path: '/labeling/review',
    title: 'Review labels',
    nav: false,
    ...page(() => import('../pages/labeling/ReviewPage')),
  },
  {
    path: '/drift',
    title: 'Drift',
    nav: true,
    ...page(() => import('../pages/drift/DriftPage')),
  },
  {
    path: '/retraining',
    title: 'Retraining',
    nav: true,
    ...page(() => import('../pages/retraining/RetrainingPage')),
  },
  {
    path: '/models',
    title: 'Models',
    nav: true,
    ...page(() => import('../pages/models/ModelsPage')),
  },
  {
    path: '/models/:version',
    title: 'Model',
    nav: false,
    ...page(() => import('../pages/models/ModelsPage')),
  },
  {
    path: '/settings',
    title: 'Settings',
    nav: true,
    ...page(() => import('../pages/settings/SettingsPage')),
  },
];
