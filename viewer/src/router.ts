import { useEffect, useState } from 'react';

/** A tiny history router: the server answers every non-API path with index.html. */
export type Route =
  | { name: 'runs' }
  | { name: 'run'; id: string; step?: number; log?: string }
  | { name: 'settings' }
  | { name: 'missing'; path: string };

export function parse(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 0) return { name: 'runs' };
  if (parts[0] === 'settings' && parts.length === 1) return { name: 'settings' };
  if (parts[0] === 'runs' && parts[1]) {
    if (parts.length === 2) return { name: 'run', id: parts[1] };
    if (parts[2] === 'steps' && parts.length === 4 && /^\d{1,6}$/.test(parts[3]!)) return { name: 'run', id: parts[1], step: Number(parts[3]) };
    if (parts[2] === 'logs' && parts.length === 4) return { name: 'run', id: parts[1], log: parts[3] };
  }
  if (parts[0] === 'runs' && parts.length === 1) return { name: 'runs' };
  return { name: 'missing', path: pathname };
}

const listeners = new Set<() => void>();

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search + location.hash) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
}

export function useLocation(): { pathname: string; search: string; hash: string } {
  const [, force] = useState(0);
  useEffect(() => {
    const on = () => force((n) => n + 1);
    listeners.add(on);
    window.addEventListener('popstate', on);
    window.addEventListener('hashchange', on);
    return () => {
      listeners.delete(on);
      window.removeEventListener('popstate', on);
      window.removeEventListener('hashchange', on);
    };
  }, []);
  return { pathname: location.pathname, search: location.search, hash: location.hash };
}

export const runUrl = (id: string, step?: number): string =>
  `/runs/${encodeURIComponent(id)}${step === undefined ? '' : `/steps/${step}`}`;
export const logUrl = (id: string, name: string, line?: number): string =>
  `/runs/${encodeURIComponent(id)}/logs/${encodeURIComponent(name)}${line ? `#L${line}` : ''}`;

/** Left clicks on in-app links go through navigate; modified clicks open new tabs as usual. */
export function onLink(e: React.MouseEvent<HTMLAnchorElement>): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = e.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  e.preventDefault();
  navigate(href);
}
