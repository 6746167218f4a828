/**
 * A small history router (the server answers every dashboard path with index.html):
 * `useLocation()`, `navigate(to)`, `<Link to>`, `matchPath('/models/:version', path)`, and
 * `useSearchParams()` for filters kept in the URL. The page table is routes.tsx.
 */
import type { AnchorHTMLAttributes, MouseEvent, ReactNode } from 'react';
import { useCallback, useSyncExternalStore } from 'react';

const NAVIGATE_EVENT = 'visionloop:navigate';

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  window.addEventListener(NAVIGATE_EVENT, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(NAVIGATE_EVENT, listener);
  };
}

const currentPath = (): string => window.location.pathname;
const currentSearch = (): string => window.location.search;

export interface Location {
  pathname: string;
  /** `?a=1` or ''. */
  search: string;
}

export function useLocation(): Location {
  const pathname = useSyncExternalStore(subscribe, currentPath);
  const search = useSyncExternalStore(subscribe, currentSearch);
  return { pathname, search };
}

/** Go to `to` (a path with an optional `?query`); `replace` keeps the history entry. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === `${window.location.pathname}${window.location.search}`) return;
  if (options.replace === true) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** Path matching lives with the page table's data (paths.ts), used before the app loads too. */
export { matchPath } from './paths';

export interface LinkProps extends Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> {
  to: string;
  children: ReactNode;
}

/** An <a> that navigates without reloading (modifier-clicks still open a new tab). */
export function Link({ to, onClick, children, ...rest }: LinkProps) {
  const handleClick = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handleClick} {...rest}>
      {children}
    </a>
  );
}

/**
 * The URL's query as URLSearchParams, and a setter that replaces the given keys (null or ''
 * removes one) without adding a history entry.
 */
export function useSearchParams(): [
  URLSearchParams,
  (changes: Record<string, string | number | null | undefined>) => void,
] {
  const { search } = useLocation();
  const setParams = useCallback((changes: Record<string, string | number | null | undefined>) => {
    const next = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === undefined || value === '') next.delete(key);
      else next.set(key, String(value));
    }
    const query = next.toString();
    navigate(`${window.location.pathname}${query === '' ? '' : `?${query}`}`, { replace: true });
  }, []);
  return [new URLSearchParams(search), setParams];
}
